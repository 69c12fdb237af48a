"""The pose space action models learn in, so a classifier sees the same kind of poses in training (Kinect
3D from the datasets) and in the pipeline (3D lifted from video).

"canonical": h36m17 joints in metres, pelvis at the origin in every frame, rotated once per person and clip
so that the body's mean up direction (pelvis -> thorax) is +y and its mean left direction (right -> left hip
and shoulder) is +x; z = x cross y is then the direction the body faces (right-handed). Left-handed sources
(MSR Action3D's Real3D files) are mirrored into a right-handed frame first, or every left and right would
swap. "canonical_traj": the same axes, but the pelvis of the clip's mean is the origin, so the body's path
(walking, jumping, bending down) is kept; only poses with a trajectory have it (dataset 3D, not the
lifter's root-relative output). "native": the source's own layout and axes, as the loaders give them.
"body": the source's own joints (no conversion to h36m17, so hands and feet stay), the clip's mean pelvis at
the origin, scaled to a mean pelvis-thorax distance of 1 and turned about the vertical axis (y, up or down
in every source here) so that the body's mean left direction is +x: body-centred and view-normalised, but
gravity kept, so bending or lying down still shows. "body3d": the same with the full per-clip rotation of
the canonical spaces (the body's own mean up becomes +y, which also straightens a clip-long bend).
"""

from __future__ import annotations

import numpy as np

from posenas.core.skeleton import convert_to_h36m
from posenas.errors import PosenasError

POSE_SPACES = ("canonical", "canonical_traj", "native", "body", "body3d")

# Recorded in every action checkpoint; the pipeline checks it against what it feeds the classifier.
CANONICAL_SPACE = {
    "name": "canonical",
    "layout": "h36m17",
    "units": "metres",
    "root": "pelvis at the origin in every frame",
    "axes": "x = body left, y = body up, z = facing direction (right-handed); one rotation per person and clip",
}

_PELVIS, _RHIP, _LHIP, _THORAX, _LSHOULDER, _RSHOULDER = 0, 1, 4, 8, 11, 14


def space_record(space: str, layout: str) -> dict:
    """What a checkpoint stores about its input space."""
    if space == "canonical":
        return dict(CANONICAL_SPACE)
    if space == "canonical_traj":
        return {**CANONICAL_SPACE, "name": "canonical_traj", "root": "the clip's mean pelvis at the origin"}
    if space == "native":
        return {"name": "native", "layout": layout, "axes": "as the dataset's loader gives them"}
    if space in ("body", "body3d"):
        axes = CANONICAL_SPACE["axes"] if space == "body3d" else \
            "the source's vertical axis kept (y up); turned about it so that x = body left; z = x cross y"
        return {"name": space, "layout": layout, "units": "mean pelvis-thorax distance of the clip",
                "root": "the clip's mean pelvis at the origin", "axes": axes}
    raise PosenasError(f"unknown pose space {space!r}; available: {', '.join(POSE_SPACES)}")


def space_layout(space: str, layout: str) -> str:
    """The layout of `layout` joints once in `space` (the canonical spaces are h36m17, native keeps it)."""
    return space_record(space, layout)["layout"]


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 and np.isfinite(n) else None


def canonical_rotation(h36m: np.ndarray) -> np.ndarray:
    """(T, 17, 3) root-relative h36m17 joints of one person -> 3x3 rotation R (rows = body left, up, facing)."""
    up = _unit(np.nanmean(h36m[:, _THORAX] - h36m[:, _PELVIS], axis=0))
    across = np.nanmean((h36m[:, _LHIP] - h36m[:, _RHIP]) + (h36m[:, _LSHOULDER] - h36m[:, _RSHOULDER]), axis=0)
    if up is None:
        return np.eye(3)
    left = _unit(across - np.dot(across, up) * up)
    if left is None:
        return np.eye(3)
    facing = np.cross(left, up)
    return np.stack([left, up, facing])


