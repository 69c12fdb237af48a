"""Action recognition benchmark: same data, same splits, same training budget, measured in one run.

Rows (per dataset / protocol): DenseNet on the joint image and on Enhanced-SPMF (`--encodings`; the same CNN on
each), a TCN and an ST-GCN on the joint coordinates, and — where the search is run — the ENAS-found cell network
and the random-search baseline (posenas.search.api, same data spec and the same ClassifierTrainConfig for the
from-scratch training). The defaults (images, copies, rotation, epochs, search budget) are those of `posenas
search` and `posenas train` (posenas.search.data.DEFAULT_*), so the CLI reproduces the searched rows. A last
table answers "does RGB reach RGB-D": MSR Action3D cross-subject classified from 3D poses lifted by the shipped
Stage-1 lifter from the Kinect's 2D joints vs from the Kinect's own 3D joints, both converted to h36m17 and
paired frame by frame.

A validation split is carved from the training subjects (never from test). By default, as `posenas train`,
every final training then uses train+val for the fixed number of epochs and keeps the last epoch (columns
marked "(train+val)"); searches still rank their children on the validation split. With --select-on-val
each model instead trains on the train split and keeps its best-validation epoch (ties in accuracy go to
the lower validation loss). The lifting study always selects on validation. The test split is evaluated
once per model; nothing is tuned on test.

    python benchmarks/bench_actions.py                # every row, 3 seeds / 3 search runs: several hours on 2 CPU cores
    python benchmarks/bench_actions.py --json R.json --resume   # finished seeds and runs are saved; rerun to go on
    python benchmarks/bench_actions.py --quick        # smoke run (a minute or two)
    python benchmarks/bench_actions.py --no-search    # baselines and the lifting study only
    python benchmarks/bench_actions.py --select-on-val  # final trainings on train only, best-validation epoch kept
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSENAS_DATA", REPO.parent / "shared" / "data"))

# The benchmark's DenseNet: DenseNet-BC sized for a few hundred 32x32 images on a CPU.
DENSENET = dict(growth_rate=12, block_config=(3, 3, 3), init_features=24)
TCN_FRAMES = 32


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# MSR Action3D's label per loader subset: "all" (the loader's default, what every committed row used) or "cvpr12",
# the 557 sequences of files_used_in_cvpr12_paper.txt that the published results use; its rows never merge with
# the others'
MSR_LABELS = {"all": "MSR Action3D", "cvpr12": "MSR Action3D 557"}


def msr_loader_options(subset: str) -> dict:
    """The MSR loader's options for `subset`, as the search API records them (none for the default)."""
    return {} if subset == "all" else {"subset": subset}


def load_benchmark_datasets(data: Path, protocols_msr: list[str], utkinect: bool, msr_subset: str = "all"):
    """(label, dataset, protocol, path, format) for every benchmark entry."""
    from posenas.datasets.registry import load_dataset

    out = []
    msr_path = data / "msr_action3d"
    # the searched rows load the same subset through the search API (DataSpec.loader_options)
    msr = load_dataset(msr_path, "msr_action3d", **msr_loader_options(msr_subset))
    for p in protocols_msr:
        out.append((f"{MSR_LABELS[msr_subset]} {p}", msr, p, msr_path, "msr_action3d"))
    if utkinect:
        ut_path = data / "utkinect_action3d"
        out.append(("UTKinect cross_subject", load_dataset(ut_path, "utkinect"), "cross_subject", ut_path, "utkinect"))
    return out


def _train_seeds(make_model, train, val, test, args, tc, done=(), on_seed=None) -> dict:
    """Train one fresh model per seed with the shared ClassifierTrainConfig; mean test/val accuracy and the per-seed list.

    `done` holds the seeds an interrupted run finished (its "partial_runs"): kept, not trained again (each seed is
    seeded on its own, so the row is the same); `on_seed` gets the finished seeds after each, to save them.
    """
    from posenas.platform.classification.train import evaluate_classifier, seed_everything, train_classifier

    runs = list(done)[:args.seeds]
    for seed in range(len(runs), args.seeds):
        seed_everything(seed)
        model = make_model()
        res = train_classifier(model, train, val, replace(tc, seed=seed), progress=False)
        runs.append({"seed": seed, "test_acc": evaluate_classifier(model, test)["accuracy"],
                     "val_acc": res.best_val_acc, "seconds": res.seconds})  # val None when trained on train+val
        _log(f"    seed {seed}: test {runs[-1]['test_acc']:.3f} val {runs[-1]['val_acc']} ({res.seconds:.0f} s)")
        if on_seed is not None:
            on_seed(list(runs))
    accs, vals = [r["test_acc"] for r in runs], [r["val_acc"] for r in runs]
    held_out = [v for v in vals if v is not None]
    return {"test_acc": float(np.mean(accs)), "test_std": float(np.std(accs)),
            "val_acc": float(np.mean(held_out)) if held_out else None,
            "val_std": float(np.std(held_out)) if held_out else None, "seconds": sum(r["seconds"] for r in runs),
            "n_train": len(train), "n_val": len(val) if val is not None else 0, "n_test": len(test),
            "per_seed": accs, "per_seed_val": vals}


