"""benchmarks/bench_actions.py's table cells: finished, unfinished and train+val rows (the latter have no val)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("bench_actions")


def test_finished_row_cell(bench):
    r = {"test_acc": 0.8, "test_std": 0.01, "val_acc": None, "val_std": None, "per_seed": [0.79, 0.81]}
    assert bench.fmt_acc(r) == "80.0 ± 1.0 (2)"
    assert bench.fmt_acc(r, "val") == "-"
    assert bench.fmt_acc(None) == "-" and bench.fmt_acc({"error": "x"}) == "failed"


def test_unfinished_train_on_val_row_has_test_but_no_val(bench):
    r = {"partial_runs": [{"test_acc": 0.815, "val_acc": None}, {"test_acc": 0.805, "val_acc": None}]}
    assert bench.fmt_acc(r) == "81.0 ± 0.5 (2, unfinished)"
    assert bench.fmt_acc(r, "val") == "-"
    held_out = {"partial_runs": [{"test_acc": 0.7, "val_acc": 0.9}]}
    assert bench.fmt_acc(held_out, "val") == "90.0 ± 0.0 (1, unfinished)"


def test_interrupted_baseline_row_keeps_its_finished_seeds(bench, monkeypatch):
    """--resume trains only the seeds an interrupted row lacks, and saves each new one as it finishes."""
    from argparse import Namespace
    from types import SimpleNamespace

    from posenas.platform.classification import train as train_mod
    from posenas.platform.classification.train import ClassifierTrainConfig

    trained = []

    def fake_train(model, train, val, tc, progress=False):
        trained.append(tc.seed)
        return SimpleNamespace(best_val_acc=None, seconds=10.0)

    monkeypatch.setattr(train_mod, "train_classifier", fake_train)
    monkeypatch.setattr(train_mod, "evaluate_classifier", lambda model, test: {"accuracy": 0.5 + 0.1 * trained[-1]})
    saved = []
    done = [{"seed": 0, "test_acc": 0.9, "val_acc": None, "seconds": 7.0}]
    r = bench._train_seeds(lambda: None, [0] * 4, None, [0] * 2, Namespace(seeds=3), ClassifierTrainConfig(),
                           done=done, on_seed=saved.append)
    assert trained == [1, 2]
    assert [len(s) for s in saved] == [2, 3] and saved[0][1]["test_acc"] == pytest.approx(0.6)
    assert r["per_seed"] == pytest.approx([0.9, 0.6, 0.7]) and r["seconds"] == 27.0
    assert bench.fmt_acc({"partial_runs": saved[0]}) == "75.0 ± 15.0 (2, unfinished)"


def test_lifting_section_reports_mean_and_std_over_seeds(bench):
    from argparse import Namespace

    from posenas.platform.classification.train import ClassifierTrainConfig

    args = Namespace(threads=1, epochs=30, augment=4, size=32, space="native", seeds=3, search_runs=3, data_seed=0,
                     search_epochs=8, train_on_val=False)
    seeds = {"test_acc": 0.6, "test_std": 0.02, "val_acc": 0.7, "val_std": 0.01, "per_seed": [0.58, 0.6, 0.62]}
    text = bench.render({}, ({"lifted": seeds}, {"sequences": 557, "lift_seconds": 12.0, "faults": 0}), args,
                        ClassifierTrainConfig(), 60.0)
    assert "| lifted | 60.0 ± 2.0 (3) | 70.0 ± 1.0 (3) |" in text
    failed = bench.render({}, ({}, {"error": "PosenasError: no lifter"}), args, ClassifierTrainConfig(), 60.0)
    assert "Failed: `PosenasError: no lifter`" in failed


def test_interrupted_lifting_study_keeps_its_finished_seeds(bench, monkeypatch, tmp_path):
    """The lifted-vs-Kinect study saves every seed like the rows: --resume trains only what it lacks, and a
    finished study is not run again."""
    import json
    from types import SimpleNamespace

    import numpy as np

    import posenas.datasets.msr_action3d as msr
    import posenas.platform.lifting.inference as inference

    rng = np.random.default_rng(0)
    pairs = [SimpleNamespace(uv=rng.random((6, 20, 2)), valid=np.ones((6, 20), bool), xyz=rng.random((6, 20, 3)),
                             seq_id=f"a{a:02d}_s{s:02d}_e01", subject=s, action=a) for s in (1, 2) for a in (0, 1)]
    monkeypatch.setattr(msr, "load_msr_pairs", lambda root, subset: (pairs, []))
    monkeypatch.setattr(inference, "load_lifter", lambda: SimpleNamespace(lift=lambda uv, conf, w, h: rng.random(
        (len(uv), 17, 3))))
    monkeypatch.setattr(bench, "load_benchmark_datasets", lambda *a: [])
    calls = []

    def fake_rows(ds, protocol, enc, args, tc, cache_dir, done=(), on_seed=None):
        calls.append((ds.name, enc.encoding, list(done)))
        runs = list(done)
        for seed in range(len(runs), 2):
            if ds.name.endswith("lifted") and seed == 1 and len(calls) == 2:
                raise KeyboardInterrupt  # the process stopped mid-study (a session's end)
            runs.append({"seed": seed, "test_acc": 0.5 + seed / 10, "val_acc": 0.6, "seconds": 1.0})
            on_seed(list(runs))
        return {"test_acc": 0.55, "test_std": 0.05, "val_acc": 0.6, "val_std": 0.0, "per_seed": [0.5, 0.6]}

    monkeypatch.setattr(bench, "run_image_model", fake_rows)
    out = ["--protocols", "", "--no-utkinect", "--no-search", "--no-baselines", "--seeds", "2", "--resume",
           "--json", str(tmp_path / "r.json"), "--out", str(tmp_path / "r.md")]
    with pytest.raises(KeyboardInterrupt):
        bench.main(out)
    rows, info = json.loads((tmp_path / "r.json").read_text())["lifting"]
    assert info["partial"] and "Kinect" in next(iter(rows)) and "per_seed" in next(iter(rows.values()))
    assert [len(r["partial_runs"]) for r in list(rows.values())[1:]] == [1]
    bench.main(out)  # resumed: the Kinect row is kept, the lifted row trains its second seed only
    assert [(name.split("_")[-1], enc, len(done)) for name, enc, done in calls] == [
        ("kinect", "joints", 0), ("lifted", "joints", 0), ("lifted", "joints", 1)]
    saved = json.loads((tmp_path / "r.json").read_text())
    assert "partial" not in saved and "partial" not in saved["lifting"][1]
    assert all("per_seed" in r for r in saved["lifting"][0].values())
    assert "DenseNet on joints+isotropic+tree+motion images" in (tmp_path / "r.md").read_text()
    bench.main(out)  # finished: not run again
    assert len(calls) == 3

    def failing(ds, *a, **k):  # a study that fails after its seeds were saved keeps them, and resumes from them
        calls.append(ds.name)
        raise RuntimeError("disk full")

    saved["lifting"][0][next(iter(saved["lifting"][0]))] = {"partial_runs": [{"test_acc": 0.5, "val_acc": 0.6}]}
    saved["lifting"][1]["partial"] = True
    (tmp_path / "r.json").write_text(json.dumps(saved))
    monkeypatch.setattr(bench, "run_image_model", failing)
    bench.main(out)
    rows, info = json.loads((tmp_path / "r.json").read_text())["lifting"]
    assert info == {"error": "RuntimeError: disk full"} and len(rows) == 2
    assert list(rows.values())[0]["partial_runs"][0]["test_acc"] == 0.5


def test_final_training_on_train_val_is_the_default_as_in_posenas_train(bench):
    """The benchmark's default rows are what `posenas train` / `search_and_train` do by default."""
    import inspect

    from posenas.cli.train import train
    from posenas.search.api import search_and_train

    assert bench.parser().parse_args([]).train_on_val is True
    assert bench.parser().parse_args(["--train-on-val"]).train_on_val is True  # the committed runs' commands
    assert bench.parser().parse_args(["--select-on-val"]).train_on_val is False
    assert inspect.signature(train).parameters["train_on_val"].default.default is True
    assert inspect.signature(search_and_train).parameters["train_on_val"].default is True


