"""Inference API of the 2D->3D lifter: what the video pipeline calls.

`load_lifter()` gives the shipped two-stream model (trained on CMU mocap through virtual cameras);
`Lifter.lift(kp2d, conf, width, height)` turns a clip of h36m17 pixel keypoints into root-relative
3D joints in metres (camera axes: x right, y down, z forward), one pose per input frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posenas.platform.lifting.config import LifterConfig

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "lifter"
DEFAULT_CHECKPOINT = ASSET_DIR / "two_stream_cmu.pt"
# Same model with a causal motion stream: no look-ahead, so live video gets each pose without waiting
# receptive_field // 2 frames (load_lifter(CAUSAL_CHECKPOINT)).
CAUSAL_CHECKPOINT = ASSET_DIR / "two_stream_cmu_causal.pt"
MIN_CONFIDENCE = 0.05  # below this a joint counts as missing, as in training (zeroed, confidence 0)


def prepare_inputs(
    kp2d: np.ndarray, conf: np.ndarray | None, width: float, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (T, J, 2) -> (normalised screen coords, confidence), both float32.

    Missing joints (NaN, or confidence below MIN_CONFIDENCE) become 0 with confidence 0 — the same
    encoding the training data uses for dropped joints — so the model knows not to trust them.
    """
    from posenas.core.normalize import normalize_screen

    kp = np.asarray(kp2d, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"lift: expected kp2d (T, J, 2) pixels, got shape {kp.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"lift: image size must be positive, got {width}x{height}")
    c = np.ones(kp.shape[:2], np.float32) if conf is None else np.asarray(conf, dtype=np.float32)
    if c.shape != kp.shape[:2]:
        raise ValueError(f"lift: conf shape {c.shape} does not match kp2d {kp.shape[:2]}")
    c = np.clip(np.nan_to_num(c, nan=0.0), 0.0, 1.0)
    missing = ~np.isfinite(kp).all(axis=-1) | (c < MIN_CONFIDENCE)
    x = normalize_screen(np.where(missing[..., None], 0.0, kp).astype(np.float32), width, height).astype(np.float32)
    x[missing] = 0.0
    c[missing] = 0.0
    return x, c


def predict_normalized(
    model: Any, config: LifterConfig, x: np.ndarray, conf: np.ndarray, max_frames_per_pass: int = 2048
) -> np.ndarray:
    """Run a lifter over one clip of normalised inputs (T, J, 2) + (T, J): edge-pad by the receptive
    field, then lift up to `max_frames_per_pass` frames per forward pass -> (T, J, 3) float32."""
    import torch

    t, j = x.shape[:2]
    out = np.empty((t, j, 3), np.float32)
    if t == 0:
        return out
    left, right = config.pad
    xp = np.pad(np.asarray(x, np.float32), ((left, right), (0, 0), (0, 0)), mode="edge")
    cp = np.pad(np.asarray(conf, np.float32), ((left, right), (0, 0)), mode="edge")
    step = max(1, int(max_frames_per_pass))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in range(0, t, step):
                e = min(t, s + step)
                b = max(0, s - 1)  # one frame more: the pass's first velocity is then the real one
                xi = torch.from_numpy(np.ascontiguousarray(xp[b : e + left + right]))[None]
                ci = torch.from_numpy(np.ascontiguousarray(cp[b : e + left + right]))[None]
                out[s:e] = model(xi, ci)[0, s - b :].numpy()
    finally:
        model.train(was_training)
    return out


@dataclass
class Lifter:
    """A loaded lifter on CPU; `lift` pads the clip's edges so every input frame gets a 3D pose."""

    model: Any
    config: LifterConfig
    info: dict[str, Any]
    path: Path | None = None
    max_frames_per_pass: int = 2048
    name: str = "lifter"  # model id (the checkpoint's name)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def lift(self, kp2d: np.ndarray, conf: np.ndarray | None, width: float, height: float) -> np.ndarray:
        """(T, 17, 2) pixels [+ (T, 17) confidence] in a width x height image -> (T, 17, 3) float32 metres,
        root-relative (pelvis at 0), camera axes. Clips shorter than the receptive field are edge-padded."""
        x, c = prepare_inputs(kp2d, conf, width, height)
        if x.shape[1] != self.config.num_joints:
            raise ValueError(f"lift: model expects {self.config.num_joints} h36m17 joints, got {x.shape[1]}")
        return predict_normalized(self.model, self.config, x, c, self.max_frames_per_pass)


def load_lifter(path: str | Path | None = None) -> Lifter:
    """Load a lifter checkpoint (None -> the shipped default in posenas/assets/lifter/)."""
    from posenas.errors import PosenasError
    from posenas.platform.lifting.checkpoint import load_checkpoint

    p = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if path is None and not p.is_file():
        raise PosenasError(f"the shipped lifter checkpoint is missing ({p}); reinstall posenas or pass a path")
    ck = load_checkpoint(p)
    info = {"data": ck.data, "metrics": ck.metrics, "train": ck.train, "meta": ck.meta, "records": ck.records}
    return Lifter(model=ck.model, config=ck.config, info=info, path=p, name=ck.name)