def run_image_model(dataset, protocol, enc, args, tc, cache_dir, done=(), on_seed=None):
    from posenas.platform.encoding.action_data import protocol_split
    from posenas.platform.classification.densenet import DenseNet, DenseNetConfig

    train, val, test = protocol_split(dataset, protocol, enc, augment_train=args.augment, val_fraction=_val_fraction(args),
                                      seed=args.data_seed, cache_dir=cache_dir, space=args.space,
                                      augment_config=_augment_config(args))
    return _train_seeds(lambda: DenseNet(DenseNetConfig(num_classes=train.num_classes, **DENSENET)),
                        train, val, test, args, tc, done, on_seed)


def run_sequence_model(family: str, dataset, protocol, args, tc, done=(), on_seed=None):
    """A non-image baseline on the joint coordinates: "tcn" or "stgcn" (same fixed-length sequences)."""
    from posenas.platform.classification.checkpoint import CLASSIFIER_FAMILIES
    from posenas.platform.encoding.action_data import protocol_split_sequences

    train, val, test = protocol_split_sequences(dataset, protocol, frames=TCN_FRAMES, augment_train=args.augment,
                                                val_fraction=_val_fraction(args), seed=args.data_seed, space=args.space,
                                                augment_config=_augment_config(args))
    config = {"num_classes": train.num_classes, "in_features": int(train.features.shape[2])}
    if family == "stgcn":  # the graph is the skeleton of the space's layout
        from posenas.core.skeleton import get_layout
        from posenas.platform.encoding.pose_space import space_layout

        layout = space_layout(args.space, dataset.layout)
        config = {"num_classes": train.num_classes, "layout": layout, "partition": "uniform",  # chosen on val
                  "persons": int(train.features.shape[2]) // (get_layout(layout).num_joints * 3)}
    return _train_seeds(lambda: CLASSIFIER_FAMILIES.get(family)(config), train, val, test, args, tc, done, on_seed)


TV = " (train+val)"  # column suffix of the final trainings on train+val
# rows of the models on joint sequences (not images): their names start so; "DenseNet / joints" is an image row
SEQUENCE_MODELS = ("TCN /", "ST-GCN /")


def _fit_tag(args) -> str:
    """Column suffix of rows trained on train+val, so that they sit beside the held-out-val rows when merged."""
    return TV if args.train_on_val else ""


def _augment_options(args) -> dict:
    """DataSpec.augment of the run: the AugmentConfig fields that differ from its defaults (so rows run at its own
    range before the benchmark's default changed keep resuming)."""
    from posenas.platform.encoding.action_data import AugmentConfig
    from posenas.search.data import augment_options

    rotate = getattr(args, "rotate_deg", None)
    return augment_options(None if rotate == AugmentConfig().rotate_deg else rotate)


def _augment_config(args):
    """The AugmentConfig of every row's training copies (validated: a bad range is a ConfigError)."""
    from posenas.platform.encoding.action_data import AugmentConfig

    return AugmentConfig.from_dict(_augment_options(args))


def _val_fraction(args) -> float:
    """The held-out share of the training subjects in the final trainings (0: train on train+val)."""
    return 0.0 if args.train_on_val else 0.2


def run_search_row(method, path, fmt, protocol, enc, args, tc, storage, runs=None, on_run=None):
    """Run k = 0..R-1: search with seed k, derive, train the cell from scratch with training seed k, test once.

    Run 0 is exactly `posenas search` + `posenas train` with their defaults (search seed 0, first training seed).
    `runs` holds the runs an interrupted benchmark finished (kept); `on_run(runs)` is called after each new one
    so that a stopped benchmark loses at most the run it was in (one search costs minutes).
    """
    from posenas.search import api
    from posenas.search.enas import SearchConfig

    fn = api.search_and_train if method == "enas" else api.random_search_and_train
    runs = list(runs or [])
    for k in range(len(runs), args.search_runs):
        t_run = time.time()
        sc = SearchConfig(epochs=args.search_epochs, seed=k, reward=args.reward, warmup_epochs=args.warmup_epochs,
                          max_param_free=_param_free_cap(args))
        r = fn(path, fmt, protocol, search_config=sc, train_config=tc.to_dict(), storage_path=storage,
               name=f"bench_{method}_{Path(path).name}_{protocol}_s{k}", seeds=[k], augment_train=args.augment,
               val_fraction=_search_val_fraction(args), data_seed=args.data_seed, encoding=enc.to_dict(), verbose=0,
               space=args.space,
               train_on_val=args.train_on_val, augment=_augment_options(args),
               loader_options=msr_loader_options(args.msr_subset) if fmt == "msr_action3d" else {})
        runs.append({"search_seed": k, "train_seed": k, "test_acc": r.test_accs[0], "val_acc": r.val_accs[0],
                     "shared_val_acc": r.shared_val_acc, "search_seconds": r.search_seconds,
                     "genotype": r.genotype.describe(), "seconds": time.time() - t_run})
        if on_run is not None:
            on_run(runs)
        _log(f"    run {k}: test {runs[-1]['test_acc']:.3f} val {runs[-1]['val_acc']} "
             f"shared-weight val {r.shared_val_acc:.3f} (search {r.search_seconds:.0f} s)")
    accs, vals = [r["test_acc"] for r in runs], [r["val_acc"] for r in runs if r["val_acc"] is not None]
    return {"test_acc": float(np.mean(accs)), "test_std": float(np.std(accs)),
            "val_acc": float(np.mean(vals)) if vals else None, "val_std": float(np.std(vals)) if vals else None,
            "seconds": float(sum(r.get("seconds", 0.0) for r in runs)),
            "search_seconds": float(np.mean([r["search_seconds"] for r in runs])), "per_seed": accs,
            "per_seed_val": vals, "runs": runs, "genotype": runs[0]["genotype"]}


def lifted_vs_kinect(data: Path, args, tc, cache_dir, done: dict | None = None, on_seed=None):
    """MSR cross-subject from lifted 3D vs Kinect 3D (both h36m17, same sequences and frames), DenseNet on the
    benchmark's image (`--search-encoding`, the default of `posenas search`/`train`, which `posenas run` feeds).

    `done` holds the rows (finished, or with the "partial_runs" of an interrupted run) that are kept, not trained
    again; `on_seed(rows, info)` gets the rows after every seed, with info["partial"] set, to save them.
    """
    from posenas.datasets.msr_action3d import ACTION_NAMES, load_msr_pairs, msr_protocols
    from posenas.datasets.sequence import SkeletonDataset, SkeletonSequence
    from posenas.platform.lifting.inference import load_lifter
    from posenas.core.skeleton import convert_confidence_to_h36m, convert_to_h36m

    root = data / "msr_action3d"
    pairs, faults = load_msr_pairs(root, subset="all")
    lifter = load_lifter()
    kin, lif = [], []
    t0 = time.time()
    for p in pairs:
        keep = p.valid.any(axis=1)
        if keep.sum() < 2:
            continue
        uv = convert_to_h36m(p.uv[keep], "msr20")
        conf = convert_confidence_to_h36m(p.valid[keep].astype(np.float32), "msr20")  # Kinect 2D: tracked = sure
        xyz = convert_to_h36m(p.xyz[keep], "msr20")
        lifted = lifter.lift(uv, conf, 320, 240)
        common = dict(layout="h36m17", fps=15.0, seq_id=p.seq_id, subject=p.subject, action=p.action,
                      action_name=ACTION_NAMES[p.action])
        kin.append(SkeletonSequence(xyz[:, None], **common))
        lif.append(SkeletonSequence(lifted[:, None], **common))
    enc = image_config(args.search_encoding, args)
    info = {"sequences": len(kin), "lift_seconds": time.time() - t0, "faults": len(faults), "image": image_name(enc)}
    out = dict(done or {})
    for name, seqs in (("Kinect 3D (RGB-D), h36m17", kin), ("lifted from Kinect 2D (RGB path), h36m17", lif)):
        if name in out and "partial_runs" not in out[name]:
            continue

        def keep(runs, name=name):
            out[name] = {"partial_runs": runs}
            if on_seed is not None:
                on_seed(dict(out), {**info, "partial": True})

        ds = SkeletonDataset(f"msr_pairs_{'lifted' if seqs is lif else 'kinect'}", root, "h36m17", seqs,
                             classes=list(ACTION_NAMES), protocols=msr_protocols(seqs))
        out[name] = run_image_model(ds, "cross_subject", enc, args, tc, cache_dir,
                                    out.get(name, {}).get("partial_runs", []), keep)
    return out, info


def fmt_acc(r, key: str = "test") -> str:
    """'mean ± std (n)' in percent; old single-seed results have no std."""
    if r is None:
        return "-"
    if "error" in r:
        return "failed"
    if "partial_runs" in r:  # an interrupted row: the seeds or searched runs it has, marked as such
        vals = [run[f"{key}_acc"] for run in r["partial_runs"] if run[f"{key}_acc"] is not None]  # train+val: no val
        return f"{100 * np.mean(vals):.1f} ± {100 * np.std(vals):.1f} ({len(vals)}, unfinished)" if vals else "-"
    mean = r.get(f"{key}_acc")
    if mean is None:
        return "-"
    n = len(r.get("per_seed") or [])
    std = r.get(f"{key}_std")
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f} ({n})"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--quick", action="store_true", help="smoke run: AS1 only, 2 epochs, no search")
    from posenas.search.data import DEFAULT_COPIES, DEFAULT_EPOCHS, DEFAULT_IMAGE, DEFAULT_ROTATE_DEG

    # the defaults are those of `posenas search` and `posenas train` (posenas.search.data.DEFAULT_*), so that the CLI
    # with its defaults reproduces the searched rows
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="final trainings' epochs (as `posenas train`)")
    ap.add_argument("--augment", type=int, default=DEFAULT_COPIES,
                    help="random copies per training sequence, for the searches and the final trainings")
    ap.add_argument("--rotate-deg", type=float, default=DEFAULT_ROTATE_DEG,
                    help="rotation range of the training copies, +- degrees")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=3, help="training seeds of every baseline row")
    ap.add_argument("--search-runs", type=int, default=3,
                    help="searched rows: run k searches with seed k and trains with seed k (>= 2 search seeds)")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--protocols", default="cross_subject,AS1,AS2,AS3", help="MSR Action3D protocols")
    ap.add_argument("--msr-subset", default="all", choices=list(MSR_LABELS),
                    help="MSR Action3D sequences: all (567, the loader's default) or cvpr12 (the 557 of the common "
                         "protocol, as the published results; rows labelled 'MSR Action3D 557')")
    ap.add_argument("--no-utkinect", action="store_true")
    ap.add_argument("--no-search", action="store_true", help="leave out the ENAS and random-search rows")
    ap.add_argument("--search-protocols", default="all",
                    help="entries that get the search rows: all, or a list of MSR protocols and/or utkinect")
    ap.add_argument("--methods", default="enas,random", help="searched rows: enas and/or random")
    ap.add_argument("--resume", action="store_true",
                    help="keep the rows, seeds and runs the --json file of an interrupted run holds")
    ap.add_argument("--search-epochs", type=int, default=None, help="default: SearchConfig's (what `posenas search` runs)")
    ap.add_argument("--reward", default=None, choices=["val_acc", "val_likelihood"],
                    help="the ENAS controller's reward (SearchConfig.reward; default: its default); a non-default "
                         "reward is named in the ENAS column")
    ap.add_argument("--warmup-epochs", type=int, default=0,
                    help="SearchConfig.warmup_epochs: first search epochs on uniform children, no controller steps; "
                         "a non-zero value is named in the ENAS column")
    ap.add_argument("--max-param-free", type=int, default=None,
                    help="SearchConfig.max_param_free: at most this many parameter-free ops per cell in every child "
                         "either search samples (default: its default; 8, twice the nodes: no cap); a non-default "
                         "value is named in the searched columns")
    ap.add_argument("--search-val-fraction", type=float, default=None,
                    help="share of the training subjects the searches hold out to rank children on (DataSpec's "
                         "default unless given: 0.2, one of MSR's five); the final trainings still use train+val; a "
                         "non-default share is named in the searched columns")
    ap.add_argument("--no-tcn", action="store_true", help="leave out the TCN rows")
    ap.add_argument("--no-stgcn", action="store_true", help="leave out the ST-GCN rows")
    ap.add_argument("--no-baselines", action="store_true", help="searched rows only (DenseNet, TCN, ST-GCN left out)")
    ap.add_argument("--no-lifting", action="store_true", help="leave out the lifted-vs-Kinect study")
    ap.add_argument("--encodings", default="joints,enhanced_spmf",
                    help="DenseNet rows: the searched image and the paper's; also: spmf")
    from posenas.platform.encoding.spmf import ENCODINGS

    ap.add_argument("--search-encoding", default=DEFAULT_IMAGE["encoding"], choices=list(ENCODINGS),
                    help="the images the searched rows search and train on")
    from posenas.platform.encoding.spmf import JOINT_ROWS, JOINT_SCALES

    # the joint image's options (EncodingConfig.joint_*, as `posenas search --joint-*`): every joint-image row gets
    # them, and its image is named after them ("joints+isotropic+tree+motion"), so verdicts compare like with like
    ap.add_argument("--joint-scale", default=DEFAULT_IMAGE["joint_scale"], choices=list(JOINT_SCALES),
                    help="joint-image rows: axis scaling")
    ap.add_argument("--joint-rows", default=DEFAULT_IMAGE["joint_rows"], choices=list(JOINT_ROWS),
                    help="joint-image rows: row order")
    ap.add_argument("--joint-motion", action=argparse.BooleanOptionalAction, default=DEFAULT_IMAGE["joint_motion"],
                    help="joint-image rows: add velocity rows")
    # denoising the joints before encoding (EncodingConfig.smooth_sigma, .rigid_bones): every image row gets them
    # (the TCN and ST-GCN rows read the joints as they are), and its image is named after them ("...+smooth1")
    ap.add_argument("--smooth-sigma", type=float, default=0.0,
                    help="image rows: smooth the joints along time first (Gaussian sigma, frames; 0: off)")
    ap.add_argument("--rigid-bones", action="store_true",
                    help="image rows: set every bone to its clip-mean length first (directions kept)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "actions.md")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--cache-dir", type=Path, default=None, help="action-image cache (default: a temp dir)")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="--json output of an earlier run whose rows join this run's tables (noted in the output)")
    from posenas.platform.encoding.pose_space import POSE_SPACES

    ap.add_argument("--space", default=None, choices=list(POSE_SPACES),
                    help="pose space of every row (default: posenas.search.data.DEFAULT_DATASET_SPACE, what the CLI uses)")
    ap.add_argument("--train-on-val", dest="train_on_val", action="store_true", default=True,
                    help="default: final trainings on train+val for the fixed epochs, last epoch kept (searches still "
                         "rank on val), as `posenas train`")
    ap.add_argument("--select-on-val", dest="train_on_val", action="store_false",
                    help="final trainings on the train split, best-validation epoch kept (the columns without "
                         "'(train+val)')")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 threads on a busy 2-core box ran 9x slower than 1)")
    return ap


