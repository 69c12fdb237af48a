"""Joint-definition augmentation of the lifter's synthetic training data (`JointOffsetConfig`): the maths of
the body frame and the per-clip offsets, and that only the 2D input moves, never the 3D target."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.core.skeleton import get_layout
from posenas.errors import ConfigError
from posenas.platform.lifting.config import JointOffsetConfig, LifterTrainConfig, NoiseConfig
from posenas.platform.lifting.data import Motion, apply_joint_offsets, body_frame, sample_joint_offsets, synthesize_clips

J = {n: i for i, n in enumerate(get_layout("h36m17").joints)}


def standing_pose(frames: int = 5) -> np.ndarray:
    """An h36m17 person standing at the origin, y up, facing +z, so their left is +x (right-handed)."""
    p = {"pelvis": (0, 1.0, 0), "left_hip": (0.1, 1.0, 0), "right_hip": (-0.1, 1.0, 0),
         "left_knee": (0.1, 0.55, 0.03), "right_knee": (-0.1, 0.55, 0.03), "left_ankle": (0.1, 0.1, 0),
         "right_ankle": (-0.1, 0.1, 0), "spine": (0, 1.25, 0), "thorax": (0, 1.5, 0), "neck_nose": (0, 1.65, 0.08),
         "head": (0, 1.68, 0), "left_shoulder": (0.18, 1.5, 0), "left_elbow": (0.2, 1.22, 0),
         "left_wrist": (0.2, 0.95, 0), "right_shoulder": (-0.18, 1.5, 0), "right_elbow": (-0.2, 1.22, 0),
         "right_wrist": (-0.2, 0.95, 0)}
    one = np.array([p[n] for n in get_layout("h36m17").joints], dtype=np.float64)
    return np.repeat(one[None], frames, 0) + np.linspace(0, 1, frames)[:, None, None] * np.array([0.5, 0, 0.2])


def test_body_frame_is_orthonormal_and_faces_forward():
    left, up, fwd = body_frame(standing_pose())
    np.testing.assert_allclose(left, [[1, 0, 0]] * 5, atol=1e-9)
    np.testing.assert_allclose(up, [[0, 1, 0]] * 5, atol=1e-9)
    np.testing.assert_allclose(fwd, [[0, 0, 1]] * 5, atol=1e-9)


def test_offsets_move_each_side_outward_and_rebuild_the_torso():
    x = standing_pose()
    zero = {k: np.zeros(3) for k in ("hips", "shoulders", "nose", "head", "knees", "ankles")}
    off = dict(zero, hips=np.array([0.05, 0.08, 0.0]), nose=np.array([0.0, -0.03, 0.04]))
    y = apply_joint_offsets(x, off, detector_torso=True)
    width = lambda a: np.linalg.norm(a[:, J["left_hip"]] - a[:, J["right_hip"]], axis=-1)  # noqa: E731
    np.testing.assert_allclose(width(y) - width(x), 0.10, atol=1e-9)  # each hip 5 cm outward
    np.testing.assert_allclose(y[:, J["left_hip"], 1] - x[:, J["left_hip"], 1], 0.08, atol=1e-9)
    np.testing.assert_allclose(y[:, J["neck_nose"]] - x[:, J["neck_nose"]], [[0, -0.03, 0.04]] * 5, atol=1e-9)
    np.testing.assert_allclose(y[:, J["pelvis"]], y[:, [J["left_hip"], J["right_hip"]]].mean(1), atol=1e-12)
    np.testing.assert_allclose(y[:, J["spine"]], 0.5 * (y[:, J["pelvis"]] + y[:, J["thorax"]]), atol=1e-12)
    for name in ("left_elbow", "right_wrist", "left_knee"):  # joints of unchanged definition stay put
        np.testing.assert_array_equal(y[:, J[name]], x[:, J[name]])
    # the body turned by 90 deg about the vertical: the same offsets follow the body, not the world axes
    rot = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    np.testing.assert_allclose(apply_joint_offsets(x @ rot.T, off), y @ rot.T, atol=1e-9)
    # no offsets and no torso rebuild: identity
    np.testing.assert_array_equal(apply_joint_offsets(x, None, detector_torso=False), x)


def test_sampled_offsets_stay_in_their_ranges_and_prob_zero_leaves_clips_exact():
    cfg = JointOffsetConfig(scale=2.0, prob=1.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        off = sample_joint_offsets(rng, cfg)
        for name, value in off.items():
            lo, hi = np.array(getattr(cfg, name)).T * 2.0
            assert np.all(value >= lo) and np.all(value <= hi)
    assert sample_joint_offsets(rng, JointOffsetConfig(prob=0.0)) is None


def test_only_the_2d_input_moves_never_the_3d_target():
    motion = Motion(standing_pose(40) + np.array([0, 0, 0]), "m", 1, "stand")
    plain = NoiseConfig(sigma_px=0.0, outlier_prob=0.0, drop_prob=0.0)
    moved = NoiseConfig(sigma_px=0.0, outlier_prob=0.0, drop_prob=0.0, joint_offsets=JointOffsetConfig(prob=1.0))

    def views(noise):
        return synthesize_clips(motion, np.random.default_rng(3), 2, noise, noise_rng=np.random.default_rng(4))

    a, b = views(plain), views(moved)
    assert len(a) == len(b) == 2
    for ca, cb in zip(a, b):
        np.testing.assert_array_equal(ca.y, cb.y)
        assert np.abs(ca.x[:, [J["left_hip"], J["right_hip"]]] - cb.x[:, [J["left_hip"], J["right_hip"]]]).max() > 0
        np.testing.assert_allclose(ca.x[:, J["left_wrist"]], cb.x[:, J["left_wrist"]], atol=1e-6)


def test_config_round_trips_and_names_a_bad_range():
    t = LifterTrainConfig(noise=NoiseConfig(joint_offsets=JointOffsetConfig(scale=0.5)))
    assert LifterTrainConfig.from_dict(t.to_dict()) == t
    assert NoiseConfig.from_dict({"sigma_px": 3.0}).joint_offsets is None  # older checkpoints: off
    with pytest.raises(ConfigError, match="hips"):
        JointOffsetConfig(hips=((0.1, 0.0), (0, 0), (0, 0)))
