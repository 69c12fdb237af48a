"""Does the shared-weight validation accuracy rank architectures the way stand-alone training does?

ENAS (posenas.search.enas) picks its child by shared-weight validation accuracy. If that number is
noise, the controller's reward and the final `derive` are noise too. This benchmark measures the rank
correlation (Kendall tau-b, scipy.stats.kendalltau) between

  * the shared-weight validation accuracy of N fixed architectures, scored on the whole validation split
    by the search's own `EnasSearch.score_full_val` after the search's own shared-weight training
    (`EnasSearch.run_epoch`, in-process with the `LocalExecutor`, no Tune), and
  * their stand-alone validation accuracy, each trained from scratch with
    `posenas.platform.classification.train.train_classifier` (ChildNet, the search's NetConfig),

for one or more shared-weight training lengths (a separate search per length, same seed, so each
length gets its own cosine schedule), scoring the same N architectures after each. The train/val
images are the search's own (`posenas.search.data.DataSpec` + `load_splits`, val carved out of the
training subjects). Test accuracy of each stand-alone child is recorded and printed but never used
for anything (no tau, no selection).

    python benchmarks/bench_search_rank.py                          # AS1, 10 archs, search 20 and 40 epochs
    python benchmarks/bench_search_rank.py --search-epochs 2 --archs 3 --train-epochs 1   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("POSENAS_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO))


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def kendall(a: list[float], b: list[float]) -> dict:
    """Kendall tau-b (ties allowed) with its two-sided p-value; NaN when one side is constant."""
    from scipy.stats import kendalltau

    res = kendalltau(a, b)
    tau, p = float(res.statistic), float(res.pvalue)
    return {"tau": None if np.isnan(tau) else tau, "p": None if np.isnan(p) else p, "n": len(a)}


def shared_scores(search, genotypes) -> tuple[list[float], list[float]]:
    """Shared-weight (accuracy, cross-entropy) on the whole validation split, as the search itself ranks children
    (`EnasSearch.score_full_val`; the loss is a finer signal than accuracy on ~20 images)."""
    scores = search.score_full_val(genotypes)
    return [float(a) for a, _ in scores], [float(l) for _, l in scores]


def run_shared(sc, train, val, genotypes, epochs: int) -> dict:
    """One in-process search of `epochs` epochs (the project's EnasSearch loop), then score the fixed archs."""
    from posenas.search.enas import make_search

    cfg = replace(sc, epochs=epochs)
    search = make_search("enas", cfg, train, val)
    t0 = time.time()
    while search.epoch < cfg.epochs:
        m = search.run_epoch()
        if m["epoch"] % 5 == 0 or m["epoch"] == cfg.epochs:
            _log(f"  shared {epochs} ep: epoch {m['epoch']} train_acc={m['train_acc']:.3f} "
                 f"val_acc(mean of {cfg.eval_samples} sampled)={m['val_acc']:.3f} reward={m['reward']:.3f}")
    secs = time.time() - t0
    accs, losses = shared_scores(search, genotypes)
    return {"epochs": epochs, "seconds": secs, "shared_val_acc": accs, "shared_val_loss": losses,
            "final_epoch": search.history[-1], "search": search}


def train_standalone(genotype, net, train, val, test, epochs: int, seed: int) -> dict:
    from posenas.platform.classification.cellnet import ChildNet
    from posenas.platform.classification.train import (ClassifierTrainConfig, evaluate_classifier, seed_everything,
                                                       train_classifier)

    seed_everything(seed)
    model = ChildNet(genotype, net)
    tc = ClassifierTrainConfig(epochs=epochs, batch_size=32, lr=2e-3, warmup_epochs=min(2, epochs - 1), num_threads=1,
                               seed=seed)
    r = train_classifier(model, train, val, tc, progress=False)  # leaves the best-val epoch's weights loaded
    best = r.history[r.best_epoch - 1]
    return {"val_acc": float(r.best_val_acc), "val_loss": float(best["val_loss"]), "best_epoch": r.best_epoch,
            "last_val_acc": float(r.history[-1]["val_acc"]), "train_seconds": r.seconds,
            "test_acc": float(evaluate_classifier(model, test)["accuracy"])}


def compute_tau(res: dict) -> None:
    """Fill res["tau"] from the measured numbers (needs >= 3 stand-alone results); recomputable from the JSON.

    Main target: stand-alone best-epoch val accuracy. On ~20 val images it takes few distinct values (ties), so
    the stand-alone val loss at that epoch is reported as a second, finer target (`*_vs_loss`)."""
    done = [a["standalone"] for a in res["archs"] if "standalone" in a]
    if len(done) < 3:
        return
    target = [d["val_acc"] for d in done]
    target_loss = [-d["val_loss"] for d in done]
    for key, s in res["shared"].items():
        acc, nloss = s["shared_val_acc"][: len(done)], [-x for x in s["shared_val_loss"][: len(done)]]
        res["tau"][key] = {"acc": kendall(acc, target), "neg_loss": kendall(nloss, target),
                           "acc_vs_loss": kendall(acc, target_loss), "neg_loss_vs_loss": kendall(nloss, target_loss)}
    res["tau_standalone_self"] = kendall(target, [d["last_val_acc"] for d in done])


def _fmt(x, pct=True):
    return "-" if x is None else (f"{100 * x:.1f}" if pct else f"{x:.3f}")


def write_outputs(res: dict, md_path: Path, json_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1, default=str))
    lens = [L for L in res["shared_epochs"] if str(L) in res["shared"]]  # phases done so far
    lines = [f"# Search ranking: shared-weight vs stand-alone validation accuracy ({res['protocol']})", "",
             "Generated by `benchmarks/bench_search_rank.py`; command:", "", f"    {res['command']}", "",
             f"Data: {res['data_spec']['dataset_path'].split('/')[-1]} {res['protocol']}, search images "
             f"(DataSpec defaults: augment_train={res['data_spec']['augment_train']}, "
             f"val_fraction={res['data_spec']['val_fraction']}): {res['n_train']} train / {res['n_val']} val "
             f"images ({res['n_test']} test, reported only). {res['n_archs']} architectures sampled "
             f"{'uniformly' if res['sample'] == 'uniform' else 'from the first search' + chr(39) + 's controller'} (seed {res['arch_seed']}); stand-alone: ChildNet, train_classifier "
             f"{res['train_epochs']} epochs, batch 32, lr 2e-3, AdamW, 1 thread, seed {res['train_seed']}, "
             "weights of the best validation epoch.", ""]
    lines += ["## Kendall tau-b (shared-weight signal vs stand-alone result)", "",
              "| shared-weight epochs | shared-weight signal | stand-alone target | tau | p | n | shared phase s |",
              "|---|---|---|---|---|---|---|"]
    names = {"acc": ("val accuracy", "val accuracy (best epoch)"), "neg_loss": ("-val loss", "val accuracy (best epoch)"),
             "acc_vs_loss": ("val accuracy", "-val loss (best epoch)"), "neg_loss_vs_loss": ("-val loss", "-val loss (best epoch)")}
    for L in lens:
        t = res["tau"].get(str(L), {})
        for sig, (a, b) in names.items():
            k = t.get(sig)
            if k:
                lines.append(f"| {L} | {a} | {b} | {_fmt(k['tau'], False)} | "
                             f"{_fmt(k['p'], False)} | {k['n']} | {res['shared'][str(L)]['seconds']:.0f} |")
    lines += ["", "Stand-alone val accuracy vs stand-alone last-epoch val accuracy (how stable the target itself is): "
              f"tau {_fmt(res.get('tau_standalone_self', {}).get('tau'), False)}, "
              f"p {_fmt(res.get('tau_standalone_self', {}).get('p'), False)}.", ""]
    hdr = "| # | genotype | " + " | ".join(f"shared acc {L} ep | shared loss {L} ep" for L in lens) + \
          " | stand-alone val | val loss | best ep | test (reported only) |"
    lines += ["## Per architecture", "", hdr, "|" + "---|" * (hdr.count("|") - 1)]
    for i, a in enumerate(res["archs"]):
        row = [str(i), f"`{a['genotype_key']}`"]
        for L in lens:
            s = res["shared"][str(L)]
            row += [_fmt(s["shared_val_acc"][i]), _fmt(s["shared_val_loss"][i], False)]
        sa = a.get("standalone")
        row += [_fmt(sa["val_acc"]), _fmt(sa["val_loss"], False), str(sa["best_epoch"]), _fmt(sa["test_acc"])] if sa \
            else ["-"] * 4
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", f"Shared-weight training (mean val acc of the search's own {res['eval_samples']} sampled children "
              "at its last epoch): " + ", ".join(
                  f"{L} ep: {_fmt(res['shared'][str(L)]['final_epoch']['val_acc'])} % "
                  f"(train acc {_fmt(res['shared'][str(L)]['final_epoch']['train_acc'])} %)" for L in lens) + ".", "",
              f"Wall-clock times (torch threads 1, one process): total {res['seconds']:.0f} s; shared phases "
              + ", ".join(f"{L} ep {res['shared'][str(L)]['seconds']:.0f} s" for L in lens)
              + f"; stand-alone trainings {res['standalone_seconds']:.0f} s. Machine: {res['machine']}.", ""]
    if res.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    md_path.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--protocol", default="AS1", help="MSR Action3D protocol (AS1, AS2, AS3, cross_subject)")
    ap.add_argument("--search-epochs", default="20,40",
                    help="shared-weight training lengths, comma-separated (20: SearchConfig's default)")
    ap.add_argument("--archs", type=int, default=10, help="architectures to rank")
    ap.add_argument("--sample", choices=["uniform", "controller"], default="uniform",
                    help="uniform: random_genotype (independent of every search); controller: drawn from the "
                         "first search's trained controller")
    ap.add_argument("--arch-seed", type=int, default=123)
    ap.add_argument("--train-epochs", type=int, default=10, help="stand-alone epochs per architecture")
    ap.add_argument("--train-seed", type=int, default=0)
    ap.add_argument("--search-seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search_rank.md")
    ap.add_argument("--json", type=Path, default=None, help="default: --out with .json")
    args = ap.parse_args(argv)
    json_path = args.json or args.out.with_suffix(".json")
    lens = [int(x) for x in args.search_epochs.split(",") if x]
    if not lens or min(lens) < 1 or args.archs < 3 or args.train_epochs < 1:
        ap.error("--search-epochs needs positive integers, --archs >= 3, --train-epochs >= 1")
    msr = args.data / "msr_action3d"
    if not msr.is_dir():
        ap.error(f"--data: no msr_action3d folder under {args.data}")

    import torch

    torch.set_num_threads(1)
    from posenas.platform.classification.genotype import Genotype, random_genotype
    from posenas.search.data import DataSpec, load_splits, search_arrays
    from posenas.search.enas import SearchConfig

    started = time.time()
    spec = DataSpec(str(msr.resolve()), "msr_action3d", args.protocol)  # the search's defaults
    train_i, val_i, test_i = load_splits(spec)
    arr = search_arrays(train_i, val_i)
    train = tuple(torch.from_numpy(a) for a in arr["train"])
    val = tuple(torch.from_numpy(a) for a in arr["val"])
    sc = SearchConfig(seed=args.search_seed)
    sc = replace(sc, net=replace(sc.net, num_classes=len(train_i.classes)))  # as api.search_only does
    _log(f"{args.protocol}: {len(train_i)} train / {len(val_i)} val / {len(test_i)} test images, "
         f"{len(train_i.classes)} classes")

    res: dict = {"protocol": args.protocol, "command": "python " + " ".join(["benchmarks/bench_search_rank.py"] + (argv if argv is not None else sys.argv[1:])),
                 "data_spec": spec.to_dict(), "n_train": len(train_i), "n_val": len(val_i), "n_test": len(test_i),
                 "search_config": sc.to_dict(), "shared_epochs": lens, "sample": args.sample, "arch_seed": args.arch_seed,
                 "n_archs": args.archs, "train_epochs": args.train_epochs, "train_seed": args.train_seed, "eval_samples": sc.eval_samples,
                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}",
                 "shared": {}, "tau": {}, "archs": [], "standalone_seconds": 0.0, "notes": []}

    genotypes: list[Genotype] = []
    if args.sample == "uniform":
        rng = np.random.default_rng(args.arch_seed)
        seen = set()
        while len(genotypes) < args.archs:
            g = random_genotype(sc.net.num_nodes, rng)
            if g.key() not in seen:
                seen.add(g.key())
                genotypes.append(g)

    def update_tau() -> None:
        compute_tau(res)

    def shared_phase(L: int) -> None:
        _log(f"shared-weight phase: {L} search epochs")
        if not genotypes:  # controller sampling: from the first search's trained controller
            out = run_shared(sc, train, val, [], L)
            s, seen = out["search"], set()
            torch.manual_seed(args.arch_seed)
            for _ in range(50 * args.archs):
                g = s._sample_no_grad(1)[0]
                if g.key() not in seen:
                    seen.add(g.key())
                    genotypes.append(g)
                if len(genotypes) == args.archs:
                    break
            accs, losses = shared_scores(s, genotypes)
            out.update(shared_val_acc=accs, shared_val_loss=losses)
            res["archs"] = [{"genotype": g.to_dict(), "genotype_key": g.key()} for g in genotypes]
        else:
            out = run_shared(sc, train, val, genotypes, L)
        out.pop("search")
        res["shared"][str(L)] = out
        _log(f"  {L} ep done in {out['seconds']:.0f} s; shared val acc of the {len(genotypes)} archs: "
             + " ".join(f"{100 * a:.0f}" for a in out["shared_val_acc"]))
        update_tau()
        write_outputs({**res, "seconds": time.time() - started}, args.out, json_path)

    res["archs"] = [{"genotype": g.to_dict(), "genotype_key": g.key()} for g in genotypes]
    # first length, then the stand-alone trainings, then the longer lengths (the optional part of the budget)
    shared_phase(lens[0])
    for i, g in enumerate(genotypes):
        sa = train_standalone(g, sc.net, train_i, val_i, test_i, args.train_epochs, args.train_seed)
        res["archs"][i]["standalone"] = sa
        res["standalone_seconds"] += sa["train_seconds"]
        _log(f"arch {i}: stand-alone val {100 * sa['val_acc']:.1f} (ep {sa['best_epoch']}) "
             f"test {100 * sa['test_acc']:.1f} in {sa['train_seconds']:.0f} s; shared "
             f"{lens[0]}ep {100 * res['shared'][str(lens[0])]['shared_val_acc'][i]:.0f}")
        update_tau()
        write_outputs({**res, "seconds": time.time() - started}, args.out, json_path)
    for L in lens[1:]:
        shared_phase(L)

    res["seconds"] = time.time() - started
    compute_tau(res)
    write_outputs(res, args.out, json_path)
    print()
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