def image_config(encoding: str, args):
    """The EncodingConfig of a row on `encoding` images (the joint options go to the joint image only)."""
    from posenas.platform.encoding.spmf import EncodingConfig

    joint = _joint_options(args) if encoding == "joints" else {}
    return EncodingConfig(encoding=encoding, size=args.size, **joint, **_denoise_options(args))


def _non_default(args, fields) -> dict:
    """The EncodingConfig `fields` whose option differs from the field's default (only those, so that the rows of
    earlier runs keep their names and settings)."""
    from posenas.platform.encoding.spmf import EncodingConfig

    default = EncodingConfig(encoding="joints")
    return {k: getattr(args, k) for k in fields if getattr(args, k, getattr(default, k)) != getattr(default, k)}


def _denoise_options(args) -> dict:
    """The denoising options that differ from EncodingConfig's defaults."""
    from posenas.platform.encoding.spmf import DENOISE_FIELDS

    return _non_default(args, DENOISE_FIELDS)


def _joint_options(args) -> dict:
    """The joint-image options that differ from EncodingConfig's defaults."""
    from posenas.platform.encoding.spmf import JOINT_IMAGE_FIELDS

    return _non_default(args, JOINT_IMAGE_FIELDS)


def image_name(enc) -> str:
    """A row's image: the encoding, and for the joint image its non-default options ("joints+isotropic+motion")."""
    from posenas.platform.encoding.spmf import JOINT_IMAGE_FIELDS, EncodingConfig

    default = EncodingConfig(encoding="joints")
    parts = [enc.encoding] + [("motion" if k == "joint_motion" else str(getattr(enc, k)))
                              for k in JOINT_IMAGE_FIELDS
                              if enc.encoding == "joints" and getattr(enc, k) != getattr(default, k)]
    if enc.smooth_sigma:
        parts.append(f"smooth{enc.smooth_sigma:g}")
    if enc.rigid_bones:
        parts.append("rigid")
    return "+".join(parts)


