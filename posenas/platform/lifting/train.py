"""Training loop for every lifter architecture: Adam, exponential lr decay per epoch, MPJPE loss
(+ optional bone-length and velocity terms, + per-stream auxiliary losses for the two-stream model),
fresh virtual camera views of the 3D motions every epoch, horizontal-flip augmentation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from posenas.core.checkpoint import count_parameters
from posenas.platform.lifting.config import LifterConfig, LifterTrainConfig
from posenas.platform.lifting.data import H36M, LifterData, WindowBank, flip_batch
from posenas.platform.lifting.models import TwoStreamLifter, build_model

_BONES = torch.tensor(H36M.bones, dtype=torch.long)
AUX_WEIGHT = 0.5  # per-stream heads of the two-stream model keep both streams useful on their own


def masked_mpjpe(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean joint error (metres) over valid frames; pred/gt (B, T, J, 3), valid (B, T)."""
    err = torch.linalg.vector_norm(pred - gt, dim=-1).mean(-1)
    w = valid.to(err.dtype)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def bone_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean absolute bone-length difference (metres): keeps limbs rigid where 2D is ambiguous."""
    c, p = _BONES[:, 0], _BONES[:, 1]
    lp = torch.linalg.vector_norm(pred[..., c, :] - pred[..., p, :], dim=-1)
    lg = torch.linalg.vector_norm(gt[..., c, :] - gt[..., p, :], dim=-1)
    w = valid.to(lp.dtype)[..., None]
    return ((lp - lg).abs() * w).sum() / (w.sum() * lp.shape[-1]).clamp_min(1.0)


def velocity_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Error of frame-to-frame joint motion (metres/frame): penalises jitter between neighbouring outputs."""
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    vp, vg = pred[:, 1:] - pred[:, :-1], gt[:, 1:] - gt[:, :-1]
    return masked_mpjpe(vp, vg, valid[:, 1:] & valid[:, :-1])


@dataclass
class LifterTrainResult:
    """A trained lifter with its configs, per-epoch history and final validation metrics."""

    model: nn.Module
    config: LifterConfig
    train: LifterTrainConfig
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    parameters: int = 0


def _loss(model: nn.Module, tcfg: LifterTrainConfig, x, c, y, v) -> tuple[torch.Tensor, dict[str, float]]:
    parts: dict[str, torch.Tensor] = {}
    if isinstance(model, TwoStreamLifter):
        out = model.forward_streams(x, c)
        pred = out["fused"]
        parts["aux"] = AUX_WEIGHT * (masked_mpjpe(out["pose"], y, v) + masked_mpjpe(out["motion"], y, v))
    else:
        pred = model(x, c)
    parts["mpjpe"] = masked_mpjpe(pred, y, v)
    if tcfg.weight_bone:
        parts["bone"] = tcfg.weight_bone * bone_loss(pred, y, v)
    if tcfg.weight_velocity:
        parts["velocity"] = tcfg.weight_velocity * velocity_loss(pred, y, v)
    total = sum(parts.values())
    return total, {k: float(t.detach()) for k, t in parts.items()}


def train_lifter(
    cfg: LifterConfig,
    tcfg: LifterTrainConfig,
    data: LifterData,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    val_every: int = 0,
) -> LifterTrainResult:
    """Train `cfg.arch` on `data`; evaluate on `data.val` every `val_every` epochs (0: only at the end).

    Validation never steers training (no early stopping on held-out subjects), so the final numbers
    are honest test numbers.
    """
    from tqdm.auto import tqdm

    from posenas.platform.lifting.evaluate import evaluate

    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    torch.manual_seed(tcfg.seed)
    rng = np.random.default_rng(tcfg.seed)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, amsgrad=True)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=tcfg.lr_decay)
    result = LifterTrainResult(model, cfg, tcfg, parameters=count_parameters(model))
    t0 = time.monotonic()
    pbar = tqdm(range(tcfg.epochs), desc=f"train {cfg.arch}", disable=not progress)
    for epoch in pbar:
        clips = data.train_clips(rng, tcfg.views_per_sequence, tcfg.noise)
        bank = WindowBank.build(clips, cfg.receptive_field, cfg.pad, tcfg.chunk)
        n = max(1, int(np.ceil(len(bank.starts) / tcfg.chunk)))
        order = rng.choice(bank.starts, size=n, replace=len(bank.starts) < n)
        model.train()
        sums: dict[str, float] = {}
        steps = 0
        for b in range(0, n, tcfg.batch_size):
            idx = order[b : b + tcfg.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x, c, y, v = bank.batch(idx)
            if tcfg.flip:
                f = rng.random(len(idx)) < 0.5
                x[f], c[f], y[f] = flip_batch(x[f], c[f], y[f])
            loss, parts = _loss(model, tcfg, torch.from_numpy(x), torch.from_numpy(c), torch.from_numpy(y),
                                torch.from_numpy(v))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps += 1
            for k, val in parts.items():
                sums[k] = sums.get(k, 0.0) + val
        sched.step()
        row = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "steps": steps,
               **{f"train_{k}": s / max(steps, 1) for k, s in sums.items()}, "seconds": time.monotonic() - t0}
        last = epoch + 1 == tcfg.epochs
        out_of_time = tcfg.max_minutes is not None and row["seconds"] > 60 * tcfg.max_minutes
        if data.val and (last or out_of_time or (val_every and (epoch + 1) % val_every == 0)):
            for name, r in evaluate(model, cfg, data.val).items():
                row[f"{name}_mpjpe"], row[f"{name}_p_mpjpe"] = r["mpjpe"], r["p_mpjpe"]
        result.history.append(row)
        pbar.set_postfix(loss=f"{row.get('train_mpjpe', float('nan')) * 1000:.1f}mm")
        if log:
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if out_of_time:
            break
    model.eval()
    result.seconds = time.monotonic() - t0
    if data.val:
        result.metrics = evaluate(model, cfg, data.val)
    return result


def save_result(path: str | Path, result: LifterTrainResult, data: LifterData, command: str | None = None,
                half: bool = False) -> Path:
    """Checkpoint with config, data record, training settings, history and final validation metrics."""
    from posenas.platform.lifting.checkpoint import save_checkpoint

    meta = {"seconds": result.seconds, "parameters": result.parameters, "history": result.history,
            "command": command, "epochs_run": len(result.history)}
    return save_checkpoint(path, result.model, result.config, data=data.info, metrics=result.metrics,
                           train=result.train.to_dict(), meta=meta, half=half)
