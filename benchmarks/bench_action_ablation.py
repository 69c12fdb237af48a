"""Which levers move action-image accuracy? One lever at a time against the same baseline, >= 3 seeds each.

The model is the benchmark's hand-designed DenseNet on Enhanced-SPMF images (`bench_actions.DENSENET`), so the
numbers isolate the input and the training recipe from the architecture search. Every row trains one model per
seed with the same budget; each model keeps its best-validation epoch (or, in the "train+val" row, its last
epoch of a fixed, pre-chosen number), and is then tested once, plainly and with test-time augmentation (the
mean softmax of the sequence and `--tta` random copies drawn with the row's augmentation). The "combined" row
takes every lever whose mean *validation* accuracy beat the baseline's; the test split chooses nothing.

    python benchmarks/bench_action_ablation.py                      # MSR Action3D cross-subject, 3 seeds
    python benchmarks/bench_action_ablation.py --rows baseline,mirror --seeds 1 --epochs 2   # smoke run
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from bench_actions import DEFAULT_DATA, DENSENET, REPO, _log  # noqa: E402

# The joint image with all three of its options (EncodingConfig.joint_*): the best single image so far.
JOINT_IMAGE_ALL = {"encoding": "joints", "joint_scale": "isotropic", "joint_rows": "tree", "joint_motion": True}
JOINTS_ALL = {"space": "native", **JOINT_IMAGE_ALL}

# lever name -> (what it changes, overrides of the baseline recipe)
LEVERS: dict[str, tuple[str, dict]] = {
    "baseline": ("canonical space (per-frame pelvis root), 32x32 Enhanced-SPMF, 4 copies (rotate/scale/crop)", {}),
    "canonical_traj": ("pose space keeps the body's path (clip-mean pelvis root)", {"space": "canonical_traj"}),
    "native": ("no view normalisation: the Kinect's own axes and joints", {"space": "native"}),
    "mirror": ("+ left/right mirror with joint swap (p = 0.5)", {"aug": {"mirror": 0.5}}),
    "speed_noise": ("+ speed x0.8-1.25 and 1 cm joint noise", {"aug": {"speed": (0.8, 1.25), "joint_noise": 0.01}}),
    "copies8": ("8 augmented copies per training sequence instead of 4", {"augment": 8}),
    "size48": ("48x48 images instead of 32x32", {"size": 48}),
    "trainval": ("train on train+val for the same fixed number of epochs (last epoch kept)", {"trainval": True}),
    # The same levers on top of the native space (the default since it won above): delta against "native".
    "native_mirror": ("native + left/right mirror with joint swap (p = 0.5)", {"space": "native", "aug": {"mirror": 0.5}}),
    "native_speed_noise": ("native + speed x0.8-1.25 and 1 cm joint noise",
                           {"space": "native", "aug": {"speed": (0.8, 1.25), "joint_noise": 0.01}}),
    "native_frames16": ("native + time resampled to 16 frames before encoding (31 columns, not squeezed after)",
                        {"space": "native", "frames": 16}),
    "native_size48": ("native + 48x48 images", {"space": "native", "size": 48}),
    "native_trainval": ("native + train on train+val, fixed epochs, last kept", {"space": "native", "trainval": True}),
    "native_copies8": ("native + 8 augmented copies per training sequence instead of 4", {"space": "native", "augment": 8}),
    # Row order of the joint pairs (EncodingConfig.pair_order): what the resize to 32 rows averages together.
    "native_chain": ("native + pair rows with joints in kinematic-chain order (limbs adjacent)",
                     {"space": "native", "pair_order": "chain"}),
    "native_parts": ("native + pair rows in body part x body part blocks", {"space": "native", "pair_order": "parts"}),
    "native_within_parts": ("native + only pairs inside one body part (50 of 210 pairs)",
                            {"space": "native", "pair_order": "within_parts"}),
    # Rotation range of the random copies (about the up axis; the default is +-20 degrees).
    "native_rotate0": ("native + no rotation in the random copies (scale and crop only)",
                       {"space": "native", "aug": {"rotate_deg": 0.0}}),
    "native_rotate45": ("native + rotation up to +-45 degrees instead of +-20", {"space": "native", "aug": {"rotate_deg": 45.0}}),
    # Per-channel equalisation: CLAHE on R, G and B separately instead of on the L channel of CIE-Lab.
    "native_clahe_per_channel": ("native + CLAHE on R, G, B separately instead of on Lab lightness",
                                 {"space": "native", "clahe_mode": "per_channel"}),
    # What the "enhanced" of Enhanced-SPMF buys: plain SPMF, the same image without CLAHE.
    "native_spmf": ("native + plain SPMF (no CLAHE)", {"space": "native", "encoding": "spmf"}),
    # No pairs at all: the joint-coordinate image (row = joint, column = frame, x/y/z -> R/G/B; Du et al. 2015),
    # the image counterpart of the TCN on joints, which beats every pair image so far.
    "native_joints_image": ("native + joint-coordinate image (20 joint rows x frames, x/y/z as R/G/B) instead of pairs",
                            {"space": "native", "encoding": "joints"}),
    # The joint image's own options (EncodingConfig.joint_*), measured against native_joints_image: the issue's
    # "metric, isotropic units" (per-axis min-max stretches MSR's narrow depth range to full contrast), a row
    # order in which neighbouring rows are always joined by a bone, and velocity rows as Enhanced-SPMF's motion.
    "native_joints_iso": ("native joint image + one scale for x, y and z (the widest axis's span) instead of per axis",
                          {"space": "native", "encoding": "joints", "joint_scale": "isotropic"}),
    "native_joints_tree": ("native joint image + rows along the tree walk (39 rows, neighbours joined by a bone)",
                           {"space": "native", "encoding": "joints", "joint_rows": "tree"}),
    "native_joints_motion": ("native joint image + velocity rows (central differences) under the position rows",
                             {"space": "native", "encoding": "joints", "joint_motion": True}),
    # the training budget and the network's size, with the input fixed: is the DenseNet the limit?
    "native_epochs60": ("native + 60 epochs instead of 30 (cosine over 60)", {"space": "native", "epochs": 60}),
    "native_wide": ("native + DenseNet twice as wide (growth 24, 48 initial features; 3.9x the weights)",
                    {"space": "native", "densenet": {"growth_rate": 24, "init_features": 48}}),
    "native_deep": ("native + DenseNet twice as deep (6 layers per block; 2.5x the weights)",
                    {"space": "native", "densenet": {"block_config": (6, 6, 6)}}),
    # Regularisers, since every native seed fits its training images fully (ClassifierTrainConfig / DenseNetConfig)
    "native_mixup02": ("native + mixup, Beta(0.2, 0.2) blend weights", {"space": "native", "train": {"mixup": 0.2}}),
    "native_mixup1": ("native + mixup, Beta(1, 1) blend weights", {"space": "native", "train": {"mixup": 1.0}}),
    "native_wd": ("native + AdamW weight decay 0.05 instead of 0.0005", {"space": "native", "train": {"weight_decay": 0.05}}),
    "native_dropout": ("native + dropout 0.2 after every 3x3 conv of the DenseNet",
                       {"space": "native", "densenet": {"drop_rate": 0.2}}),
    # Motion columns over k frames instead of 1 (EncodingConfig.motion_stride): MSR's 15 fps frame-to-frame
    # displacements are small next to the joint distances they share the colour scale with.
    "native_motion3": ("native + motion columns span 3 frames instead of 1", {"space": "native", "motion_stride": 3}),
    "native_motion6": ("native + motion columns span 6 frames instead of 1", {"space": "native", "motion_stride": 6}),
    # View normalisation without the joint-set change of "canonical" (h36m17 drops MSR's hands and feet): the
    # native joints, body-centred (clip-mean pelvis), unit torso, and turned about the vertical ("body") or
    # fully rotated to the body frame like canonical_traj ("body3d").
    "body": ("the native joints, clip-mean pelvis root, unit torso, turned about the vertical so hips/shoulders face +z",
             {"space": "body"}),
    "body3d": ("the native joints, clip-mean pelvis root, unit torso, fully rotated to the body frame (as canonical_traj)",
               {"space": "body3d"}),
    # Late fusion of two images (as two-stream skeleton models fuse joint and bone streams): per seed, one DenseNet
    # on the joint image with its three options (= combined_joints) and one on Enhanced-SPMF (= native), each
    # trained alone with that seed, scored on the mean of their softmaxes. Against combined_joints, its better stream.
    "native_fusion": ("mean softmax of a DenseNet on the joint image (isotropic, tree, motion) and one on Enhanced-SPMF",
                      {"space": "native", "fuse": (JOINT_IMAGE_ALL, {"encoding": "enhanced_spmf"})}),
    # JOINTS_ALL as a row of its own ("joints_all": on
    # MSR it is the combined_joints recipe; on UTKinect the tie rule left tree out of combined_joints), and the input
    # and training levers measured on the Enhanced-SPMF rows again on top of it: with 78 rows (39 tree rows, 39 velocity
    # rows) squeezed into 32 pixels the image size may matter here as it did not there, and augmentation that hurt the
    # pair image can help the coordinates. Size, copies and epochs are also options of bench_actions.py (--size,
    # --augment, --epochs), so a winner can be carried to the searched rows.
    "joints_all": ("native joint image with all three options (isotropic, tree, velocity rows)", JOINTS_ALL),
    "joints_all_size48": ("joints_all + 48x48 images", {**JOINTS_ALL, "size": 48}),
    "joints_all_size64": ("joints_all + 64x64 images", {**JOINTS_ALL, "size": 64}),
    "joints_all_copies8": ("joints_all + 8 augmented copies per training sequence instead of 4", {**JOINTS_ALL, "augment": 8}),
    "joints_all_epochs60": ("joints_all + 60 epochs instead of 30 (cosine over 60)", {**JOINTS_ALL, "epochs": 60}),
    "joints_all_rotate0": ("joints_all + no rotation in the random copies (scale and crop only)",
                           {**JOINTS_ALL, "aug": {"rotate_deg": 0.0}}),
    "joints_all_rotate45": ("joints_all + rotation up to +-45 degrees instead of +-20", {**JOINTS_ALL, "aug": {"rotate_deg": 45.0}}),
    "joints_all_speed_noise": ("joints_all + speed x0.8-1.25 and 1 cm joint noise",
                               {**JOINTS_ALL, "aug": {"speed": (0.8, 1.25), "joint_noise": 0.01}}),
    # Denoising the Kinect joints before encoding (EncodingConfig.smooth_sigma, .rigid_bones), as Moving Pose
    # does before its features; the velocity rows difference frames, which amplifies frame-to-frame jitter.
    "joints_all_smooth1": ("joints_all + joints smoothed along time (Gaussian, sigma 1 frame)",
                           {**JOINTS_ALL, "smooth_sigma": 1.0}),
    "joints_all_smooth2": ("joints_all + joints smoothed along time (Gaussian, sigma 2 frames)",
                           {**JOINTS_ALL, "smooth_sigma": 2.0}),
    "joints_all_rigid": ("joints_all + every bone set to its clip-mean length (directions kept)",
                         {**JOINTS_ALL, "rigid_bones": True}),
}
# the row a lever's delta is measured against (its recipe differs from that row's in the lever alone)
REFERENCE = ({n: "native" for n in LEVERS if n.startswith("native_")} | {"body": "native", "body3d": "native"}
             | {n: "native_joints_image" for n in LEVERS if n.startswith("native_joints_") and n != "native_joints_image"}
             | {"native_fusion": "combined_joints", "joints_all": "native_joints_image"}
             | {n: "joints_all" for n in LEVERS if n.startswith("joints_all_")})
COMBINABLE = ("canonical_traj", "mirror", "speed_noise", "copies8", "size48", "trainval",
              "native_mirror", "native_speed_noise", "native_frames16", "native_size48", "native_copies8",
              "native_chain")  # one pair order only: chain, parts and within_parts exclude each other
# Levers added after the combined row of speed_noise + copies8 was run (rotation range, CLAHE mode, SPMF) are
# not combinable: that row's lever set was fixed before they were measured.
# The joint image's levers have their own combined row, "combined_joints", whose rule was fixed before any of them
# ran: every one whose mean val beats native_joints_image's.
JOINT_COMBINABLE = ("native_joints_iso", "native_joints_tree", "native_joints_motion")
# Their combined row, "combined_joints_all", has its rule fixed before any of them ran: every lever whose mean val
# beats joints_all's; of levers that set the same thing (image size, rotation range) only the one with the highest
# mean val (the first listed on a tie).
JOINTS_ALL_COMBINABLE = ("joints_all_size48", "joints_all_size64", "joints_all_copies8", "joints_all_epochs60",
                         "joints_all_rotate0", "joints_all_rotate45", "joints_all_speed_noise")
EXCLUSIVE = (("joints_all_size48", "joints_all_size64"), ("joints_all_rotate0", "joints_all_rotate45"))


def winners(rows: dict, candidates: list[str]) -> list[str]:
    """The candidates that beat their reference on val, keeping only the best-val one of each EXCLUSIVE group."""
    won = [n for n in candidates if n in rows and beats(rows, n)]
    for group in EXCLUSIVE:
        rivals = [n for n in won if n in group]
        if len(rivals) > 1:
            best = max(rivals, key=lambda n: (stat(rows[n], "val")[0], -group.index(n)))
            won = [n for n in won if n not in group or n == best]
    return won


def recipe(overrides: dict) -> dict:
    """The baseline recipe with one lever's overrides applied."""
    r = {"space": "canonical", "size": 32, "frames": None, "augment": 4, "aug": {}, "trainval": False,
         "pair_order": "index", "clahe_mode": "luminance", "encoding": "enhanced_spmf", "motion_stride": 1,
         "epochs": None, "densenet": {}, "train": {},  # epochs None: --epochs; train: ClassifierTrainConfig fields
         "joint_scale": "per_axis", "joint_rows": "index", "joint_motion": False,
         "smooth_sigma": 0.0, "rigid_bones": False,
         "fuse": ()}  # fuse: the streams' own overrides (on top of the rest of this recipe) of a late-fusion row
    for k, v in overrides.items():
        r[k] = {**r["aug"], **v} if k == "aug" else v
    return r