def main(argv=None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    from posenas.platform.classification.train import ClassifierTrainConfig
    from posenas.search.enas import SearchConfig

    from posenas.search.data import DEFAULT_DATASET_SPACE

    args.space = args.space or DEFAULT_DATASET_SPACE
    args.search_epochs = args.search_epochs or SearchConfig().epochs
    args.reward = args.reward or SearchConfig().reward
    try:  # the search's own check, before any data loads
        from posenas.errors import PosenasError
        from posenas.search.tune_search import validate_search

        validate_search(SearchConfig(epochs=args.search_epochs, warmup_epochs=args.warmup_epochs,
                                     max_param_free=_param_free_cap(args)))
    except PosenasError as e:
        ap.error(f"--search-epochs/--warmup-epochs/--max-param-free: {e}")
    if args.search_val_fraction is not None and not 0.0 < args.search_val_fraction < 1.0:
        ap.error(f"--search-val-fraction: {args.search_val_fraction} is not between 0 and 1 (both excluded)")
    if args.quick:
        args.epochs, args.protocols, args.no_search, args.no_utkinect = 2, "AS1", True, True
        args.augment, args.seeds = min(args.augment, 1), 1

    encodings = [e for e in args.encodings.split(",") if e]
    joint_rows_asked = (not args.no_baselines and "joints" in encodings) or (
        not args.no_search and args.search_encoding == "joints")
    from posenas.platform.encoding.spmf import JOINT_IMAGE_FIELDS

    given = [k for k in JOINT_IMAGE_FIELDS if getattr(args, k) != ap.get_default(k)]
    if given and not joint_rows_asked:  # before any data loads: they would change nothing
        ap.error("--joint-scale/--joint-rows/--joint-motion: no joint-image row runs (give --encodings joints or "
                 "--search-encoding joints)")
    from posenas.errors import ConfigError

    try:
        _augment_config(args)
    except ConfigError as exc:  # likewise
        ap.error(f"--rotate-deg: {exc}")
    try:
        image_config(args.search_encoding, args)
    except ConfigError as exc:  # likewise
        ap.error(f"--smooth-sigma: {exc}")

    tc = ClassifierTrainConfig(epochs=args.epochs, batch_size=32, lr=2e-3, warmup_epochs=min(2, args.epochs - 1),
                               num_threads=args.threads)
    tmp = tempfile.TemporaryDirectory(prefix="bench_actions_")
    cache_dir = args.cache_dir or Path(tmp.name) / "cache"
    storage = Path(tmp.name) / "search"
    started = time.time()
    entries = load_benchmark_datasets(args.data, [p for p in args.protocols.split(",") if p], not args.no_utkinect,
                                      args.msr_subset)
    search_protocols = set() if args.no_search else set(args.search_protocols.split(","))

    def searched(fmt: str, protocol: str) -> bool:
        key = protocol if fmt == "msr_action3d" else fmt
        return "all" in search_protocols or key in search_protocols

    results: dict[str, dict[str, dict]] = {}
    lifting = None  # (rows, info) of the lifted-vs-Kinect study
    if args.resume and args.json and args.json.is_file():  # rows an interrupted run with these settings finished
        old = json.loads(args.json.read_text())
        if old.get("settings") == _settings(args):
            results, lifting = old["results"], old.get("lifting")
            _log(f"resumed {sum(len(r) for r in results.values())} rows from {args.json}")

    def save() -> None:  # after every seed/run, so an interrupted run loses at most the seed or run it was in
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"results": results, "lifting": lifting, "command": _command(),
                                             "settings": _settings(args), "partial": True}, indent=1, default=str))

    def unfinished(row: dict, key: str) -> list:
        """The seeds/runs an interrupted run saved of this cell (empty if none)."""
        return row.get(key, {}).get("partial_runs", [])

    def keeper(row: dict, key: str):
        """on_seed/on_run callback: finished seeds or runs survive an interrupted benchmark."""
        def keep(runs):
            row[key] = {"partial_runs": runs}
            save()
        return keep

    def pending(row: dict, key: str) -> bool:
        return key not in row or "partial_runs" in row[key]

    for label, ds, protocol, path, fmt in entries:
        row = results.setdefault(label, {})
        for enc_name in ([] if args.no_baselines else encodings):
            enc = image_config(enc_name, args)
            key = f"DenseNet / {image_name(enc)}{_fit_tag(args)}"
            if not pending(row, key):
                continue
            _log(f"{label}: {key}")
            row[key] = run_image_model(ds, protocol, enc, args, tc, cache_dir, unfinished(row, key), keeper(row, key))
            _log(f"  test {row[key]['test_acc']:.3f} val {row[key]['val_acc']} ({row[key]['seconds']:.0f} s)")
            save()
        for family, key, skip in (("tcn", "TCN / joints", args.no_tcn), ("stgcn", "ST-GCN / joints", args.no_stgcn)):
            key += _fit_tag(args)
            if skip or args.no_baselines or not pending(row, key):
                continue
            _log(f"{label}: {key}")
            row[key] = run_sequence_model(family, ds, protocol, args, tc, unfinished(row, key), keeper(row, key))
            _log(f"  test {row[key]['test_acc']:.3f}")
            save()
        if searched(fmt, protocol):
            for method in [m for m in args.methods.split(",") if m]:
                enc = image_config(args.search_encoding, args)
                key = f"{_search_name(method, args)} cell net / {image_name(enc)}{_fit_tag(args)}"
                prev = row.get(key, {})
                done = prev.get("partial_runs", prev.get("runs", []))[:args.search_runs]
                if "error" not in prev and len(done) >= args.search_runs:
                    continue
                _log(f"{label}: {key}")
                try:
                    row[key] = run_search_row(method, path, fmt, protocol, enc, args, tc, storage, runs=done,
                                              on_run=keeper(row, key))
                    _log(f"  test {row[key]['test_acc']:.3f} ({row[key]['seconds']:.0f} s)")
                except Exception as e:  # report, don't hide: the row shows "failed" and the error is printed
                    row[key] = {"error": f"{type(e).__name__}: {e}"}
                    _log(f"  FAILED: {row[key]['error']}")
                save()
    if args.no_lifting or args.quick:
        lifting = None  # not part of this run: a merged run's study is taken instead
    elif lifting is None or lifting[1].get("partial") or "error" in lifting[1]:  # not yet run, or unfinished
        _log("lifted vs Kinect 3D on MSR cross_subject")

        def keep_lifting(rows, info):
            nonlocal lifting
            lifting = (rows, info)
            save()
        try:
            # selected on val whatever --train-on-val says: the study compares inputs, and shows val accuracy
            done = lifting[0] if lifting is not None else {}
            lifting = lifted_vs_kinect(args.data, argparse.Namespace(**{**vars(args), "train_on_val": False}), tc,
                                       cache_dir, done, keep_lifting)
        except Exception as e:  # the seeds saved so far stay, for --resume
            lifting = (lifting[0] if lifting is not None else {}, {"error": f"{type(e).__name__}: {e}"})
            _log(f"  FAILED: {lifting[1]['error']}")
    total = time.time() - started
    merged_from = []
    for prev in args.merge:
        old = json.loads(prev.read_text())
        for label, row in old["results"].items():
            for k, v in row.items():
                results.setdefault(label, {}).setdefault(k, v)
        if lifting is None and old.get("lifting"):
            lifting = old["lifting"]
        where = f", on {old['machine']}" if old.get("machine") else ""  # recorded since 2026-12-02
        merged_from.append(f"`{old.get('command', prev)}` ({old.get('minutes', float('nan')):.1f} min{where})")
    text = render(results, lifting, args, tc, total, merged_from)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "lifting": lifting, "command": _command(),
                                         "settings": _settings(args), "minutes": total / 60, "machine": _machine()},
                                        indent=1, default=str))
    tmp.cleanup()
    return 0


