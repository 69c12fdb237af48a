"""Pose-lifting and action-classification metrics.

Pose metrics take (N, J, 3) arrays in metres (any leading shape (..., J, 3) works) and return
floats in metres; `format_pose_table` prints millimetres, the unit papers report. The protocols
follow VideoPose3D: MPJPE (protocol 1), P-MPJPE after a per-frame similarity Procrustes alignment
(protocol 2), N-MPJPE after a per-frame scale-only alignment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth shape {gt.shape}")
    if pred.ndim < 2 or pred.shape[-1] not in (2, 3):
        raise ValueError(f"expected (..., J, 2|3) poses, got {pred.shape}")
    return pred, gt


def _errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pred - gt, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, per_joint: bool = False) -> float | np.ndarray:
    """Mean per-joint position error (metres); per_joint=True gives the (J,) mean over all poses."""
    pred, gt = _pair(pred, gt)
    err = _errors(pred, gt)
    if per_joint:
        return err.reshape(-1, err.shape[-1]).mean(axis=0)
    return float(err.mean())


def procrustes_align(
    pred: np.ndarray, gt: np.ndarray, return_transform: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pose, the similarity transform (scale, proper rotation, translation) of pred closest to gt.

    Reflections are excluded (det R = +1), so a mirrored prediction is still penalised. Returns the
    aligned prediction (..., J, D); with return_transform also (scale (...), R (..., D, D), t (..., D))
    such that aligned = scale * pred @ R + t.
    """
    pred, gt = _pair(pred, gt)
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_g = gt.mean(axis=-2, keepdims=True)
    x, y = pred - mu_p, gt - mu_g
    h = np.swapaxes(x, -1, -2) @ y  # (..., D, D)
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    s = s.copy()
    s[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rot = u @ vt
    var_x = (x**2).sum(axis=(-1, -2))
    scale = s.sum(axis=-1) / np.where(var_x > 0, var_x, 1.0)
    t = mu_g[..., 0, :] - scale[..., None] * (mu_p @ rot)[..., 0, :]
    aligned = scale[..., None, None] * (pred @ rot) + t[..., None, :]
    if return_transform:
        return aligned, scale, rot, t
    return aligned


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, per_joint: bool = False) -> float | np.ndarray:
    """MPJPE after per-pose Procrustes alignment (protocol 2), metres."""
    return mpjpe(procrustes_align(pred, gt), gt, per_joint=per_joint)


def scale_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per pose, pred scaled by the least-squares factor <pred, gt> / <pred, pred> (no centring).

    As VideoPose3D's N-MPJPE, meant for root-relative poses.
    """
    pred, gt = _pair(pred, gt)
    num = (pred * gt).sum(axis=(-1, -2))
    den = (pred * pred).sum(axis=(-1, -2))
    return pred * (num / np.where(den > 0, den, 1.0))[..., None, None]


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """MPJPE after per-pose scale-only alignment (`scale_align`), metres."""
    return mpjpe(scale_align(pred, gt), gt)


def pck3d(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.15) -> float:
    """Fraction of joints whose 3D error is below `threshold` metres (150 mm as in MPI-INF-3DHP)."""
    pred, gt = _pair(pred, gt)
    return float((_errors(pred, gt) < threshold).mean())


def auc_pck(pred: np.ndarray, gt: np.ndarray, thresholds: Sequence[float] | np.ndarray | None = None) -> float:
    """Mean PCK over thresholds 0..150 mm in 5 mm steps (area under the PCK curve, in [0, 1])."""
    pred, gt = _pair(pred, gt)
    ths = np.linspace(0.0, 0.15, 31) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    err = _errors(pred, gt).reshape(-1)
    return float((err[None, :] < ths[:, None]).mean())


def pose_metrics(pred: np.ndarray, gt: np.ndarray, pck_threshold: float = 0.15) -> dict[str, float]:
    """All pose metrics of one set of poses, metres (pck3d/auc_pck are fractions)."""
    return {
        "mpjpe": mpjpe(pred, gt),
        "p_mpjpe": p_mpjpe(pred, gt),
        "n_mpjpe": n_mpjpe(pred, gt),
        "pck3d": pck3d(pred, gt, pck_threshold),
        "auc_pck": auc_pck(pred, gt),
    }


def pose_error_table(
    pred: np.ndarray, gt: np.ndarray, groups: Sequence[str], include_all: bool = True
) -> dict[str, dict[str, float]]:
    """Pose metrics per group (e.g. per action): {group: {"count", "mpjpe", "p_mpjpe", ...}}.

    `groups` names the group of each pose (len N). With include_all, key "all" holds the metrics over
    every pose, i.e. pose-weighted; Human3.6M papers instead average the per-action rows.
    """
    pred, gt = _pair(pred, gt)
    groups = np.asarray(list(groups), dtype=object)
    if groups.shape != pred.shape[:1]:
        raise ValueError(f"pose_error_table: {len(groups)} group labels for {pred.shape[0]} poses")
    table: dict[str, dict[str, float]] = {}
    names = set(groups.tolist())
    try:
        ordered = sorted(names)  # numeric action ids sort as numbers
    except TypeError:
        ordered = sorted(names, key=str)
    for g in ordered:
        m = groups == g
        table[str(g)] = {"count": int(m.sum()), **pose_metrics(pred[m], gt[m])}
    if include_all:
        if "all" in table:
            raise ValueError("pose_error_table: a group is named 'all'; pass include_all=False")
        table["all"] = {"count": int(len(groups)), **pose_metrics(pred, gt)}
    return table


def format_pose_table(table: dict[str, dict[str, float]]) -> str:
    """A fixed-width text table: errors in millimetres, PCK/AUC in percent."""
    lines = [f"{'group':<20} {'n':>7} {'MPJPE':>8} {'P-MPJPE':>8} {'N-MPJPE':>8} {'PCK':>6} {'AUC':>6}"]
    for name, row in table.items():
        lines.append(
            f"{name:<20} {row['count']:>7d} {row['mpjpe'] * 1000:>8.1f} {row['p_mpjpe'] * 1000:>8.1f} "
            f"{row['n_mpjpe'] * 1000:>8.1f} {row['pck3d'] * 100:>6.1f} {row['auc_pck'] * 100:>6.1f}"
        )
    return "\n".join(lines)


# --- classification ---------------------------------------------------------------------------
def _labels(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.size} true labels but {y_pred.size} predictions")
    if y_true.size == 0:
        raise ValueError("no labels given")
    if not (np.issubdtype(y_true.dtype, np.integer) and np.issubdtype(y_pred.dtype, np.integer)):
        raise ValueError("labels must be integer class indices")
    if num_classes is not None:
        for name, y in (("true", y_true), ("predicted", y_pred)):
            if y.min() < 0 or y.max() >= num_classes:
                raise ValueError(f"{name} labels outside [0, {num_classes}): min {y.min()}, max {y.max()}")
    return y_true, y_pred


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions."""
    y_true, y_pred = _labels(y_true, y_pred)
    return float((y_true == y_pred).mean())


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; rows are true classes, columns predicted classes."""
    y_true, y_pred = _labels(y_true, y_pred, num_classes)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes,) recall of each class; NaN for classes absent from y_true."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)