def combine(names: list[str]) -> dict:
    """Overrides of several levers at once (augmentation settings merged)."""
    out: dict = {}
    for n in names:
        for k, v in LEVERS[n][1].items():
            out[k] = {**out.get("aug", {}), **v} if k == "aug" else v
    return out


EVALS = ("val", "val_tta", "test", "test_tta")


def run_row(dataset, protocol: str, rec: dict, args, cache_dir: Path) -> dict:
    """One row: a DenseNet per seed on the recipe's images, or for a fusion recipe one per stream and seed, scored on
    the mean of the streams' softmaxes (each stream's own accuracies kept beside, to check against its own row)."""
    if not rec["fuse"]:
        seeds, n_train, n_test = train_stream(dataset, protocol, rec, args, cache_dir)
        for s in seeds:
            s.update(_accuracies(s))
        return {"recipe": rec, "seeds": seeds, "n_train": n_train, "n_test": n_test}
    streams = [train_stream(dataset, protocol, {**rec, **stream, "fuse": ()}, args, cache_dir) for stream in rec["fuse"]]
    seeds = []
    for per_stream in zip(*(st[0] for st in streams)):
        fused = {"seed": per_stream[0]["seed"], "seconds": sum(s["seconds"] for s in per_stream),
                 "streams": [_accuracies(s) for s in per_stream]}
        for k in EVALS:
            fused[k] = None if per_stream[0][k] is None else fused_accuracy([s[k] for s in per_stream])
        alone = ", ".join(f"{s['test']:.3f}" for s in fused["streams"])
        _log(f"    seed {fused['seed']}: fused test {fused['test']:.3f} tta {fused['test_tta']:.3f} val {fused['val']} "
             f"(streams alone: test {alone})")
        seeds.append(fused)
    return {"recipe": rec, "seeds": seeds, "n_train": sum(st[1] for st in streams), "n_test": streams[0][2]}