# Issue 11's targets for the ENAS-found network (cross-subject, %), with the published skeleton-only range.
TARGETS = {"MSR Action3D cross_subject": (92.0, "91.7 (Moving Pose) - 94.8 (ST-LSTM + trust gates)"),
           "MSR Action3D AS mean": (95.0, "92.5 (Lie group) - 94.5 (HBRNN)"),
           "UTKinect cross_subject": (97.0, "97 (Lie group) - 99 (GCA-LSTM)")}


def _verdicts(results) -> list[str]:
    """Targets and the comparisons the issue asks for, read off the table (no new numbers); one line per
    protocol and kind of final training (train+val first, the default), never mixing the two kinds."""
    rows = dict(results)
    for msr in MSR_LABELS.values():
        as_rows = [rows[k] for k in (f"{msr} AS1", f"{msr} AS2", f"{msr} AS3") if k in rows]
        if len(as_rows) == 3:
            rows[f"{msr} AS mean"] = {c: {"test_acc": float(np.mean([r[c]["test_acc"] for r in as_rows]))}
                                      for c in as_rows[0] if all(c in r and "test_acc" in r[c] for r in as_rows)}
    out = ["", "Targets and comparisons (test accuracy, %; 'beats' = higher mean, the gap in points in brackets: compare it "
           "with the rows' std across seeds):", "",
           "| protocol | best row | ENAS | target | published | ENAS > random | ENAS > DenseNet | best image row >= best joints row |",
           "|---|---|---|---|---|---|---|---|"]

    def cmp(a, b):
        return "-" if a is None or b is None else f"{'yes' if a > b else 'no'} ({100 * (a - b):+.1f})"

    searched = ("ENAS cell net", "random search cell net")
    for tag in (TV, ""):
        for label, row in rows.items():
            ok = {c: r["test_acc"] for c, r in row.items() if isinstance(r, dict) and "test_acc" in r
                  and (c.endswith(TV) if tag else TV not in c)}
            if not ok:
                continue
            best = max(ok, key=ok.get)
            target, published = TARGETS.get(label.replace(MSR_LABELS["cvpr12"], MSR_LABELS["all"]), (None, "-"))
            img = max([v for c, v in ok.items() if not c.startswith(SEQUENCE_MODELS)], default=None)
            joint = max([v for c, v in ok.items() if c.startswith(SEQUENCE_MODELS)], default=None)
            # one line per image the searches ran on: ENAS is compared with the baselines on the same images
            images = {c.removesuffix(tag).split(" / ", 1)[1] for c in ok if c.startswith(searched)}
            for image in sorted(images or {"enhanced_spmf"}, key=lambda i: (i != "enhanced_spmf", i)):
                enas, rnd, dense = (f"{m} / {image}{tag}" for m in (*searched, "DenseNet"))
                e = ok.get(enas)
                where = "" if image == "enhanced_spmf" else f" [{image} images]"
                out.append(f"| {label}{tag}{where} | {best} ({100 * ok[best]:.1f}) | "
                           f"{'-' if e is None else f'{100 * e:.1f}'} | {'-' if target is None else f'>= {target:.0f}'} | "
                           f"{published} | {cmp(e, ok.get(rnd))} | {cmp(e, ok.get(dense))} | {cmp(img, joint)} |")
    return out


