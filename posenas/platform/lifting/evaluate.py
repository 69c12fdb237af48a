"""Evaluate a lifter on named splits of clips: MPJPE / P-MPJPE (and the rest of
`posenas.core.metrics.pose_metrics`) overall and per group (action / motion type)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from posenas.platform.lifting.config import LifterConfig
from posenas.platform.lifting.data import Clip


def predict_clips(model: nn.Module, cfg: LifterConfig, clips: list[Clip], progress: bool = False) -> list[np.ndarray]:
    """Lift every clip in full (edge-padded), one forward pass per clip."""
    from tqdm.auto import tqdm

    from posenas.platform.lifting.inference import predict_normalized

    return [predict_normalized(model, cfg, c.x, c.conf) for c in tqdm(clips, desc="lift", disable=not progress, leave=False)]


def evaluate_split(
    model: nn.Module, cfg: LifterConfig, clips: list[Clip], by_group: bool = False, progress: bool = False
) -> dict[str, Any]:
    """Pose metrics (metres) of one split over frames with a real target; with by_group, a table per group."""
    from posenas.core.metrics import pose_error_table, pose_metrics

    if not clips:
        raise ValueError("evaluate_split: no clips")
    preds = predict_clips(model, cfg, clips, progress)
    pred = np.concatenate([p[c.valid] for p, c in zip(preds, clips)])
    gt = np.concatenate([c.y[c.valid] for c in clips])
    out: dict[str, Any] = {"frames": int(len(gt)), "clips": len(clips), **pose_metrics(pred, gt)}
    if by_group:
        groups = np.concatenate([[c.group or "-"] * int(c.valid.sum()) for c in clips])
        out["table"] = pose_error_table(pred, gt, groups.tolist())
    return out


def evaluate(
    model: nn.Module, cfg: LifterConfig, splits: dict[str, list[Clip]], by_group: bool = False, progress: bool = False
) -> dict[str, dict[str, Any]]:
    """`evaluate_split` for each named split."""
    return {name: evaluate_split(model, cfg, clips, by_group, progress) for name, clips in splits.items() if clips}


def format_results(results: dict[str, dict[str, Any]]) -> str:
    """One row per split, errors in millimetres."""
    lines = [f"{'split':<14} {'frames':>8} {'MPJPE':>8} {'P-MPJPE':>8} {'N-MPJPE':>8} {'PCK':>6}"]
    for name, r in results.items():
        lines.append(f"{name:<14} {r['frames']:>8d} {r['mpjpe'] * 1000:>8.1f} {r['p_mpjpe'] * 1000:>8.1f} "
                     f"{r['n_mpjpe'] * 1000:>8.1f} {r['pck3d'] * 100:>6.1f}")
    return "\n".join(lines)
