"""Frame sequences along time (axis 0): linear resampling to a fixed length or another frame rate, and smoothing.

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


def smooth_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """x (T, ...) low-passed along time by a Gaussian of `sigma` frames (0: unchanged), ends held, not zero-padded.

    Kinect v1 skeletons inferred from depth jitter by centimetres from frame to frame (Moving Pose, Zanfir et al.
    2013, smooths them before any feature); velocities taken by differencing amplify that jitter.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0 or x.shape[0] < 2:
        return x
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(x, dtype=np.float64), float(sigma), axis=0, mode="nearest")