def _param_free_cap(args) -> int | None:
    """The searches' cap on parameter-free ops per cell: --max-param-free, else SearchConfig's default."""
    from posenas.search.enas import SearchConfig

    cap = getattr(args, "max_param_free", None)
    return SearchConfig().max_param_free if cap is None else cap


def _search_val_fraction(args) -> float:
    """The share of the training subjects a search ranks children on: --search-val-fraction, else DataSpec's."""
    from posenas.search.data import DataSpec

    share = getattr(args, "search_val_fraction", None)
    return DataSpec("").val_fraction if share is None else share


def _changed_search_share(args) -> float | None:
    """The searches' validation share where it is not DataSpec's default (None where it is): rows and the budget
    line name it."""
    from posenas.search.data import DataSpec

    share = _search_val_fraction(args)
    return None if share == DataSpec("").val_fraction else share


def _search_share_text(args) -> str:
    """The budget line's note on the searches' own validation share."""
    share = _changed_search_share(args)
    return "" if share is None else f"; the searches rank children on {100 * share:.0f}% of them"


def _search_name(method: str, args) -> str:
    """Row name of a searched method; a non-default cap on parameter-free ops or validation share (either search)
    and an ENAS controller with a non-default reward or a warm-up say so."""
    from posenas.search.enas import SearchConfig

    reward = getattr(args, "reward", None) or SearchConfig().reward
    cap = _param_free_cap(args)
    shared = [] if cap == SearchConfig().max_param_free else [f"<= {cap} parameter-free ops per cell"]
    share = _changed_search_share(args)
    if share is not None:
        shared.append(f"ranks on {100 * share:.0f} % of the training subjects")
    if method != "enas":
        return f"random search ({', '.join(shared)})" if shared else "random search"
    notes = [] if reward == SearchConfig().reward else [f"{reward.removeprefix('val_')} reward"]
    if getattr(args, "warmup_epochs", 0):
        notes.append(f"{args.warmup_epochs} warm-up epochs")
    notes += shared
    return f"ENAS ({', '.join(notes)})" if notes else "ENAS"


