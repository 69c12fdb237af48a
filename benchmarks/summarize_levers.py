"""Which levers moved action accuracy, and by how much: one table built from the committed benchmark JSONs.

The action study is spread over many runs (`bench_action_ablation.py` rows, `bench_actions.py` files), each
written up where it ran. This script measures nothing: it reads those JSONs and puts every lever beside its
reference row, the difference of the means and the seed pairs it won (run k against run k: the same search and
training seeds), so that no number in the summary is copied by hand. A lever whose two rows ran on different
machines is marked: searched rows are not comparable seed by seed across CPUs.

    python benchmarks/summarize_levers.py            # writes benchmarks/results/levers.{md,json}
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

MSR, UT = "MSR Action3D cross_subject", "UTKinect cross_subject"
IMAGE = "joints+isotropic+tree+motion"  # the joint image with its three options
JOINTS = f"{IMAGE} (train+val)"


@dataclass(frozen=True)
class Arm:
    """One row of a committed JSON: an ablation row (`dataset` None) or a `bench_actions.py` cell."""

    file: str
    row: str
    dataset: str | None = None


@dataclass(frozen=True)
class Lever:
    group: str
    name: str
    model: str
    protocol: str
    ref: Arm
    new: Arm


def _abl(file: str, ref: str, new: str) -> tuple[Arm, Arm]:
    return Arm(file, ref), Arm(file, new)


def _cell(ref_file: str, new_file: str, dataset: str, ref_col: str, new_col: str | None = None) -> tuple[Arm, Arm]:
    return Arm(ref_file, ref_col, dataset), Arm(new_file, new_col or ref_col, dataset)


ABL = "Image and training levers, DenseNet ablation (train split, best-val epoch; validation decides, test reported)"
BENCH = "At the benchmark's measure (train+val for the fixed epochs, last epoch kept, 3 runs)"
SEARCH = "Search levers (ENAS and random search; rows with val: train split, best-val epoch, validation decides)"
VS = ("ENAS against its baselines (train+val; random search and the DenseNet on the same images at the same budget, "
      "the TCN on the joints at its own: 4 copies, 30 epochs)")

MA, UA = "action_ablation.json", "action_ablation_utkinect.json"
ENAS, RAND, DN = "ENAS cell net", "random search cell net", "DenseNet"
ENAS_PF = "ENAS (<= 4 parameter-free ops per cell) cell net"
ENAS_WU = "ENAS (4 warm-up epochs) cell net"
VAL40 = "(ranks on 40 % of the training subjects)"
J = "actions_joints_"
C = "actions_joints_combined_"


def _held_out(name: str, tag: str, column: str) -> tuple[Lever, Lever]:
    """A search lever's `--select-on-val` rows (all three levers) against the untreated ones, MSR then UTKinect."""
    return tuple(Lever(SEARCH, name, ENAS, proto,
                       *_cell(C + f"{pre}enas_c8e60r45_selectval.json", C + f"{pre}enas_{tag}_c8e60r45_selectval.json",
                              proto, f"{ENAS} / {IMAGE}", f"{column} / {IMAGE}"))
                 for proto, pre in ((MSR, ""), (UT, "ut_")))


def _against_baselines(proto: str, pre: str, enas_column: str) -> tuple[Lever, ...]:
    """The capped ENAS row with all three levers against each baseline (`pre`: the protocol's file prefix)."""
    enas = Arm(C + f"{pre}enas_pf4_c8e60r45.json", f"{enas_column} / {JOINTS}", proto)
    baselines = (("ENAS (capped) instead of random search (uncapped), all three levers",
                  Arm(C + f"{pre}random_c8e60r45.json", f"{RAND} / {JOINTS}", proto)),
                 ("ENAS instead of random search, both capped (the default), all three levers",
                  Arm(C + f"{pre}random_pf4_c8e60r45.json", f"{RAND} / {JOINTS}", proto)),
                 ("ENAS instead of the DenseNet (all three levers)",
                  Arm(C + f"{pre}densenet_c8e60r45.json", f"DenseNet / {JOINTS}", proto)),
                 ("ENAS image net (all three levers) instead of the TCN on joints",
                  Arm("actions_joints_sequence_models.json", "TCN / joints (train+val)", proto)))
    return tuple(Lever(VS, name, ENAS, proto, ref, enas) for name, ref in baselines)