def test_verdicts_compare_only_rows_fitted_the_same_way(bench):
    def acc(a):
        return {"test_acc": a}

    tv = " (train+val)"
    results = {"MSR Action3D cross_subject": {
        "ENAS cell net / enhanced_spmf": acc(0.79), "random search cell net / enhanced_spmf": acc(0.78),
        "DenseNet / enhanced_spmf": acc(0.80), "TCN / joints": acc(0.86),
        "ENAS cell net / enhanced_spmf" + tv: acc(0.83), "random search cell net / enhanced_spmf" + tv: acc(0.80),
        "DenseNet / enhanced_spmf" + tv: acc(0.81), "TCN / joints" + tv: acc(0.88)}}
    lines = [ln for ln in bench._verdicts(results) if ln.startswith("| MSR")]
    assert len(lines) == 2 and lines[0].startswith("| MSR Action3D cross_subject (train+val) |")
    assert "| 83.0 | >= 92 |" in lines[0] and "yes (+3.0) | yes (+2.0) | no (-5.0) |" in lines[0]
    assert lines[1].startswith("| MSR Action3D cross_subject | TCN / joints (86.0) | 79.0 |")
    assert "yes (+1.0) | no (-1.0) | no (-6.0) |" in lines[1]


def test_joint_coordinate_images_count_as_image_rows(bench):
    """"DenseNet / joints" is a CNN on a joint-coordinate image: it is compared with the sequence models, not one."""
    results = {"MSR Action3D cross_subject": {"ENAS cell net / enhanced_spmf": {"test_acc": 0.79},
                                              "DenseNet / joints": {"test_acc": 0.87},
                                              "ST-GCN / joints": {"test_acc": 0.85}}}
    [line] = [ln for ln in bench._verdicts(results) if ln.startswith("| MSR")]
    assert line.endswith("| yes (+2.0) |")
    assert bench.parser().parse_args(["--search-encoding", "joints"]).search_encoding == "joints"


