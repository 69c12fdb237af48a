"""`posenas search/train/eval` wiring, clean errors, and eval of a saved child on the real MSR test split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _posenas(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posenas.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_commands_are_registered_with_their_options():
    r = _posenas("search", "--help")
    assert r.returncode == 0
    for opt in ("--dataset", "--format", "--protocol", "--epochs", "--workers", "--storage-path", "--name", "--resume", "--address", "--hpo-samples"):
        assert opt in r.stdout, opt
    assert "--seeds" in _posenas("train", "--help").stdout
    assert "--checkpoint" in _posenas("eval", "--help").stdout


def test_bad_inputs_are_one_line_errors(tmp_path: Path):
    r = _posenas("eval", "--checkpoint", str(tmp_path / "nope"))
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "g.json"
    bad.write_text('{"normal": [{"inputs": [0, 9], "ops": ["identity", "identity"]}], "reduce": []}')
    r = _posenas("train", "--genotype", str(bad), "--dataset", str(tmp_path))
    assert r.returncode == 2 and "g.json" in r.stderr and "Traceback" not in r.stderr
    # the default trains on train+val: a held-out share makes sense only with --select-on-val
    r = _posenas("train", "--genotype", str(bad), "--dataset", str(tmp_path), "--val-fraction", "0.3")
    assert r.returncode == 2 and "--val-fraction" in r.stderr and "--select-on-val" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.realdata
def test_eval_of_a_saved_child_on_msr_test_split(msr_root: Path, tmp_path: Path):
    import torch

    from posenas.platform.classification.cellnet import ChildNet
    from posenas.search.data import DataSpec, load_splits
    from posenas.platform.classification.genotype import random_genotype
    from posenas.platform.classification.cellnet import NetConfig
    from posenas.search.tune_search import save_child_checkpoint

    spec = DataSpec(str(msr_root), "msr_action3d", "cross_subject", augment_train=0)
    train, val, test = load_splits(spec)
    assert val is not None and len(val) > 0
    assert not set(val.seq_ids) & set(test.seq_ids) and not set(val.subjects) & set(test.subjects)
    torch.manual_seed(0)
    g = random_genotype(3, np.random.default_rng(0))
    net = NetConfig(channels=8, num_nodes=3, num_classes=len(train.classes))
    model = ChildNet(g, net)
    save_child_checkpoint(tmp_path, model, g, net, spec.to_dict(), train.classes, {"seed": 0})
    out = tmp_path / "eval.json"
    r = _posenas("eval", "--checkpoint", str(tmp_path), "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "test accuracy:" in r.stdout
    res = json.loads(out.read_text())
    conf = np.asarray(res["confusion"])
    assert conf.shape == (len(train.classes),) * 2 and conf.sum() == res["num_samples"] == len(test)
    assert res["accuracy"] == pytest.approx(np.trace(conf) / conf.sum())


def test_cli_defaults_are_the_benchmark_budget(load_benchmark):
    """`posenas search` + `posenas train` with their defaults are what `bench_actions.py` runs by default: the same
    search epochs, cap, copies, rotation, images and final epochs."""
    import inspect

    from posenas.cli.search import search
    from posenas.cli.train import train
    from posenas.search.data import default_image, image_options
    from posenas.search.enas import SearchConfig

    bench = load_benchmark("bench_actions")
    d = bench.parser().parse_args([])
    s, t = inspect.signature(search).parameters, inspect.signature(train).parameters
    assert s["epochs"].default.default == SearchConfig().epochs and d.search_epochs in (None, SearchConfig().epochs)
    assert s["max_param_free"].default.default == bench._param_free_cap(d)
    assert s["augment_train"].default.default == t["augment_train"].default.default == d.augment == 8
    assert s["rotate_deg"].default.default == t["rotate_deg"].default.default == d.rotate_deg == 45.0
    assert s["train_epochs"].default.default == t["epochs"].default.default == d.epochs == 60
    cli_image = default_image(image_options(s["encoding"].default.default))
    assert cli_image == {k: v for k, v in bench.image_config(d.search_encoding, d).to_dict().items()
                         if k in cli_image} == {"encoding": "joints", "joint_scale": "isotropic", "joint_rows": "tree",
                                                "joint_motion": True}
    assert s["val_fraction"].default.default == 0.2 and d.search_val_fraction is None


def test_train_uses_the_images_the_genotype_was_searched_on(tmp_path: Path, monkeypatch):
    """`posenas train` rebuilds the search's space and encoding from the genotype's record, unless told."""
    import posenas.search.data as data
    from posenas.cli import main
    from posenas.platform.classification.genotype import random_genotype, save_genotype

    seen = []

    class Stop(Exception):
        pass

    def fake_load_splits(spec):  # stop before any data is read: only the spec is under test
        seen.append(spec)
        raise Stop

    monkeypatch.setattr(data, "load_splits", fake_load_splits)
    path = save_genotype(random_genotype(3, np.random.default_rng(0)), tmp_path / "g.json", meta={
        "data_spec": {"poses": "dataset", "space": "body", "encoding": {"encoding": "joints", "joint_rows": "tree"}}})
    (tmp_path / "d").mkdir()
    for extra in ([], ["--encoding", "spmf", "--space", "native"], ["--joint-motion"]):
        with pytest.raises(Stop):
            main(["train", "--genotype", str(path), "--dataset", str(tmp_path / "d"), *extra])
    assert [(s.space, s.encoding) for s in seen] == [
        ("body", {"encoding": "joints", "joint_rows": "tree"}), ("native", {"encoding": "spmf"}),
        ("body", {"encoding": "joints", "joint_rows": "tree", "joint_motion": True})]


def test_search_passes_the_joint_image_options_to_the_data(tmp_path: Path, monkeypatch):
    """`posenas search` searches on the default image, or with --encoding/--joint-* on exactly those images."""
    import posenas.search.api as api
    from posenas.cli import main

    seen = []

    class Stop(Exception):
        pass

    def fake_search_only(dataset, **kwargs):
        seen.append((kwargs["encoding"], kwargs["augment_train"], kwargs["augment"], kwargs["val_fraction"]))
        raise Stop

    monkeypatch.setattr(api, "search_only", fake_search_only)
    monkeypatch.setattr(api, "search_and_train", fake_search_only)
    (tmp_path / "d").mkdir()
    for extra in ([], ["--encoding", "joints", "--joint-rows", "index", "--no-joint-motion"],
                  ["--encoding", "enhanced_spmf", "--augment-train", "4", "--rotate-deg", "20", "--final-seeds", "3",
                   "--train-epochs", "30", "--val-fraction", "0.4"]):
        with pytest.raises(Stop):
            main(["search", "--dataset", str(tmp_path / "d"), "-o", str(tmp_path / "out"), *extra])
    default = {"encoding": "joints", "joint_scale": "isotropic", "joint_rows": "tree", "joint_motion": True}
    assert seen == [(default, 8, {"rotate_deg": 45.0}, 0.2),
                    ({**default, "joint_rows": "index", "joint_motion": False}, 8, {"rotate_deg": 45.0}, 0.2),
                    ({"encoding": "enhanced_spmf"}, 4, {"rotate_deg": 20.0}, 0.4)]


def test_search_and_train_take_loader_options_and_train_follows_the_search(tmp_path: Path, monkeypatch):
    """`-O subset=cvpr12` reaches the search's data; `posenas train` reuses the search's options for its format."""
    import posenas.search.api as api
    import posenas.search.data as data
    from posenas.cli import main
    from posenas.platform.classification.genotype import random_genotype, save_genotype

    searched, trained = [], []

    class Stop(Exception):
        pass

    def fake_search_only(dataset, **kwargs):
        searched.append(kwargs["loader_options"])
        raise Stop

    def fake_load_splits(spec):
        trained.append(spec.loader_options)
        raise Stop

    monkeypatch.setattr(api, "search_only", fake_search_only)
    monkeypatch.setattr(data, "load_splits", fake_load_splits)
    (tmp_path / "d").mkdir()
    for extra in ([], ["-O", "subset=cvpr12"]):
        with pytest.raises(Stop):
            main(["search", "--dataset", str(tmp_path / "d"), "-o", str(tmp_path / "out"), *extra])
    assert searched == [{}, {"subset": "cvpr12"}]
    path = save_genotype(random_genotype(3, np.random.default_rng(0)), tmp_path / "g.json", meta={
        "data_spec": {"format": "msr_action3d", "poses": "dataset", "loader_options": {"subset": "cvpr12"}}})
    for extra in ([], ["--option", "subset=all"], ["--format", "utkinect"]):
        with pytest.raises(Stop):
            main(["train", "--genotype", str(path), "--dataset", str(tmp_path / "d"), *extra])
    assert trained == [{"subset": "cvpr12"}, {"subset": "all"}, {}]


def test_a_loader_option_the_format_does_not_take_fails_in_one_line(tmp_path: Path):
    (tmp_path / "d").mkdir()
    for command in (["search", "-o", str(tmp_path / "out")], ["train", "--genotype", str(tmp_path / "g.json")]):
        if command[0] == "train":
            (tmp_path / "g.json").write_text('{"normal": [], "reduce": []}')
        r = _posenas(*command, "--dataset", str(tmp_path / "d"), "--format", "utkinect", "-O", "subset=cvpr12")
        assert r.returncode == 2 and "--option" in r.stderr and "subset" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        r = _posenas(*command, "--dataset", str(tmp_path / "d"), "-O", "cvpr12")
        assert r.returncode == 2 and "expected KEY=VALUE" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.realdata
def test_msr_cvpr12_subset_reaches_the_split(msr_root: Path):
    """DataSpec.loader_options builds the common protocol's split: 557 sequences, two fewer test sequences."""
    from posenas.datasets.msr_action3d import read_cvpr12_list
    from posenas.search.data import DataSpec, load_splits

    spec = DataSpec(str(msr_root), "msr_action3d", "cross_subject", augment_train=0, loader_options={"subset": "cvpr12"})
    assert DataSpec(**spec.to_dict()) == spec  # recorded in run files and checkpoints
    train, val, test = load_splits(spec)
    _, _, test_all = load_splits(DataSpec(str(msr_root), "msr_action3d", "cross_subject", augment_train=0))
    listed = set(read_cvpr12_list(msr_root))
    assert set(test.seq_ids) <= listed and set(train.seq_ids) | set(val.seq_ids) <= listed
    assert len(test) == len(test_all) - 2 and set(test.seq_ids) < set(test_all.seq_ids)


@pytest.mark.realdata
def test_the_data_specs_augmentation_reaches_the_training_copies_only(tiny_msr: Path):
    """DataSpec.augment (`--rotate-deg`) changes the training copies; val and test stay the plain sequences."""
    from posenas.errors import ConfigError
    from posenas.search.data import DataSpec, load_splits

    spec = DataSpec(str(tiny_msr), "msr_action3d", "cross_subject", augment_train=2, augment={"rotate_deg": 0.0})
    assert DataSpec(**spec.to_dict()) == spec  # recorded in run files and checkpoints
    still, val0, test0 = load_splits(spec)
    turned, val1, test1 = load_splits(DataSpec(str(tiny_msr), "msr_action3d", "cross_subject", augment_train=2,
                                               augment={"rotate_deg": 90.0}))
    assert still.seq_ids == turned.seq_ids and not np.allclose(still.images, turned.images)
    assert np.array_equal(test0.images, test1.images) and np.array_equal(val0.images, val1.images)
    with pytest.raises(ConfigError, match="rotate_deg"):  # before the dataset is read
        load_splits(DataSpec("/nonexistent", augment={"rotate_deg": 200.0}))