def canonical_pose(joints: np.ndarray, layout: str, left_handed: bool = False,
                   keep_trajectory: bool = False) -> np.ndarray:
    """(T, P, J, 3) joints of any registered layout -> (T, P, 17, 3) float32 in the canonical space.

    Persons never seen (all NaN) stay NaN. `left_handed` mirrors x first (MSR Real3D). `keep_trajectory`
    subtracts the clip's mean pelvis instead of each frame's ("canonical_traj").
    """
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise PosenasError(f"canonical_pose: expected (T, persons, joints, 3) 3D joints, got shape {x.shape}")
    h = convert_to_h36m(x, layout) if layout != "h36m17" else x.copy()
    if left_handed:
        h[..., 0] = -h[..., 0]
    rel = h - h[:, :, _PELVIS : _PELVIS + 1]
    out = np.full(h.shape, np.nan)
    for p in range(h.shape[1]):
        track = rel[:, p]
        if not np.isfinite(track).any():
            continue
        if keep_trajectory:
            track = h[:, p] - np.nanmean(h[:, p, _PELVIS], axis=0)
        out[:, p] = track @ canonical_rotation(rel[:, p]).T
    return out.astype(np.float32)


def yaw_rotation(h36m: np.ndarray, vertical: int = 1) -> np.ndarray:
    """(T, 17, 3) root-relative h36m17 joints -> 3x3 rotation about axis `vertical` (rows = left, up, facing).

    Up is the vertical axis, signed to point from the pelvis towards the thorax; left is the mean
    right -> left hip and shoulder direction in the horizontal plane.
    """
    axis = np.eye(3)[vertical]
    lean = float(np.nanmean(h36m[:, _THORAX] - h36m[:, _PELVIS], axis=0) @ axis)
    up = axis if not np.isfinite(lean) or lean >= 0 else -axis
    across = np.nanmean((h36m[:, _LHIP] - h36m[:, _RHIP]) + (h36m[:, _LSHOULDER] - h36m[:, _RSHOULDER]), axis=0)
    left = _unit(across - np.dot(across, up) * up)
    if left is None:
        return np.eye(3)
    return np.stack([left, up, np.cross(left, up)])


def body_pose(joints: np.ndarray, layout: str, left_handed: bool = False, tilt: bool = False) -> np.ndarray:
    """(T, P, J, 3) joints -> (T, P, J, 3) float32, the same joints in the "body" space (see the module notes).

    The body frame (pelvis, hips, thorax, shoulders) comes from the layout's h36m17 mapping; only the
    frame, not the joints, is converted. `tilt`: the full rotation of "body3d" instead of the turn about
    the vertical. Persons never seen stay NaN.
    """
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise PosenasError(f"body_pose: expected (T, persons, joints, 3) 3D joints, got shape {x.shape}")
    if left_handed:
        x = x * np.array([-1.0, 1.0, 1.0])
    h = convert_to_h36m(x, layout) if layout != "h36m17" else x
    out = np.full(x.shape, np.nan)
    for p in range(x.shape[1]):
        if not np.isfinite(h[:, p]).any():
            continue
        pelvis = h[:, p, _PELVIS]
        torso = float(np.nanmean(np.linalg.norm(h[:, p, _THORAX] - pelvis, axis=-1)))
        scale = torso if np.isfinite(torso) and torso > 1e-9 else 1.0
        rel = h[:, p] - pelvis[:, None]
        rot = canonical_rotation(rel) if tilt else yaw_rotation(rel)
        out[:, p] = (x[:, p] - np.nanmean(pelvis, axis=0)) @ rot.T / scale
    return out.astype(np.float32)


def to_pose_space(joints: np.ndarray, layout: str, space: str, left_handed: bool = False) -> np.ndarray:
    """Joints as the action model of `space` wants them ("native" returns them unchanged)."""
    if space == "native":
        return np.asarray(joints, dtype=np.float32)
    if space in ("canonical", "canonical_traj"):
        return canonical_pose(joints, layout, left_handed, keep_trajectory=space == "canonical_traj")
    if space in ("body", "body3d"):
        return body_pose(joints, layout, left_handed, tilt=space == "body3d")
    raise PosenasError(f"unknown pose space {space!r}; available: {', '.join(POSE_SPACES)}")
