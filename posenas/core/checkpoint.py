"""The one checkpoint format for every model posenas trains or ships (lifters, searched cell networks,
baselines): plain dicts, strings, numbers and tensors, so `torch.load(weights_only=True)` reads it and a
user's file is never unpickled. A checkpoint records what is needed to trust and reuse the model: its
family and readable config, the joint layout and coordinate space of its input, the action-image
encoding and class names (classifiers), the training data and split, the training settings and metrics.

Building the model from `family` + `config` is the job of the stage that owns the family (the lifting
and classification registries); this module only writes, reads and checks the records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "posenas-checkpoint/1"
KINDS = ("lifter", "classifier")


@dataclass
class Checkpoint:
    """One model's weights and records. `name` is the model id shown by `posenas models list` and /v1/models."""

    kind: str  # "lifter" or "classifier"
    family: str  # model family within its kind: two_stream, pose, motion, cellnet, densenet, tcn
    name: str
    config: dict[str, Any]
    state_dict: dict[str, Any]
    layout: str = "h36m17"  # joint layout of the model's input
    space: dict[str, Any] = field(default_factory=dict)  # coordinate space of the input (and output) poses
    encoding: dict[str, Any] = field(default_factory=dict)  # classifier input encoding (EncodingConfig fields)
    classes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # dataset, path, protocol, split, subjects
    metrics: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # training settings and the command that ran
    meta: dict[str, Any] = field(default_factory=dict)
    posenas_version: str = ""
    parameters: int = 0

    def records(self) -> dict[str, Any]:
        """Everything but the weights (what `models list` and the HTTP API show)."""
        d = asdict(self)
        d.pop("state_dict")
        return d


def count_parameters(model: Any) -> int:
    """Trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def save_checkpoint(path: str | Path, ckpt: Checkpoint, half: bool = False) -> Path:
    """Write atomically (temp file + rename, so an interrupted save never leaves a truncated checkpoint).

    `half=True` stores floating weights as float16 (half the size, for shipping); `read_checkpoint` gives
    them back as float32.
    """
    import torch

    from posenas._version import __version__

    if ckpt.kind not in KINDS:
        raise ValueError(f"checkpoint kind must be one of {KINDS}, got {ckpt.kind!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in ckpt.state_dict.items()}
    payload = asdict(ckpt)
    payload["state_dict"] = state
    payload["format"] = FORMAT
    payload["posenas_version"] = ckpt.posenas_version or __version__
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, kind: str | None = None) -> Checkpoint:
    """Read a checkpoint (weights_only=True). Missing, empty, corrupt or foreign files, and a checkpoint of
    another kind than asked for, raise DataFormatError naming the file and field."""
    import torch

    from posenas.errors import DataFormatError

    path = Path(path)
    if path.is_dir():
        raise DataFormatError(path, "is a folder, expected a posenas checkpoint file (.pt)")
    if not path.is_file():
        raise DataFormatError(path, "checkpoint not found")
    if path.stat().st_size == 0:
        raise DataFormatError(path, "checkpoint file is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        msg = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DataFormatError(path, f"not a readable torch checkpoint ({type(exc).__name__}: {msg})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise DataFormatError(path, f"not a posenas checkpoint (format {found!r}, expected {FORMAT!r})", field="format")
    if kind is not None and payload.get("kind") != kind:
        raise DataFormatError(path, f"is a {payload.get('kind')} checkpoint, expected a {kind}", field="kind")
    fields = {k: payload[k] for k in Checkpoint.__dataclass_fields__ if k in payload}
    missing = [k for k in ("kind", "family", "name", "config", "state_dict") if k not in fields]
    if missing:
        raise DataFormatError(path, f"checkpoint lacks {', '.join(missing)}", field=missing[0])
    fields["state_dict"] = {k: v.float() if v.is_floating_point() else v for k, v in fields["state_dict"].items()}
    return Checkpoint(**fields)