def _settings(args) -> dict:
    """What must match for --resume to reuse rows."""
    from posenas.search.enas import SearchConfig

    # search_runs is left out: a searched row with fewer runs than asked is continued, not redone.
    keys = ("data", "epochs", "augment", "size", "seeds", "search_epochs", "data_seed", "space", "threads")
    out = {k: str(getattr(args, k)) for k in keys}
    if args.train_on_val:  # only when set, so that the rows of earlier runs still resume
        out["train_on_val"] = "True"
    reward = getattr(args, "reward", None) or SearchConfig().reward
    if reward != SearchConfig().reward:  # likewise
        out["reward"] = reward
    if getattr(args, "warmup_epochs", 0):  # likewise
        out["warmup_epochs"] = str(args.warmup_epochs)
    out["max_param_free"] = str(_param_free_cap(args))  # always: rows searched before the cap had none
    if getattr(args, "search_val_fraction", None) is not None:  # only when given, so earlier rows still resume
        out["search_val_fraction"] = str(args.search_val_fraction)
    if getattr(args, "msr_subset", "all") != "all":  # likewise
        out["msr_subset"] = args.msr_subset
    if getattr(args, "search_encoding", "enhanced_spmf") != "enhanced_spmf":  # likewise
        out["search_encoding"] = args.search_encoding
    out.update(_joint_options(args))  # likewise
    out.update(_denoise_options(args))  # likewise
    out.update(_augment_options(args))  # likewise
    return out


