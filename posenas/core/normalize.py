"""Coordinate normalisations between detector output, lifter input and 3D targets, and gap filling.

The lifter sees 2D keypoints in a resolution-free frame (`normalize_screen`, as VideoPose3D, or
`bbox_normalize` when the camera/image is unknown) and predicts root-relative 3D (`root_relative`).
Each normalisation has an exact inverse so predictions can be drawn back onto the video.
"""

from __future__ import annotations

import numpy as np


def as_float(x: np.ndarray) -> np.ndarray:
    """Keep float32/float64 as they are (no copy); anything else (ints, lists) becomes float64."""
    x = np.asarray(x)
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def root_relative(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """Joints (..., J, D) minus the root joint, so the root sits at the origin (translation removed)."""
    joints = as_float(joints)
    return joints - joints[..., root : root + 1, :]


def normalize_screen(kp: np.ndarray, w: float, h: float) -> np.ndarray:
    """Pixels (..., 2) -> kp / w * 2 - [1, h / w]: x in [-1, 1], aspect ratio kept (VideoPose3D)."""
    kp = as_float(kp)
    if kp.shape[-1] != 2:
        raise ValueError(f"normalize_screen: expected (..., 2) keypoints, got {kp.shape}")
    return kp / w * 2 - np.array([1.0, h / w], dtype=kp.dtype)


def unnormalize_screen(kp: np.ndarray, w: float, h: float) -> np.ndarray:
    """Inverse of `normalize_screen`: back to pixels."""
    kp = as_float(kp)
    if kp.shape[-1] != 2:
        raise ValueError(f"unnormalize_screen: expected (..., 2) keypoints, got {kp.shape}")
    return (kp + np.array([1.0, h / w], dtype=kp.dtype)) * w / 2


def bbox_normalize(
    kp: np.ndarray, conf: np.ndarray | None = None, margin: float = 0.1, min_conf: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pose, centre on the keypoints' bounding box and divide by half its longer side (+ margin).

    kp (..., J, 2) -> (kp_norm (..., J, 2), center (..., 2), scale (...)). Joints with conf <= min_conf
    do not shape the box (they may land outside [-1, 1]); the aspect ratio is kept, so the box's
    longer side spans [-1/(1+margin), 1/(1+margin)]. A pose with no usable joint gets center 0,
    scale 1 and kp_norm 0 (fill such frames with `interpolate_missing` first).
    """
    kp = as_float(kp)
    if kp.shape[-1] != 2 or kp.ndim < 2:
        raise ValueError(f"bbox_normalize: expected (..., J, 2) keypoints, got {kp.shape}")
    valid = np.isfinite(kp).all(axis=-1)
    if conf is not None:
        conf = np.asarray(conf)
        if conf.shape != kp.shape[:-1]:
            raise ValueError(f"bbox_normalize: conf shape {conf.shape} != keypoints {kp.shape[:-1]}")
        valid &= conf > min_conf
    m = valid[..., None]
    any_valid = valid.any(axis=-1)
    m = m | ~any_valid[..., None, None]  # empty poses: any finite box, replaced below
    lo = np.where(m, np.nan_to_num(kp), np.inf).min(axis=-2)
    hi = np.where(m, np.nan_to_num(kp), -np.inf).max(axis=-2)
    center = np.where(any_valid[..., None], (lo + hi) / 2, 0).astype(kp.dtype)
    half = np.where(any_valid, (hi - lo).max(axis=-1) / 2 * (1 + margin), 1).astype(kp.dtype)
    scale = np.maximum(half, np.asarray(1e-6, dtype=kp.dtype))
    kp_norm = (kp - center[..., None, :]) / scale[..., None, None]
    kp_norm = np.where(any_valid[..., None, None], kp_norm, 0).astype(kp.dtype)
    return kp_norm, center, scale


def bbox_unnormalize(kp_norm: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of `bbox_normalize`: kp_norm * scale + center."""
    kp_norm = as_float(kp_norm)
    return kp_norm * np.asarray(scale, dtype=kp_norm.dtype)[..., None, None] + np.asarray(
        center, dtype=kp_norm.dtype
    )[..., None, :]


def _runs(mask: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()


def interpolate_missing(kp: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Fill invalid entries of kp (T, J, D) by linear interpolation in time, per joint.

    Gaps at the start or end take the nearest valid value. A joint never valid in the clip is left
    as given (nothing to interpolate from). Returns (filled, gap_lengths) where gap_lengths are the
    lengths, in frames and in time order, of the runs of frames in which at least one joint was filled
    (so a frame without a detected person counts once, not once per joint).
    """
    kp = as_float(kp)
    valid = np.asarray(valid, dtype=bool)
    if kp.ndim != 3 or valid.shape != kp.shape[:2]:
        raise ValueError(f"interpolate_missing: expected kp (T, J, D) and valid (T, J), got {kp.shape}, {valid.shape}")
    filled = kp.copy()
    t = np.arange(kp.shape[0])
    was_filled = np.zeros(kp.shape[0], dtype=bool)
    for j in range(kp.shape[1]):
        ok = valid[:, j]
        if ok.all() or not ok.any():
            continue
        miss = ~ok
        for d in range(kp.shape[2]):
            filled[miss, j, d] = np.interp(t[miss], t[ok], kp[ok, j, d])
        was_filled |= miss
    return filled, _runs(was_filled)