LEVERS: tuple[Lever, ...] = (
    # --- the DenseNet ablation, one lever at a time against its reference row
    Lever(ABL, "Kinect's own axes instead of the canonical body frame", DN, MSR, *_abl(MA, "baseline", "native")),
    Lever(ABL, "body-centred, turned to face +z (vs native)", DN, MSR, *_abl(MA, "native", "body")),
    Lever(ABL, "body-centred, turned to face +z (vs native)", DN, UT, *_abl(UA, "native", "body")),
    Lever(ABL, "joint-coordinate image instead of Enhanced-SPMF", DN, MSR, *_abl(MA, "native", "native_joints_image")),
    Lever(ABL, "joint-coordinate image instead of Enhanced-SPMF", DN, UT, *_abl(UA, "native", "native_joints_image")),
    Lever(ABL, "joint image: one scale for x, y, z", DN, MSR, *_abl(MA, "native_joints_image", "native_joints_iso")),
    Lever(ABL, "joint image: one scale for x, y, z", DN, UT, *_abl(UA, "native_joints_image", "native_joints_iso")),
    Lever(ABL, "joint image: rows along the tree walk", DN, MSR, *_abl(MA, "native_joints_image", "native_joints_tree")),
    Lever(ABL, "joint image: rows along the tree walk", DN, UT, *_abl(UA, "native_joints_image", "native_joints_tree")),
    Lever(ABL, "joint image: velocity rows", DN, MSR, *_abl(MA, "native_joints_image", "native_joints_motion")),
    Lever(ABL, "joint image: velocity rows", DN, UT, *_abl(UA, "native_joints_image", "native_joints_motion")),
    Lever(ABL, "late fusion with Enhanced-SPMF", DN, MSR, *_abl(MA, "combined_joints", "native_fusion")),
    Lever(ABL, "late fusion with Enhanced-SPMF", DN, UT, *_abl(UA, "combined_joints", "native_fusion")),
    Lever(ABL, "8 augmented copies instead of 4", DN, MSR, *_abl(MA, "joints_all", "joints_all_copies8")),
    Lever(ABL, "8 augmented copies instead of 4", DN, UT, *_abl(UA, "joints_all", "joints_all_copies8")),
    Lever(ABL, "60 epochs instead of 30", DN, MSR, *_abl(MA, "joints_all", "joints_all_epochs60")),
    Lever(ABL, "60 epochs instead of 30", DN, UT, *_abl(UA, "joints_all", "joints_all_epochs60")),
    Lever(ABL, "rotation ±45° instead of ±20°", DN, MSR, *_abl(MA, "joints_all", "joints_all_rotate45")),
    Lever(ABL, "rotation ±45° instead of ±20°", DN, UT, *_abl(UA, "joints_all", "joints_all_rotate45")),
    Lever(ABL, "speed x0.8-1.25 and 1 cm joint noise", DN, MSR, *_abl(MA, "joints_all", "joints_all_speed_noise")),
    Lever(ABL, "speed x0.8-1.25 and 1 cm joint noise", DN, UT, *_abl(UA, "joints_all", "joints_all_speed_noise")),
    Lever(ABL, "48x48 images instead of 32x32", DN, MSR, *_abl(MA, "joints_all", "joints_all_size48")),
    Lever(ABL, "48x48 images instead of 32x32", DN, UT, *_abl(UA, "joints_all", "joints_all_size48")),
    *(Lever(ABL, f"joints smoothed along time, Gaussian sigma {sigma}", DN, proto,
            *_abl(abl, "joints_all", f"joints_all_smooth{sigma[0]}"))
      for sigma in ("1 frame", "2 frames") for proto, abl in ((MSR, MA), (UT, UA))),
    Lever(ABL, "every bone at its clip-mean length", DN, UT, *_abl(UA, "joints_all", "joints_all_rigid")),
    Lever(ABL, "left/right mirror with joint swap", DN, MSR, *_abl(MA, "native", "native_mirror")),
    Lever(ABL, "train on train+val for the fixed epochs", DN, MSR, *_abl(MA, "native", "native_trainval")),
    # --- the same levers carried to the benchmark's measure
    Lever(BENCH, "joint image instead of Enhanced-SPMF", DN, MSR,
          *_cell(J + "densenet_espmf.json", J + "densenet.json", MSR, "DenseNet / enhanced_spmf (train+val)",
                 "DenseNet / joints (train+val)")),
    Lever(BENCH, "joint image instead of Enhanced-SPMF", ENAS, MSR,
          *_cell("actions_reward_acc.json", J + "enas.json", MSR, "ENAS cell net / enhanced_spmf (train+val)",
                 "ENAS cell net / joints (train+val)")),
    Lever(BENCH, "joint image: its three options", DN, MSR,
          *_cell(J + "densenet.json", C + "densenet.json", MSR, "DenseNet / joints (train+val)", f"DenseNet / {JOINTS}")),
    Lever(BENCH, "joint image: its three options", ENAS, MSR,
          *_cell(J + "enas.json", C + "enas.json", MSR, "ENAS cell net / joints (train+val)", f"{ENAS} / {JOINTS}")),
    Lever(BENCH, "joint image: its three options", RAND, MSR,
          *_cell(J + "random.json", C + "random.json", MSR, f"{RAND} / joints (train+val)", f"{RAND} / {JOINTS}")),
    Lever(BENCH, "joint image: its three options", ENAS, UT,
          *_cell(J + "ut_enas.json", C + "ut_enas.json", UT, "ENAS cell net / joints (train+val)", f"{ENAS} / {JOINTS}")),
    Lever(BENCH, "joint image: its three options", DN, UT,
          *_cell(J + "ut_densenet.json", C + "ut_densenet.json", UT, "DenseNet / joints (train+val)",
                 f"DenseNet / {JOINTS}")),
    *(Lever(BENCH, "joint image: its three options", ENAS, f"MSR Action3D {s}",
            *_cell(J + "as_enas.json", C + "as_enas.json", f"MSR Action3D {s}", "ENAS cell net / joints (train+val)",
                   f"{ENAS} / {JOINTS}")) for s in ("AS1", "AS2", "AS3")),
    *(Lever(BENCH, name, model, proto,
            *_cell(C + stem + a + ".json", C + stem + b + ".json", proto, f"{model_col} / {JOINTS}"))
      for name, a, b in (("8 copies and 60 epochs", "", "_c8e60"),
                         ("rotation ±45° on top of 8 copies and 60 epochs", "_c8e60", "_c8e60r45"))
      for model, model_col, proto, stem in ((DN, "DenseNet", MSR, "densenet"), (DN, "DenseNet", UT, "ut_densenet"),
                                            (ENAS, ENAS, UT, "ut_enas"), (RAND, RAND, UT, "ut_random"))),
    Lever(BENCH, "joints smoothed along time, sigma 1 frame (on top of all three)", DN, UT,
          *_cell(C + "ut_densenet_c8e60r45.json", C + "ut_densenet_smooth1_c8e60r45.json", UT, f"DenseNet / {JOINTS}",
                 f"DenseNet / {IMAGE}+smooth1 (train+val)")),
    Lever(BENCH, "8 copies, 60 epochs, rotation ±45° (all three)", ENAS, MSR,
          *_cell(C + "enas.json", C + "enas_c8e60r45.json", MSR, f"{ENAS} / {JOINTS}")),
    Lever(BENCH, "8 copies, 60 epochs, rotation ±45° (all three)", RAND, MSR,
          *_cell(C + "random.json", C + "random_c8e60r45.json", MSR, f"{RAND} / {JOINTS}")),
    # --- the search itself
    Lever(SEARCH, "16 search epochs instead of 8 (joint image)", ENAS, MSR,
          *_cell(J + "enas.json", J + "enas16.json", MSR, "ENAS cell net / joints (train+val)")),
    Lever(SEARCH, "16 search epochs instead of 8 (joint image)", RAND, MSR,
          *_cell(J + "random.json", J + "random16.json", MSR, f"{RAND} / joints (train+val)")),
    Lever(SEARCH, "likelihood reward instead of accuracy (Enhanced-SPMF)", ENAS, MSR,
          *_cell("actions_reward_acc.json", "actions_reward_likelihood.json", MSR,
                 "ENAS cell net / enhanced_spmf (train+val)", "ENAS (likelihood reward) cell net / enhanced_spmf (train+val)")),
    *_held_out("4 warm-up epochs of 8 (all three levers)", "warmup4", ENAS_WU),
    Lever(SEARCH, "4 warm-up epochs of 8 (all three levers), train+val", ENAS, UT,
          *_cell(C + "ut_enas_c8e60r45.json", C + "ut_enas_warmup4_c8e60r45.json", UT, f"{ENAS} / {JOINTS}",
                 f"{ENAS_WU} / {JOINTS}")),
    *_held_out("at most 4 parameter-free ops per cell (all three levers)", "pf4", ENAS_PF),
    Lever(SEARCH, "at most 4 parameter-free ops per cell (all three levers), train+val", ENAS, MSR,
          *_cell(C + "enas_c8e60r45.json", C + "enas_pf4_c8e60r45.json", MSR, f"{ENAS} / {JOINTS}",
                 f"{ENAS_PF} / {JOINTS}")),
    Lever(SEARCH, "at most 4 parameter-free ops per cell (all three levers), train+val", ENAS, UT,
          *_cell(C + "ut_enas_c8e60r45.json", C + "ut_enas_pf4_c8e60r45.json", UT, f"{ENAS} / {JOINTS}")),
    Lever(SEARCH, "at most 4 parameter-free ops per cell (default image and budget), train+val", ENAS, MSR,
          *_cell("actions_reward_acc.json", "actions_search_enas_pf4.json", MSR,
                 "ENAS cell net / enhanced_spmf (train+val)", f"{ENAS_PF} / enhanced_spmf (train+val)")),
    *(Lever(SEARCH, "at most 4 parameter-free ops per cell (joint image and options), train+val", ENAS,
            f"MSR Action3D {s}", *_cell(C + "as_enas.json", C + "as_enas_pf4.json", f"MSR Action3D {s}",
                                        f"{ENAS} / {JOINTS}")) for s in ("AS1", "AS2", "AS3")),
    Lever(SEARCH, "at most 4 parameter-free ops per cell (all three levers), train+val", RAND, MSR,
          *_cell(C + "random_c8e60r45.json", C + "random_pf4_c8e60r45.json", MSR, f"{RAND} / {JOINTS}")),
    Lever(SEARCH, "at most 4 parameter-free ops per cell (all three levers), train+val", RAND, UT,
          *_cell(C + "ut_random_c8e60r45.json", C + "ut_random_pf4_c8e60r45.json", UT, f"{RAND} / {JOINTS}")),
    *(Lever(SEARCH, "at most 4 parameter-free ops per cell (joint image and options), train+val", RAND,
            f"MSR Action3D {s}", *_cell(C + "as_random.json", C + "as_random_pf4.json", f"MSR Action3D {s}",
                                        f"{RAND} / {JOINTS}")) for s in ("AS1", "AS2", "AS3")),
    *(Lever(SEARCH, "ranking on 2 of the 5 training subjects instead of 1 (all three levers), train+val", model, proto,
            *_cell(C + f"{pre}{stem}_pf4_c8e60r45.json", C + f"{pre}{stem}_val40_c8e60r45.json", proto,
                   f"{ref_col} / {JOINTS}", f"{name} {VAL40} cell net / {JOINTS}"))
      for model, proto, pre, stem, ref_col, name in ((ENAS, MSR, "", "enas", ENAS_PF, "ENAS"),
                                                     (ENAS, UT, "ut_", "enas", ENAS, "ENAS"),
                                                     (RAND, UT, "ut_", "random", RAND, "random search"))),
    # --- the comparisons the issue asks for, at the largest budget each protocol ran
    *_against_baselines(MSR, "", ENAS_PF),
    *_against_baselines(UT, "ut_", ENAS),
    *(Lever(VS, f"ENAS instead of random search (joint image and options{cap})", ENAS, f"MSR Action3D {s}",
            Arm(C + f"as_random{pf}.json", f"{RAND} / {JOINTS}", f"MSR Action3D {s}"),
            Arm(C + f"as_enas{pf}.json", f"{ENAS} / {JOINTS}", f"MSR Action3D {s}"))
      for pf, cap in (("", ", both uncapped"), ("_pf4", ", both capped: the default")) for s in ("AS1", "AS2", "AS3")),
    Lever(VS, "ENAS instead of random search, both ranking on 2 of the 5 training subjects (all three levers)", ENAS, UT,
          Arm(C + "ut_random_val40_c8e60r45.json", f"random search {VAL40} cell net / {JOINTS}", UT),
          Arm(C + "ut_enas_val40_c8e60r45.json", f"ENAS {VAL40} cell net / {JOINTS}", UT)),
)


