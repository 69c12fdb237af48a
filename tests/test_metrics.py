"""Pose and classification metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.core.metrics import (
    accuracy,
    auc_pck,
    confusion_matrix,
    format_pose_table,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    pck3d,
    per_class_accuracy,
    pose_error_table,
    procrustes_align,
    scale_align,
)


def _rot(axis, angle) -> np.ndarray:
    """Rodrigues' formula, written out so the tests do not trust the code under test."""
    k = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


@pytest.fixture
def poses() -> np.ndarray:
    return np.random.default_rng(0).normal(scale=0.3, size=(10, 17, 3))


def test_mpjpe_by_hand():
    gt = np.zeros((1, 3, 3))
    pred = np.array([[[0.03, 0.04, 0.0], [0.0, 0.0, 0.1], [0.0, 0.0, 0.0]]])  # errors 0.05, 0.1, 0
    assert mpjpe(pred, gt) == pytest.approx(0.05)
    np.testing.assert_allclose(mpjpe(pred, gt, per_joint=True), [0.05, 0.1, 0.0])
    assert pck3d(pred, gt, threshold=0.06) == pytest.approx(2 / 3)
    assert pck3d(pred, gt, threshold=0.15) == 1.0
    with pytest.raises(ValueError):
        mpjpe(pred, gt[:, :2])


def test_similarity_transform_gives_zero_p_mpjpe_but_positive_mpjpe(poses):
    R = _rot([0.2, 1.0, 0.3], 0.9)
    pred = 1.3 * poses @ R.T + np.array([0.5, -0.2, 1.0])
    assert mpjpe(pred, poses) > 0.1
    assert p_mpjpe(pred, poses) == pytest.approx(0.0, abs=1e-9)
    aligned, scale, rot, t = procrustes_align(pred, poses, return_transform=True)
    np.testing.assert_allclose(aligned, poses, atol=1e-9)
    np.testing.assert_allclose(scale, 1 / 1.3)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0)
    np.testing.assert_allclose(scale[:, None, None] * pred @ rot + t[:, None, :], aligned, atol=1e-12)


def test_procrustes_is_per_frame(poses):
    pred = poses.copy()
    for i in range(len(pred)):  # a different rotation for each frame
        pred[i] = pred[i] @ _rot([1, i, 2], 0.1 * i).T
    assert p_mpjpe(pred, poses) == pytest.approx(0.0, abs=1e-9)


def test_reflection_is_not_an_allowed_alignment(poses):
    mirrored = poses * np.array([-1.0, 1.0, 1.0])
    # a mirror image cannot be undone by a rotation, so P-MPJPE stays clearly above zero
    assert p_mpjpe(mirrored, poses) > 0.05
    _, _, rot, _ = procrustes_align(mirrored, poses, return_transform=True)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0)
    # an unconstrained orthogonal fit (det -1 allowed) would undo the mirror exactly
    x = mirrored[0] - mirrored[0].mean(0)
    y = poses[0] - poses[0].mean(0)
    u, _, vt = np.linalg.svd(x.T @ y)
    np.testing.assert_allclose(x @ (u @ vt), y, atol=1e-9)
    assert np.linalg.det(u @ vt) == pytest.approx(-1.0)


def test_mirrored_planar_pose_is_a_rotation():
    # a flat pose (z = 0) mirrored in x equals the pose turned 180 degrees about y: P-MPJPE must be 0
    flat = np.random.default_rng(4).normal(size=(1, 17, 3)) * np.array([1.0, 1.0, 0.0])
    assert p_mpjpe(flat * np.array([-1.0, 1.0, 1.0]), flat) == pytest.approx(0.0, abs=1e-9)


def test_procrustes_reduces_error_and_never_increases_it(poses):
    rng = np.random.default_rng(1)
    pred = poses + rng.normal(scale=0.02, size=poses.shape)
    assert p_mpjpe(pred, poses) <= mpjpe(pred, poses)
    assert n_mpjpe(pred, poses) <= mpjpe(pred, poses) + 1e-12


def test_n_mpjpe_scale_only():
    gt = np.random.default_rng(2).normal(size=(4, 17, 3))
    assert n_mpjpe(2.5 * gt, gt) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(scale_align(2.5 * gt, gt), gt)
    # a rotation is not undone by scale alignment
    assert n_mpjpe(gt @ _rot([0, 1, 0], 0.5).T, gt) > 0.1
    # hand case: pred = (1,0,0), gt = (2,1,0): s = 2, aligned (2,0,0), error 1
    assert n_mpjpe(np.array([[[1.0, 0, 0]]]), np.array([[[2.0, 1.0, 0]]])) == pytest.approx(1.0)


def test_auc_pck():
    gt = np.zeros((1, 4, 3))
    pred = np.zeros((1, 4, 3))
    pred[0, :, 0] = [0.0, 0.05, 0.1, 0.2]
    # thresholds 0, 0.1: strict "<", so counts 0 then {0, 0.05} -> (0 + 0.5) / 2
    assert auc_pck(pred, gt, thresholds=[0.0, 0.1]) == pytest.approx(0.25)
    assert auc_pck(gt, gt) == pytest.approx(30 / 31)  # zero error: every threshold but 0
    assert 0 < auc_pck(pred, gt) < 1


def test_pose_error_table_groups():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(6, 17, 3))
    pred = gt.copy()
    pred[3:] += np.array([0.1, 0.0, 0.0])  # group "b" is off by exactly 10 cm
    table = pose_error_table(pred, gt, ["a", "a", "a", "b", "b", "b"])
    assert set(table) == {"a", "b", "all"}
    assert table["a"]["mpjpe"] == pytest.approx(0.0)
    assert table["b"]["mpjpe"] == pytest.approx(0.1)
    assert table["b"]["p_mpjpe"] == pytest.approx(0.0, abs=1e-9)  # a translation is aligned away
    assert table["all"]["mpjpe"] == pytest.approx(0.05)
    assert table["b"]["count"] == 3 and table["all"]["count"] == 6
    text = format_pose_table(table)
    assert "100.0" in text.splitlines()[2]  # millimetres
    with pytest.raises(ValueError):
        pose_error_table(pred, gt, ["a"] * 5)
    with pytest.raises(ValueError):
        pose_error_table(pred, gt, ["all"] * 6)


def test_accuracy_and_two_class_confusion():
    y_true = np.array([0, 0, 0, 1, 1])
    y_pred = np.array([0, 1, 0, 1, 0])
    assert accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    cm = confusion_matrix(y_true, y_pred, 2)
    np.testing.assert_array_equal(cm, [[2, 1], [1, 1]])  # rows true, columns predicted
    np.testing.assert_allclose(per_class_accuracy(y_true, y_pred, 2), [2 / 3, 1 / 2])


def test_confusion_is_not_symmetric_and_absent_classes():
    y_true = np.array([0, 0, 2])
    y_pred = np.array([2, 2, 2])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm[0, 2] == 2 and cm[2, 0] == 0 and cm.sum() == 3
    pca = per_class_accuracy(y_true, y_pred, 3)
    assert pca[0] == 0 and np.isnan(pca[1]) and pca[2] == 1
    with pytest.raises(ValueError):
        confusion_matrix(y_true, np.array([0, 3, 1]), 3)
    with pytest.raises(ValueError):
        accuracy(y_true, y_pred[:2])
