"""Linear resampling of frame sequences along time (axis 0): to a fixed length, or to another frame rate.

Positions, not angles: interpolating joint coordinates is exact for straight-line motion between frames.
"""

from __future__ import annotations

import numpy as np


def interpolate_frames(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Frames at fractional indices `positions` (0 .. T-1) of x (T, ...), linear between neighbours."""
    t = x.shape[0]
    lo = np.clip(np.floor(positions).astype(np.int64), 0, t - 1)
    hi = np.minimum(lo + 1, t - 1)
    w = (positions - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1.0 - w) * x[lo] + w * x[hi]


def resample_to_length(x: np.ndarray, frames: int) -> np.ndarray:
    """(T, ...) -> (frames, ...), first and last frame kept (fixed-length inputs for sequence models)."""
    return interpolate_frames(x, np.linspace(0.0, x.shape[0] - 1, frames))


def resample_fps(x: np.ndarray, src_fps: float, fps: float) -> np.ndarray:
    """(T, ...) captured at `src_fps` -> the frames a `fps` camera would have taken over the same span."""
    positions = np.arange(0.0, (x.shape[0] - 1) / src_fps + 1e-9, 1.0 / fps) * src_fps
    return interpolate_frames(x, positions)