def _accuracies(seed: dict) -> dict:
    """A seed's evaluations (`evaluate_classifier` dicts, None where not run) as accuracies."""
    return {k: None if seed[k] is None else seed[k]["accuracy"] for k in EVALS}


def fused_accuracy(evaluations: list[dict]) -> float:
    """Accuracy of the mean softmax of several models' `evaluate_classifier` results on the same sequences."""
    first = evaluations[0]
    if any(e["sequences"] != first["sequences"] or not np.array_equal(e["labels"], first["labels"]) for e in evaluations):
        raise ValueError("late fusion needs every model scored on the same sequences, in the same order")
    pred = np.mean([e["probabilities"] for e in evaluations], axis=0).argmax(1)
    return float(np.mean(pred == first["labels"]))


def train_stream(dataset, protocol: str, rec: dict, args, cache_dir: Path) -> tuple[list[dict], int, int]:
    """A DenseNet per seed on one recipe's images: per seed its evaluations (`evaluate_classifier`'s dicts)."""
    from posenas.platform.classification.densenet import DenseNet, DenseNetConfig
    from posenas.platform.classification.train import (ClassifierTrainConfig, evaluate_classifier, seed_everything,
                                                        train_classifier)
    from posenas.platform.encoding.action_data import AugmentConfig, protocol_split
    from posenas.platform.encoding.spmf import EncodingConfig

    aug = AugmentConfig(**rec["aug"])
    enc = EncodingConfig(**{k: rec[k] for k in ("encoding", "size", "frames", "pair_order", "clahe_mode", "motion_stride",
                                                "joint_scale", "joint_rows", "joint_motion", "smooth_sigma",
                                                "rigid_bones")})
    common = dict(augment_config=aug, cache_dir=cache_dir, space=rec["space"], seed=args.data_seed, val_fraction=0.2)
    train, val, test = protocol_split(dataset, protocol, enc, augment_train=rec["augment"], **common)
    _, val_tta, test_tta = protocol_split(dataset, protocol, enc, augment_train=0, augment_test=args.tta, **common)
    if rec["trainval"]:  # val joins the training data (with its own augmented copies); nothing is selected
        _, extra, _ = protocol_split(dataset, protocol, enc, augment_train=0, augment_test=rec["augment"], **common)
        from posenas.platform.encoding.action_data import ActionImages

        train = ActionImages(np.concatenate([train.images, extra.images]),
                             np.concatenate([train.labels, extra.labels]), train.seq_ids + extra.seq_ids,
                             np.concatenate([train.subjects, extra.subjects]), train.classes)
    epochs = rec.get("epochs") or args.epochs
    tc = ClassifierTrainConfig(epochs=epochs, batch_size=32, lr=2e-3, warmup_epochs=min(2, epochs - 1),
                               num_threads=1, select="last" if rec["trainval"] else "best_val", **rec.get("train", {}))
    seeds = []
    for seed in range(args.seeds):
        seed_everything(seed)
        model = DenseNet(DenseNetConfig(num_classes=train.num_classes, **{**DENSENET, **rec.get("densenet", {})}))
        res = train_classifier(model, train, None if rec["trainval"] else val, replace(tc, seed=seed), progress=False)
        seeds.append({
            "seed": seed, "seconds": res.seconds, "epoch": res.best_epoch,
            "train_acc_last": res.history[-1]["train_acc"],  # on the augmented copies: does the net fit them?
            "val": None if rec["trainval"] else evaluate_classifier(model, val),
            "val_tta": None if rec["trainval"] else evaluate_classifier(model, val_tta),
            "test": evaluate_classifier(model, test),
            "test_tta": evaluate_classifier(model, test_tta),
        })
        val_acc = None if seeds[-1]["val"] is None else seeds[-1]["val"]["accuracy"]
        _log(f"    seed {seed}: test {seeds[-1]['test']['accuracy']:.3f} tta {seeds[-1]['test_tta']['accuracy']:.3f} "
             f"val {val_acc} ({res.seconds:.0f} s)")
    return seeds, len(train), int(len(set(s.split('#')[0] for s in test.seq_ids)))


