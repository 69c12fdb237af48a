"""Normalisations: VideoPose3D screen formula, bbox normalisation and their inverses, root-relative
joints and gap filling."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.core.normalize import (
    bbox_normalize,
    bbox_unnormalize,
    interpolate_missing,
    normalize_screen,
    root_relative,
    unnormalize_screen,
)


def test_root_relative():
    j = np.random.default_rng(0).normal(size=(4, 2, 17, 3)).astype(np.float32)
    r = root_relative(j)
    assert r.dtype == np.float32 and r.shape == j.shape
    np.testing.assert_array_equal(r[..., 0, :], 0)
    np.testing.assert_allclose(r[1, 1, 5], j[1, 1, 5] - j[1, 1, 0], atol=1e-6)
    np.testing.assert_array_equal(root_relative(j, root=3)[..., 3, :], 0)


def test_normalize_screen_known_points():
    # 1000 x 500 image: x in [-1, 1], y in [-0.5, 0.5], centre at 0 (VideoPose3D formula)
    pts = np.array([[0.0, 0.0], [1000.0, 500.0], [500.0, 250.0], [250.0, 100.0]])
    out = normalize_screen(pts, 1000, 500)
    np.testing.assert_allclose(out, [[-1, -0.5], [1, 0.5], [0, 0], [250 / 1000 * 2 - 1, 100 / 1000 * 2 - 0.5]])
    np.testing.assert_allclose(unnormalize_screen(out, 1000, 500), pts)


def test_normalize_screen_round_trip_keeps_dtype():
    kp = (np.random.default_rng(1).uniform(0, 1920, size=(10, 17, 2))).astype(np.float32)
    n = normalize_screen(kp, 1920, 1080)
    assert n.dtype == np.float32
    np.testing.assert_allclose(unnormalize_screen(n, 1920, 1080), kp, rtol=1e-5)
    with pytest.raises(ValueError):
        normalize_screen(np.zeros((3, 3)), 10, 10)


def test_bbox_normalize_known_box_and_inverse():
    kp = np.array([[[10.0, 20.0], [30.0, 20.0], [20.0, 60.0]]])  # box x 10..30, y 20..60
    norm, center, scale = bbox_normalize(kp, margin=0.0)
    np.testing.assert_allclose(center, [[20.0, 40.0]])
    np.testing.assert_allclose(scale, [20.0])  # half the longer side (height 40)
    np.testing.assert_allclose(norm[0], [[-0.5, -1.0], [0.5, -1.0], [0.0, 1.0]])
    np.testing.assert_allclose(bbox_unnormalize(norm, center, scale), kp)


def test_bbox_normalize_margin_conf_and_batch():
    rng = np.random.default_rng(2)
    kp = rng.uniform(0, 500, size=(6, 17, 2))
    conf = rng.uniform(size=(6, 17))
    conf[:, 0] = 0.0
    kp[:, 0] = 1e4  # an undetected joint far away must not stretch the box
    norm, center, scale = bbox_normalize(kp, conf, margin=0.1)
    assert norm.shape == kp.shape and center.shape == (6, 2) and scale.shape == (6,)
    inside = norm[:, 1:]
    assert np.abs(inside).max() <= 1 / 1.1 + 1e-9
    assert np.isclose(np.abs(inside).max(axis=(1, 2)), 1 / 1.1).all()  # longer side touches the margin
    np.testing.assert_allclose(bbox_unnormalize(norm, center, scale), kp)


def test_bbox_normalize_empty_and_degenerate_poses():
    kp = np.ones((2, 5, 2))
    conf = np.array([[0.0] * 5, [1.0] * 5])
    norm, center, scale = bbox_normalize(kp, conf)
    np.testing.assert_array_equal(norm[0], 0)
    np.testing.assert_array_equal(center[0], 0)
    assert scale[0] == 1.0
    assert np.isfinite(norm).all() and scale[1] > 0  # a single-point "box" must not divide by zero


def test_interpolate_missing_linear_and_edges():
    T = 8
    kp = np.stack([np.arange(T, dtype=float) * 2, np.arange(T, dtype=float) * -1], axis=-1)[:, None, :]
    kp = np.concatenate([kp, kp + 100], axis=1)  # (T, 2, 2)
    valid = np.ones((T, 2), dtype=bool)
    valid[[0, 1], 0] = False  # leading gap (2 frames) on joint 0
    valid[[3, 4, 5], 1] = False  # inner gap (3 frames) on joint 1
    valid[7, :] = False  # person missing in the last frame
    broken = kp.copy()
    broken[~valid] = np.nan
    filled, gaps = interpolate_missing(broken, valid)
    np.testing.assert_allclose(filled[[0, 1], 0], np.repeat(kp[2:3, 0], 2, axis=0))  # nearest valid
    np.testing.assert_allclose(filled[3:6, 1], kp[3:6, 1])  # linear data: interpolation is exact
    np.testing.assert_allclose(filled[7], kp[6])  # trailing edge: nearest valid
    np.testing.assert_allclose(filled[valid], kp[valid])  # valid entries untouched
    assert gaps == [2, 3, 1]  # frame runs with any joint filled, in time order


def test_interpolate_missing_never_valid_joint_and_shapes():
    kp = np.random.default_rng(3).normal(size=(5, 3, 2))
    valid = np.ones((5, 3), dtype=bool)
    valid[:, 2] = False
    filled, gaps = interpolate_missing(kp, valid)
    np.testing.assert_array_equal(filled, kp)  # nothing to interpolate from: left as given
    assert gaps == []
    with pytest.raises(ValueError):
        interpolate_missing(kp, valid[:, :2])
