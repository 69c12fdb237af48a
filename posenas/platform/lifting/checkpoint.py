"""Lifter checkpoints in the one posenas format (`posenas.core.checkpoint`): kind "lifter", family = the
arch, the LifterConfig, input layout h36m17 pixels and the output space, next to the training records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from posenas.core.checkpoint import Checkpoint, count_parameters, read_checkpoint, save_checkpoint as _save
from posenas.errors import DataFormatError, PosenasError
from posenas.platform.lifting.config import LifterConfig
from posenas.platform.lifting.models import build_model

# What every lifter maps from and to; recorded in each checkpoint so a pipeline can check it.
LIFTER_SPACE = {
    "input": "h36m17 2D pixels + confidence, normalised by image size",
    "output": "h36m17 3D metres, root-relative (pelvis = 0), camera axes x right, y down, z forward",
    "name": "camera_root_relative",
}


@dataclass
class LifterCheckpoint:
    """A loaded checkpoint: the rebuilt model (eval mode) and its records."""

    model: nn.Module
    config: LifterConfig
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    records: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: LifterConfig,
    data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = False,
    name: str | None = None,
) -> Path:
    """Write a lifter checkpoint; `half=True` stores float weights as float16 (half the size, for shipping)."""
    ck = Checkpoint(
        kind="lifter", family=config.arch, name=name or Path(path).stem, config=config.to_dict(),
        state_dict=model.state_dict(), layout="h36m17", space=dict(LIFTER_SPACE), data=data or {},
        metrics=metrics or {}, train=train or {}, meta=meta or {}, parameters=count_parameters(model),
    )
    return _save(path, ck, half=half)


def load_checkpoint(path: str | Path) -> LifterCheckpoint:
    """Read a lifter checkpoint; missing, corrupt, foreign or non-lifter files raise DataFormatError."""
    ck = read_checkpoint(path, kind="lifter")
    try:
        config = LifterConfig.from_dict(ck.config)
    except (PosenasError, TypeError) as exc:
        raise DataFormatError(path, f"lifter config is invalid: {exc}", field="config") from None
    model = build_model(config)
    try:
        model.load_state_dict(ck.state_dict)
    except RuntimeError as exc:
        raise DataFormatError(path, f"weights do not match the stored config: {str(exc)[:300]}", field="state_dict") from None
    model.eval()
    return LifterCheckpoint(model=model, config=config, name=ck.name, data=ck.data, metrics=ck.metrics,
                            train=ck.train, meta=ck.meta, records=ck.records())