def stat(row: dict, key: str) -> tuple[float, float] | None:
    v = [s[key] for s in row["seeds"] if s.get(key) is not None]
    return (100 * float(np.mean(v)), 100 * float(np.std(v))) if v else None


def beats(rows: dict, name: str) -> bool:
    """Whether lever `name`'s mean val beats its reference row's: strictly, so that a tie (the same correct count
    over seeds, whose float means can differ in the last bit) does not count as a win."""
    ref = REFERENCE.get(name, "baseline")
    if ref not in rows or stat(rows[name], "val") is None or stat(rows[ref], "val") is None:
        return False
    return stat(rows[name], "val")[0] > stat(rows[ref], "val")[0] + 1e-6


def fmt(ms) -> str:
    return "-" if ms is None else f"{ms[0]:.1f} ± {ms[1]:.1f}"


def render(rows: dict, args, minutes: float, label: str) -> str:
    lines = [
        f"# Action-image ablation: {label}", "",
        f"Command: `python benchmarks/bench_action_ablation.py {' '.join(sys.argv[1:])}`".rstrip() + "  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), torch threads 1; wall time {minutes:.1f} min"
        f"{' (this part of a resumed run)' if args.resume else ''}.",
        "",
        f"DenseNet-BC {DENSENET} on Enhanced-SPMF; {args.epochs} epochs, batch 32, AdamW lr 0.002, cosine, label "
        f"smoothing 0.1; {args.seeds} training seeds per row (mean ± std, %); validation = 20 % of the training "
        f"subjects (data seed {args.data_seed}); TTA = mean softmax over the sequence and {args.tta} random copies.",
        "",
        "| lever | what changes | test | test, TTA | Δ test | against | val | val, TTA | train images | s / run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        t = stat(row, "test")
        ref = row.get("reference", REFERENCE.get(name, "baseline"))
        base = stat(rows[ref], "test") if ref in rows and ref != name else None
        delta = "-" if base is None else f"{t[0] - base[0]:+.1f}"
        secs = np.median([s["seconds"] for s in row["seeds"]])
        lines.append(f"| {name} | {row.get('what', LEVERS.get(name, ('',))[0])} | {fmt(t)} | {fmt(stat(row, 'test_tta'))} "
                     f"| {delta} | {ref if base is not None else '-'} | {fmt(stat(row, 'val'))} | {fmt(stat(row, 'val_tta'))} | {row['n_train']} | {secs:.0f} |")
    lines += ["", "Per seed (test %): " + "; ".join(
        f"{n}: " + ", ".join(f"{100 * s['test']:.1f}" for s in r["seeds"]) for n, r in rows.items()), ""]
    fused = {n: r for n, r in rows.items() if r["recipe"].get("fuse")}
    if fused:
        lines += ["Fusion rows, each stream alone per seed (test %): " + "; ".join(
            f"{n} / {stream.get('encoding', '?')}: " + ", ".join(f"{100 * s['streams'][i]['test']:.1f}" for s in r["seeds"])
            for n, r in fused.items() for i, stream in enumerate(r["recipe"]["fuse"])), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--dataset", choices=["msr_action3d", "utkinect"], default="msr_action3d")
    ap.add_argument("--protocol", default="cross_subject")
    ap.add_argument("--rows", default=",".join(LEVERS), help=f"levers to run (always with baseline): {', '.join(LEVERS)}")
    ap.add_argument("--no-combined", action="store_true", help="leave out the row combining the levers that won on val")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--tta", type=int, default=8)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "action_ablation.md",
                    help="the table; its .json sibling is written after every row")
    ap.add_argument("--resume", action="store_true", help="keep the rows an interrupted run already wrote")
    ap.add_argument("--skip-baseline", action="store_true",
                    help="rows only (to split one ablation over processes; join them with --resume into one .json)")
    args = ap.parse_args(argv)
    names = ([] if args.skip_baseline else ["baseline"]) + [n for n in args.rows.split(",") if n and n != "baseline"]
    bad = [n for n in names if n not in LEVERS]
    if bad:
        ap.error(f"--rows: unknown lever(s) {bad}; choose from {', '.join(LEVERS)}")
    from posenas.datasets.registry import load_dataset

    folder = "msr_action3d" if args.dataset == "msr_action3d" else "utkinect_action3d"
    dataset = load_dataset(args.data / folder, args.dataset)
    label = f"{'MSR Action3D' if args.dataset == 'msr_action3d' else 'UTKinect'} {args.protocol}"
    started = time.time()
    partial = args.out.with_suffix(".json")
    rows: dict[str, dict] = {}
    if args.resume and partial.is_file():  # rows finished by an interrupted run with the same settings
        old = json.loads(partial.read_text())
        if old.get("settings") == _settings(args):
            rows = old["rows"]  # every finished row is kept (and rendered), not only the ones asked for now
            _log(f"resumed {list(rows)} from {partial}")

    def save() -> None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps({"settings": _settings(args), "rows": rows}, indent=1, default=str))

    with tempfile.TemporaryDirectory(prefix="ablation_") as tmp:
        for name in names:
            if name in rows:
                continue
            _log(f"{label}: {name}")
            rows[name] = run_row(dataset, args.protocol, recipe(LEVERS[name][1]), args, Path(tmp))
            save()
        # levers of one family only: on the native space when any was asked for, else on the baseline's; the
        # joint image's levers on their own reference
        native = any(n.startswith("native_") for n in names)
        families = {"combined": ([n for n in names if n in COMBINABLE and n.startswith("native_") == native],
                                 "native" if native else "baseline"),
                    "combined_joints": ([n for n in names if n in JOINT_COMBINABLE], "native_joints_image"),
                    "combined_joints_all": ([n for n in names if n in JOINTS_ALL_COMBINABLE], "joints_all")}
        for row_name, (candidates, ref) in families.items():
            if args.no_combined or row_name in rows:
                continue
            won = winners(rows, candidates)
            if len(won) >= 2:
                _log(f"{label}: {row_name} {won}")
                rows[row_name] = run_row(dataset, args.protocol, recipe(combine(won)), args, Path(tmp))
                rows[row_name]["reference"] = ref
                rows[row_name]["what"] = "levers whose mean val beat their reference row's: " + ", ".join(won)
                save()
    text = render(rows, args, (time.time() - started) / 60, label)
    print(text)
    args.out.write_text(text)
    return 0


def _settings(args) -> dict:
    return {k: str(getattr(args, k)) for k in ("data", "dataset", "protocol", "seeds", "epochs", "tta", "data_seed")}


if __name__ == "__main__":
    sys.exit(main())
