"""Search report: the genotype drawn as two cell graphs, reward and accuracy curves, a JSON summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from posenas.platform.classification.genotype import NUM_CELL_INPUTS, Cell, Genotype

_OP_COLORS = {
    "sep_conv_3x3": "tab:blue",
    "sep_conv_5x5": "tab:purple",
    "avg_pool_3x3": "tab:green",
    "max_pool_3x3": "tab:olive",
    "identity": "tab:gray",
}


def _draw_cell(ax, cell: Cell, title: str) -> None:
    """Inputs on the left, nodes in order, output on the right; each edge coloured/labelled by its op."""
    b = cell.num_nodes
    pos: dict[int, tuple[float, float]] = {0: (0.0, 0.0), 1: (0.0, 2.0)}
    for k in range(b):
        pos[NUM_CELL_INPUTS + k] = (1.0 + k, 1.0 + (0.9 if k % 2 else -0.9))
    out_xy = (b + 1.0, 1.0)
    names = {0: "c{k-2}", 1: "c{k-1}", **{NUM_CELL_INPUTS + k: f"n{k}" for k in range(b)}}
    for k, node in enumerate(cell.nodes):
        dst = pos[NUM_CELL_INPUTS + k]
        for s, (src, op) in enumerate(zip(node.inputs, node.ops)):
            sx, sy = pos[src]
            rad = 0.25 if s else -0.25
            ax.annotate(
                "", xy=dst, xytext=(sx, sy),
                arrowprops=dict(arrowstyle="-|>", color=_OP_COLORS[op], lw=1.6, shrinkA=14, shrinkB=14,
                                connectionstyle=f"arc3,rad={rad}"),
            )
            # midpoint of matplotlib's arc3 Bezier (approximate: arc3 bends in display space)
            dx, dy = dst[0] - sx, dst[1] - sy
            mx, my = (sx + dst[0]) / 2 + 0.5 * rad * dy, (sy + dst[1]) / 2 - 0.5 * rad * dx
            ax.text(mx, my, op.replace("_3x3", "3").replace("_5x5", "5"), fontsize=6, color=_OP_COLORS[op],
                    ha="center", va="center", bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    for k in cell.loose_ends():
        ax.annotate("", xy=out_xy, xytext=pos[NUM_CELL_INPUTS + k],
                    arrowprops=dict(arrowstyle="-|>", color="black", lw=0.8, ls="--", shrinkA=14, shrinkB=14))
    for i, (x, y) in pos.items():
        fc = "#ffe9a8" if i < NUM_CELL_INPUTS else "#cde4ff"
        ax.text(x, y, names[i], ha="center", va="center", fontsize=8, bbox=dict(boxstyle="round", fc=fc, ec="black"))
    ax.text(*out_xy, "concat", ha="center", va="center", fontsize=8, bbox=dict(boxstyle="round", fc="#c8f0c8", ec="black"))
    ax.set_xlim(-0.6, b + 1.6)
    ax.set_ylim(-0.8, 2.8)
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def plot_genotype(genotype: Genotype, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    b = genotype.num_nodes
    fig, axes = plt.subplots(2, 1, figsize=(1.6 * (b + 2), 6.2))
    _draw_cell(axes[0], genotype.normal, "normal cell")
    _draw_cell(axes[1], genotype.reduce, "reduction cell (inputs halved first)")
    handles = [Line2D([0], [0], color=c, lw=2, label=op) for op, c in _OP_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_curves(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Left: controller reward and its baseline per epoch. Right: train and shared-weight val accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    if any("reward" in h for h in history):
        a.plot(ep, [h.get("reward", float("nan")) for h in history], "o-", label="mean reward (val minibatch acc)")
        a.plot(ep, [h.get("baseline", float("nan")) for h in history], "--", label="moving-average baseline")
    else:
        a.text(0.5, 0.5, "no controller (random search)", ha="center", va="center", transform=a.transAxes)
    a.set_xlabel("epoch")
    a.set_ylabel("reward")
    a.set_title("controller reward")
    a.legend(fontsize=7)
    b.plot(ep, [h["train_acc"] for h in history], "o-", label="train acc (sampled children)")
    b.plot(ep, [h["val_acc"] for h in history], "s-", label="val acc (mean of sampled)")
    b.plot(ep, [h["best_val_acc"] for h in history], "^-", label="best val acc so far")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.set_ylim(0, 1)
    b.set_title("shared-weight accuracy")
    b.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(out_dir: str | Path, genotype: Genotype, history: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, str]:
    """genotype.png, curves.png, summary.json (+ genotype.json) under out_dir; returns their paths."""
    from posenas.platform.classification.genotype import save_genotype

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "genotype_json": str(save_genotype(genotype, out / "genotype.json", meta=summary)),
        "genotype_png": str(plot_genotype(genotype, out / "genotype.png", title=summary.get("title", ""))),
        "curves_png": str(plot_curves(history, out / "curves.png", title=summary.get("title", ""))),
    }
    (out / "summary.json").write_text(json.dumps({**summary, "history": history, "paths": paths}, indent=1, default=str))
    paths["summary_json"] = str(out / "summary.json")
    return paths