def test_verdicts_compare_searches_with_the_densenet_on_their_own_images(bench):
    """Searches on the joint image get their own line, against the DenseNet on the joint image."""
    tv = " (train+val)"
    results = {"MSR Action3D cross_subject": {
        "ENAS cell net / enhanced_spmf" + tv: {"test_acc": 0.82}, "DenseNet / enhanced_spmf" + tv: {"test_acc": 0.79},
        "ENAS cell net / joints" + tv: {"test_acc": 0.87}, "random search cell net / joints" + tv: {"test_acc": 0.88},
        "DenseNet / joints" + tv: {"test_acc": 0.85}, "ST-GCN / joints" + tv: {"test_acc": 0.884}}}
    spmf, joints = [ln for ln in bench._verdicts(results) if ln.startswith("| MSR")]
    assert spmf.startswith("| MSR Action3D cross_subject (train+val) | ST-GCN / joints (train+val) (88.4) | 82.0 |")
    assert spmf.endswith("| - | yes (+3.0) | no (-0.4) |")
    assert joints.startswith("| MSR Action3D cross_subject (train+val) [joints images] | ST-GCN / joints (train+val) (88.4) | 87.0 |")
    assert joints.endswith("| no (-1.0) | yes (+2.0) | no (-0.4) |")


def test_header_names_both_kinds_of_final_training_when_merged(bench):
    only_tv = bench._fit_text(["ENAS cell net / enhanced_spmf (train+val)"])
    assert "(train+val), the default" in only_tv and "--select-on-val" not in only_tv
    both = bench._fit_text(["ENAS cell net / enhanced_spmf (train+val)", "TCN / joints"])
    assert "(train+val), the default" in both and "--select-on-val" in both