class SummaryError(Exception):
    """A lever names a file or row the results folder does not hold."""


def load_arm(results: Path, arm: Arm) -> dict:
    """Per-seed test (and val, where the row held one out) accuracies of one row, in %, with its machine."""
    path = results / arm.file
    if not path.is_file():
        raise SummaryError(f"{path}: no such results file")
    data = json.loads(path.read_text())
    if arm.dataset is None:
        row = data.get("rows", {}).get(arm.row)
        if row is None:
            raise SummaryError(f"{path}: no ablation row {arm.row!r}")
        seeds = row["seeds"]
        test = [100 * s["test"] for s in seeds]
        val = [100 * s["val"] for s in seeds] if all(s.get("val") is not None for s in seeds) else None
    else:
        row = data.get("results", {}).get(arm.dataset, {}).get(arm.row)
        if not isinstance(row, dict) or not row.get("per_seed"):
            raise SummaryError(f"{path}: no finished row {arm.row!r} under {arm.dataset!r}")
        test = [100 * a for a in row["per_seed"]]
        pv = row.get("per_seed_val") or []
        val = [100 * a for a in pv] if pv and all(a is not None for a in pv) else None
    return {"test": test, "val": val, "machine": data.get("machine")}


def compare(ref: dict, new: dict, key: str) -> dict | None:
    """Difference of the means and, where both rows ran the same seeds, the seed pairs the lever won."""
    a, b = ref[key], new[key]
    if a is None or b is None:
        return None
    out = {"ref": float(np.mean(a)), "ref_std": float(np.std(a)), "new": float(np.mean(b)),
           "new_std": float(np.std(b)), "delta": float(np.mean(b) - np.mean(a)), "n": (len(a), len(b))}
    if len(a) == len(b):
        d = np.asarray(b) - np.asarray(a)
        out["ahead"], out["behind"] = int((d > 1e-9).sum()), int((d < -1e-9).sum())
    return out


