"""Checkpoints that carry everything needed to trust and reuse a lifter: the architecture config, the
data it was trained on (dataset, path, protocol, subjects), the training settings and its validation
metrics, next to the weights. Plain dicts and tensors only, so `torch.load(weights_only=True)` reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenas import __version__
from posenas.errors import DataFormatError
from posenas.platform.lifting.config import LifterConfig
from posenas.platform.lifting.models import build_model

FORMAT = "posenas-lifter/1"


@dataclass
class LifterCheckpoint:
    """A loaded checkpoint: the rebuilt model (eval mode) and its records."""

    model: nn.Module
    config: LifterConfig
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: LifterConfig,
    data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write a checkpoint; `half=True` stores float weights as float16 (half the size, for shipping)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "posenas_version": __version__,
        "config": config.to_dict(),
        "state_dict": state,
        "data": data or {},
        "metrics": metrics or {},
        "train": train or {},
        "meta": meta or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> LifterCheckpoint:
    """Read a checkpoint written by `save_checkpoint`; a missing or foreign file raises DataFormatError."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "lifter checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise DataFormatError(path, f"not a readable torch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataFormatError(path, f"not a posenas lifter checkpoint (expected format {FORMAT!r})", field="format")
    config = LifterConfig.from_dict(payload["config"])
    model = build_model(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise DataFormatError(path, f"weights do not match the stored config: {exc}", field="state_dict") from None
    model.eval()
    return LifterCheckpoint(
        model=model, config=config, data=payload.get("data", {}), metrics=payload.get("metrics", {}),
        train=payload.get("train", {}), meta=payload.get("meta", {}),
    )