def test_joint_image_options_name_the_rows_and_reach_their_configs(bench):
    """--joint-* change the joint-image rows only, name their image, and enter the resume settings only when they
    differ from EncodingConfig's defaults; the benchmark's own defaults are the CLI's default image."""
    plain = bench.parser().parse_args(["--joint-scale", "per_axis", "--joint-rows", "index", "--no-joint-motion"])
    opts = bench.parser().parse_args([])
    assert bench.image_name(bench.image_config("joints", plain)) == "joints"  # earlier runs' rows keep their names
    enc = bench.image_config("joints", opts)
    assert (enc.joint_scale, enc.joint_rows, enc.joint_motion) == ("isotropic", "tree", True)
    assert bench.image_name(enc) == "joints+isotropic+tree+motion"
    spmf = bench.image_config("enhanced_spmf", opts)  # a pair image takes none of them
    assert bench.image_name(spmf) == "enhanced_spmf" and spmf.joint_rows == "index"
    for args in (plain, opts):
        args.space, args.epochs, args.search_epochs = "native", 30, 8
    assert not {"joint_scale", "joint_rows", "joint_motion"} & set(bench._settings(plain))
    assert bench._settings(opts)["joint_rows"] == "tree" and bench._settings(opts)["joint_motion"] is True
    # the verdicts put a search on these images beside the DenseNet on the same images
    tv = " (train+val)"
    results = {"MSR Action3D cross_subject": {
        "ENAS cell net / joints+tree" + tv: {"test_acc": 0.88}, "DenseNet / joints+tree" + tv: {"test_acc": 0.85},
        "DenseNet / joints" + tv: {"test_acc": 0.90}}}
    [line] = [ln for ln in bench._verdicts(results) if ln.startswith("| MSR")]
    assert "[joints+tree images]" in line and "| yes (+3.0) |" in line