def summarize(results: Path = RESULTS, levers: tuple[Lever, ...] | None = None) -> list[dict]:
    """Every lever (default: `LEVERS`) beside its reference; all files are read before anything is written."""
    rows = []
    for lv in LEVERS if levers is None else levers:
        ref, new = load_arm(results, lv.ref), load_arm(results, lv.new)
        same = None if ref["machine"] is None or new["machine"] is None else ref["machine"] == new["machine"]
        rows.append({**{k: v for k, v in asdict(lv).items() if k not in ("ref", "new")},
                     "ref_arm": asdict(lv.ref), "new_arm": asdict(lv.new), "same_machine": same,
                     "test": compare(ref, new, "test"), "val": compare(ref, new, "val")})
    return rows


def _pm(c: dict, side: str) -> str:
    return f"{c[side]:.1f} ± {c[side + '_std']:.1f}"


def _src(arm: dict) -> str:
    return f"`{arm['file']}`" + ("" if arm["dataset"] else f" `{arm['row']}`")


def render(rows: list[dict]) -> str:
    """Markdown: one table per group, in the order the levers are listed."""
    out = ["# Which levers moved action accuracy, and by how much", "",
           "Generated by `python benchmarks/summarize_levers.py` from the committed JSONs in `benchmarks/results/`",
           "(it measures nothing; each JSON records its command and machine, and the write-ups beside them say why",
           "each row ran). Test % as mean ± std over 3 seeds (searched rows: run k = search seed k + training seed k);",
           "Δ is the lever's mean minus its reference's; 'seed pairs' counts the runs k where the lever scored",
           "higher / lower than its reference's run k. Where a row held out a validation split, validation decided",
           "and the test column is reported only. Marked rows ran on different machines (unmarked: the same, or",
           "not recorded).", ""]
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            out += ["", f"## {group}", "",
                    "| lever | model | protocol | reference, test | with the lever, test | Δ test | seed pairs + / - "
                    "| Δ val | sources (reference; lever) |",
                    "|---|---|---|---|---|---|---|---|---|"]
        t, v = r["test"], r["val"]
        pairs = f"{t['ahead']} / {t['behind']}" if "ahead" in t else "-"
        dval = f"{v['delta']:+.1f}" if v else "-"
        name = r["name"] + (" (different machines)" if r["same_machine"] is False else "")
        out.append(f"| {name} | {r['model']} | {r['protocol']} | {_pm(t, 'ref')} | {_pm(t, 'new')} | "
                   f"**{t['delta']:+.1f}** | {pairs} | {dval} | {_src(r['ref_arm'])}; {_src(r['new_arm'])} |")
    return "\n".join(out) + "\n"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the benchmark JSONs")
    ap.add_argument("--out", type=Path, default=RESULTS / "levers.md", help="Markdown table to write")
    ap.add_argument("--json", type=Path, default=RESULTS / "levers.json", help="JSON of the same rows")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        rows = summarize(args.results)
    except SummaryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = render(rows)
    args.out.write_text(text)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