def _machine() -> str:
    """CPU model and torch's kernel level: the same search seed derived a different cell on another machine
    (float differences, amplified by the search), while reruns on one machine are bit-identical."""
    import torch

    model = ""
    try:  # the first CPU's name, family/model numbers and cache (VMs often hide the name)
        first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
        info = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in first_cpu.splitlines())}
        model = (f"{info.get('model name', '')} (family {info.get('cpu family', '?')} model {info.get('model', '?')}, "
                 f"cache {info.get('cache size', '?')})")
    except OSError:
        pass
    return (f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared), torch "
            f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels)")


def _command() -> str:
    import shlex

    return ("python benchmarks/bench_actions.py " + shlex.join(sys.argv[1:])).strip()  # quoted, so it reruns as is


def _fit_text(cols) -> str:
    """How the final trainings of the table's columns were fitted (both kinds when merged side by side)."""
    tv = "columns marked (train+val), the default: the final training also uses the validation subjects, for " \
         "exactly the epochs above, and keeps the last epoch (searches still rank on validation)"
    sel = "columns without it (--select-on-val): each model keeps its best-validation epoch"
    kinds = [t for t, present in ((tv, any(TV in c for c in cols)), (sel, any(TV not in c for c in cols))) if present]
    return "; ".join(kinds or [tv]) + "; test accuracy (%) is measured once per model"


def render(results, lifting, args, tc, total, merged_from=()) -> str:
    cols = sorted({k for row in results.values() for k in row}, key=lambda k: (
        0 if k.startswith("ENAS") else 1 if k.startswith("random") else 2 if k.startswith("DenseNet") else 3, k))
    lines = [
        "# Action recognition benchmark",
        "",
        f"Command: `{_command()}`  ",
        *([f"Rows merged from earlier runs with the same budget: {', '.join(merged_from)}  "] if merged_from else []),
        f"Machine of this process: {_machine()}, torch threads {args.threads}; total wall time {total / 60:.1f} min.",
        "",
        f"Budget, the same for every row: {args.epochs} epochs, batch 32, AdamW lr {tc.lr}, cosine, label smoothing "
        f"{tc.label_smoothing}, {args.augment} augmented copies per training sequence (rotation up to "
        f"±{_augment_config(args).rotate_deg:g}°, scale, time crop), "
        f"{args.size}x{args.size} images, pose space `{args.space}`; every cell is mean ± std (n) over {args.seeds} training seeds, searched rows "
        f"over {args.search_runs} runs (run k: search seed k, training seed k). Validation = 20% of the "
        "training subjects (data seed "
        f"{args.data_seed}" + _search_share_text(args) + "); " + _fit_text(cols) + ". MSR Action3D: " + ("the 557 sequences of files_used_in_cvpr12_paper.txt (the common protocol's; rows "
        "'MSR Action3D 557')" if getattr(args, "msr_subset", "all") == "cvpr12" else "all sequences the loader keeps") +
        " (the search API loads the same), "
        "odd subjects train / even test; UTKinect: odd/even subjects. Searches (ENAS and random, weight sharing) run "
        f"{args.search_epochs} search epochs each on the same train/val images, then the derived cell is trained from "
        "scratch with the budget above.",
        "",
        "| dataset / protocol | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for label, row in results.items():
        lines.append(f"| {label} | " + " | ".join(fmt_acc(row.get(c)) for c in cols) + " |")
    lines += ["", "Validation accuracy (%) of the same runs (model selection only):", "",
              "| dataset / protocol | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for label, row in results.items():
        lines.append(f"| {label} | " + " | ".join(fmt_acc(row.get(c), "val") for c in cols) + " |")
    lines += _verdicts(results)
    errors = [(label, c, r["error"]) for label, row in results.items() for c, r in row.items() if "error" in r]
    if errors:
        lines += ["", "Failed rows:", ""] + [f"- {label} / {c}: `{e}`" for label, c, e in errors]
    searched = [(label, c, r) for label, row in results.items() for c, r in row.items()
                if "genotype" in r]
    if searched:
        lines += ["", "Searched architectures (run 0's cell; per run: shared-weight val acc of the derived child):", ""]
        for label, c, r in searched:
            per_run = ", ".join(f"{100 * x['shared_val_acc']:.0f} %" for x in r.get("runs", []))
            lines.append(f"- {label} / {c} (search {r['search_seconds']:.0f} s per run; shared-weight val acc "
                         f"{per_run or '-'}): `{r['genotype']}`")
    if lifting is not None:
        res, info = lifting
        image = info.get("image", "enhanced_spmf")  # runs before 2026-12-07 used Enhanced-SPMF
        lines += ["", f"## RGB reaches RGB-D? (MSR Action3D cross_subject, DenseNet on {image} images)", ""]
        if "error" in info:
            lines.append(f"Failed: `{info['error']}`")
        else:
            lines += [f"{info['sequences']} sequences present in both the Real3D and the 2D screen files "
                      f"(untracked frames dropped); lifting them took {info['lift_seconds']:.0f} s.", "",
                      "| 3D poses from | test acc (%) | val acc (%) |", "|---|---|---|"]
            for name, r in res.items():
                lines.append(f"| {name} | {fmt_acc(r)} | {fmt_acc(r, 'val')} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
