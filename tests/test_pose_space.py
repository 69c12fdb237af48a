"""The canonical pose space action models learn in: invariant to where the camera stood, consistent
between left- and right-handed sources, and the same for Kinect 3D and lifted 3D of one motion."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.core.skeleton import get_layout
from posenas.platform.encoding.pose_space import canonical_pose, to_pose_space


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _walker(frames: int = 30) -> np.ndarray:
    """A rough h36m17 person (y up, facing +z, left = +x) swinging arms and legs: (T, 1, 17, 3)."""
    base = np.array([
        [0, 1.0, 0], [-0.12, 1.0, 0], [-0.12, 0.55, 0], [-0.12, 0.1, 0], [0.12, 1.0, 0], [0.12, 0.55, 0],
        [0.12, 0.1, 0], [0, 1.25, 0], [0, 1.5, 0], [0, 1.6, 0.05], [0, 1.72, 0], [0.2, 1.48, 0],
        [0.25, 1.2, 0], [0.28, 0.95, 0], [-0.2, 1.48, 0], [-0.25, 1.2, 0], [-0.28, 0.95, 0]], np.float64)
    t = np.linspace(0, 2 * np.pi, frames)[:, None]
    out = np.repeat(base[None], frames, axis=0)
    swing = 0.2 * np.sin(t)
    out[:, [2, 3], 2] += swing
    out[:, [5, 6], 2] -= swing
    out[:, [12, 13], 2] -= swing
    out[:, [15, 16], 2] += swing
    return out[:, None]


def test_canonical_pose_ignores_camera_rotation_and_translation():
    x = _walker()
    ref = canonical_pose(x, "h36m17")
    for a in (0.3, 1.7, -2.5):
        moved = x @ _rot_y(a).T + np.array([3.0, 0.2, -1.0])
        np.testing.assert_allclose(canonical_pose(moved, "h36m17"), ref, atol=1e-5)


def test_camera_axes_with_y_down_come_out_upright():
    x = _walker()
    camera = x * np.array([1, -1, -1])  # rotate 180 degrees about x: y down, z toward the camera
    out = canonical_pose(camera, "h36m17")
    assert out[:, 0, 8, 1].mean() > 0.4  # thorax above the pelvis
    assert out[:, 0, 4, 0].mean() > 0.05 and out[:, 0, 1, 0].mean() < -0.05  # left hip at +x, right at -x
    np.testing.assert_allclose(out, canonical_pose(x, "h36m17"), atol=1e-5)


def test_left_handed_sources_are_mirrored_back():
    x = _walker()
    mirrored = x * np.array([-1, 1, 1])  # what a left-handed sensor frame records
    np.testing.assert_allclose(canonical_pose(mirrored, "h36m17", left_handed=True), canonical_pose(x, "h36m17"),
                               atol=1e-5)
    # without the flag the person's left and right trade places (the error this flag exists to avoid)
    wrong = canonical_pose(mirrored, "h36m17", left_handed=False)
    assert np.abs(wrong - canonical_pose(x, "h36m17")).max() > 0.1


def test_other_layouts_convert_and_root_is_at_origin_every_frame():
    lay = get_layout("h36m17")
    x = _walker()
    x[:, :, :, :] += np.linspace(0, 2, len(x))[:, None, None, None]  # the person walks away
    out = canonical_pose(x, lay.name)
    np.testing.assert_allclose(out[:, 0, 0], 0.0, atol=1e-6)
    assert to_pose_space(x, "h36m17", "native").shape == x.shape


def test_a_person_never_seen_stays_nan():
    x = np.concatenate([_walker(), np.full_like(_walker(), np.nan)], axis=1)
    out = canonical_pose(x, "h36m17")
    assert np.isfinite(out[:, 0]).all() and np.isnan(out[:, 1]).all()


@pytest.mark.realdata
def test_kinect_and_lifted_3d_of_msr_agree_better_with_the_handedness_flag(msr_root):
    """Real data: canonical Kinect 3D (left-handed Real3D) is closer to canonical lifted 3D of the same
    frames when it is mirrored back, on most sequences."""
    from posenas.core.skeleton import convert_confidence_to_h36m, convert_to_h36m
    from posenas.datasets.msr_action3d import load_msr_pairs
    from posenas.platform.lifting.inference import load_lifter

    pairs = load_msr_pairs(msr_root)[0][:200:10]
    lifter = load_lifter()
    better = 0
    for p in pairs:
        v = p.valid.all(1)
        lifted = lifter.lift(convert_to_h36m(p.uv[v], "msr20"), convert_confidence_to_h36m(p.conf[v], "msr20"), 320, 240)
        lif = canonical_pose(lifted[:, None], "h36m17")
        right = np.nanmean(np.linalg.norm(canonical_pose(p.xyz[v][:, None], "msr20", True) - lif, axis=-1))
        wrong = np.nanmean(np.linalg.norm(canonical_pose(p.xyz[v][:, None], "msr20", False) - lif, axis=-1))
        better += right < wrong
    assert better >= 0.7 * len(pairs)