def test_joint_image_options_without_a_joint_image_row_fail_before_any_data(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--joint-rows", "index", "--no-search", "--encodings", "enhanced_spmf", "--data", "/nonexistent"])
    assert exit_info.value.code == 2 and "--joint-rows" in capsys.readouterr().err


def test_msr_subset_labels_its_rows_and_enters_the_settings_only_when_given(bench):
    """--msr-subset cvpr12 (the published results' 557 sequences): own row labels, so they never join the rows on
    all sequences; its AS mean and targets are read like the default's; searches load the same subset."""
    plain = bench.parser().parse_args([])
    sub = bench.parser().parse_args(["--msr-subset", "cvpr12"])
    for args in (plain, sub):
        args.space, args.epochs, args.search_epochs = "native", 30, 8
    assert "msr_subset" not in bench._settings(plain) and bench._settings(sub)["msr_subset"] == "cvpr12"
    assert bench.msr_loader_options("all") == {} and bench.msr_loader_options("cvpr12") == {"subset": "cvpr12"}
    tv = " (train+val)"

    def row(e, d):
        return {"ENAS cell net / joints" + tv: {"test_acc": e}, "DenseNet / joints" + tv: {"test_acc": d}}

    results = {"MSR Action3D 557 AS1": row(0.90, 0.80), "MSR Action3D 557 AS2": row(0.92, 0.82),
               "MSR Action3D 557 AS3": row(0.94, 0.84), "MSR Action3D 557 cross_subject": row(0.88, 0.86),
               "MSR Action3D AS1": row(0.5, 0.5)}
    lines = [ln for ln in bench._verdicts(results) if ln.startswith("| MSR")]
    [mean] = [ln for ln in lines if ln.startswith("| MSR Action3D 557 AS mean")]
    assert "| 92.0 | >= 95 |" in mean and "| yes (+10.0) |" in mean
    [cs] = [ln for ln in lines if ln.startswith("| MSR Action3D 557 cross_subject")]
    assert "| 88.0 | >= 92 |" in cs
    assert not any(ln.startswith("| MSR Action3D AS mean") for ln in lines)  # one AS row of the default: no mean


def test_msr_subset_reaches_the_search_api(bench, monkeypatch):
    """A searched MSR row on --msr-subset cvpr12 searches and trains on those sequences too (DataSpec.loader_options)."""
    import posenas.search.api as api

    seen = []

    class Stop(Exception):
        pass

    def fake(path, fmt, protocol, **kwargs):
        seen.append((fmt, kwargs["loader_options"]))
        raise Stop

    monkeypatch.setattr(api, "search_and_train", fake)
    from posenas.platform.classification.train import ClassifierTrainConfig

    for argv, fmt in ((["--msr-subset", "cvpr12"], "msr_action3d"), (["--msr-subset", "cvpr12"], "utkinect"),
                      ([], "msr_action3d")):
        args = bench.parser().parse_args(argv)
        args.search_epochs, args.reward = 8, "val_acc"
        with pytest.raises(Stop):
            bench.run_search_row("enas", "/d", fmt, "cross_subject", bench.image_config("joints", args), args,
                                 ClassifierTrainConfig(), "/tmp/s")
    assert seen == [("msr_action3d", {"subset": "cvpr12"}), ("utkinect", {}), ("msr_action3d", {})]


def test_rotation_range_reaches_every_row_and_enters_the_settings_only_when_given(bench, monkeypatch, capsys):
    """--rotate-deg: the DenseNet/TCN splits and the searched rows' DataSpec get it; old rows keep resuming."""
    import posenas.platform.encoding.action_data as action_data
    import posenas.search.api as api
    from posenas.platform.classification.train import ClassifierTrainConfig

    seen = []

    class Stop(Exception):
        pass

    def fake_search(path, fmt, protocol, **kwargs):
        seen.append(("search", kwargs["augment"]))
        raise Stop

    def fake_split(*a, augment_config, **kwargs):
        seen.append(("split", augment_config.rotate_deg))
        raise Stop

    monkeypatch.setattr(api, "search_and_train", fake_search)
    monkeypatch.setattr(action_data, "protocol_split", fake_split)
    monkeypatch.setattr(action_data, "protocol_split_sequences", fake_split)
    for argv in (["--rotate-deg", "20"], []):  # AugmentConfig's range, then the benchmark's default
        args = bench.parser().parse_args(argv)
        args.space, args.epochs, args.search_epochs, args.reward = "native", 30, 8, "val_acc"
        enc = bench.image_config("joints", args)
        for run in (lambda: bench.run_search_row("enas", "/d", "utkinect", "cross_subject", enc, args,
                                                 ClassifierTrainConfig(), "/tmp/s"),
                    lambda: bench.run_image_model(None, "cross_subject", enc, args, ClassifierTrainConfig(), None),
                    lambda: bench.run_sequence_model("tcn", None, "cross_subject", args, ClassifierTrainConfig())):
            with pytest.raises(Stop):
                run()
        assert ("rotate_deg" in bench._settings(args)) == (not argv)  # AugmentConfig's own range: old rows resume
    assert seen == [("search", {}), ("split", 20.0), ("split", 20.0),
                    ("search", {"rotate_deg": 45.0}), ("split", 45.0), ("split", 45.0)]
    with pytest.raises(SystemExit) as exit_info:  # a bad range fails before any data
        bench.main(["--rotate-deg", "200", "--data", "/nonexistent"])
    assert exit_info.value.code == 2 and "--rotate-deg" in capsys.readouterr().err


def _searched(bench, monkeypatch, argv: list[str], pick) -> tuple[list, object]:
    """`pick` of the keyword arguments the ENAS and the random-search row pass to their search, for one command
    line, and its parsed args (each search is stopped before any data loads)."""
    import posenas.search.api as api
    from posenas.platform.classification.train import ClassifierTrainConfig

    seen = []

    class Stop(Exception):
        pass

    def fake(path, fmt, protocol, **kwargs):
        seen.append(pick(kwargs))
        raise Stop

    monkeypatch.setattr(api, "search_and_train", fake)
    monkeypatch.setattr(api, "random_search_and_train", fake)
    args = bench.parser().parse_args(argv)
    args.search_epochs, args.reward = 8, "val_acc"
    for method in ("enas", "random"):
        with pytest.raises(Stop):
            bench.run_search_row(method, "/d", "utkinect", "cross_subject", bench.image_config("joints", args),
                                 args, ClassifierTrainConfig(), "/tmp/s")
    return seen, args


def test_param_free_cap_reaches_both_searches_and_a_non_default_one_names_their_rows(
        bench, monkeypatch, capsys):
    """--max-param-free: the ENAS and random-search rows search under the cap (SearchConfig's default unless given);
    a non-default cap is named in their columns; a negative cap fails before any data."""
    from posenas.search.enas import SearchConfig

    default = SearchConfig().max_param_free
    for argv in ([], ["--max-param-free", "8"]):
        seen, args = _searched(bench, monkeypatch, argv, lambda kw: kw["search_config"].max_param_free)
        assert seen == [8, 8] if argv else seen == [default, default]
        for method in ("enas", "random"):
            assert ("parameter-free" in bench._search_name(method, args)) == bool(argv)
        # recorded either way: the rows of earlier runs, searched with no cap, must not resume under the default
        assert bench._settings(args)["max_param_free"] == str(8 if argv else default)
    assert default is not None
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--max-param-free", "-1", "--data", "/nonexistent"])
    assert exit_info.value.code == 2 and "max_param_free=-1" in capsys.readouterr().err


def test_search_val_fraction_reaches_both_searches_and_a_non_default_one_names_their_rows(
        bench, monkeypatch, capsys):
    """--search-val-fraction: the share both searches rank children on (DataSpec's default unless given); a
    non-default share is named in their columns and enters the resume settings; 0 or 1 fails before any data."""
    from posenas.search.data import DataSpec

    default = DataSpec("").val_fraction
    for argv in ([], ["--search-val-fraction", "0.4"]):
        seen, args = _searched(bench, monkeypatch, argv, lambda kw: (kw["val_fraction"], kw["train_on_val"]))
        # the final trainings stay on train+val either way: only what the search ranks on changes
        assert seen == [(0.4 if argv else default, True)] * 2
        for method in ("enas", "random"):
            assert ("40 % of the training subjects" in bench._search_name(method, args)) == bool(argv)
        assert bench._settings(args).get("search_val_fraction") == ("0.4" if argv else None)
        assert ("rank children on 40%" in bench._search_share_text(args)) == bool(argv)  # the budget line says so
    assert default == 0.2
    for bad in ("0", "1"):
        with pytest.raises(SystemExit) as exit_info:
            bench.main(["--search-val-fraction", bad, "--data", "/nonexistent"])
        assert exit_info.value.code == 2 and "--search-val-fraction" in capsys.readouterr().err


def test_denoising_options_reach_every_image_row_and_name_it(bench, capsys):
    """--smooth-sigma/--rigid-bones go to every image row's config, name its image, enter the resume settings only
    when given, and a negative sigma fails before any data loads."""
    plain = bench.parser().parse_args([])
    opts = bench.parser().parse_args(["--smooth-sigma", "1", "--rigid-bones"])
    for enc_name, plain_name in (("joints", "joints+isotropic+tree+motion"), ("enhanced_spmf", "enhanced_spmf")):
        assert bench.image_name(bench.image_config(enc_name, plain)) == plain_name
        enc = bench.image_config(enc_name, opts)
        assert (enc.smooth_sigma, enc.rigid_bones) == (1.0, True)
        assert bench.image_name(enc) == f"{plain_name}+smooth1+rigid"
    for args in (plain, opts):
        args.space, args.epochs, args.search_epochs = "native", 30, 8
    assert not {"smooth_sigma", "rigid_bones"} & set(bench._settings(plain))
    assert bench._settings(opts)["smooth_sigma"] == 1.0 and bench._settings(opts)["rigid_bones"] is True
    with pytest.raises(SystemExit):
        bench.main(["--smooth-sigma", "-1", "--data", "/nonexistent"])
    assert "--smooth-sigma" in capsys.readouterr().err
