"""Multi-view geometry for calibrated captures: cameras from a Qualisys calibration, DLT triangulation with
reprojection checks, and association of per-view person tracks into people.

Used by benchmarks/bench_real_video.py to build a per-person pseudo ground truth from several views
(tracks of `posenas.platform.detection.tracking`, one per person per view), against which single-view
3D is scored. Pixels given to `triangulate*` / `associate` are undistorted (`Camera.undistort`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenas.errors import DataFormatError


# --- calibration ----------------------------------------------------------------------------------
@dataclass
class Camera:
    """OpenCV pinhole camera: x_cam = R @ X_world + t (metres), pixels = K [x/z, y/z] after distortion D."""

    name: str
    K: np.ndarray
    D: np.ndarray  # k1, k2, p1, p2
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]

    @property
    def P(self) -> np.ndarray:
        return self.K @ np.c_[self.R, self.t]

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        return X @ self.R.T + self.t

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> distorted pixels (..., 2) (NaN stays NaN)."""
        import cv2

        flat = X.reshape(-1, 3).astype(np.float64)
        ok = np.isfinite(flat).all(-1)
        out = np.full((len(flat), 2), np.nan)
        if ok.any():
            rvec = cv2.Rodrigues(self.R)[0]
            pts, _ = cv2.projectPoints(flat[ok], rvec, self.t.astype(np.float64), self.K, self.D)
            out[ok] = pts[:, 0]
        return out.reshape(X.shape[:-1] + (2,))

    def undistort(self, pts: np.ndarray) -> np.ndarray:
        """Distorted pixels (..., 2) -> ideal pinhole pixels (..., 2) in the same K."""
        import cv2

        flat = pts.reshape(-1, 2).astype(np.float64)
        ok = np.isfinite(flat).all(-1)
        out = np.full_like(flat, np.nan)
        if ok.any():
            out[ok] = cv2.undistortPoints(flat[ok, None], self.K, self.D, P=self.K)[:, 0]
        return out.reshape(pts.shape)


def read_qualisys(path: str | Path) -> list[Camera]:
    """Cameras of a Qualisys .qca.txt calibration, as Pose2Sim reads them (Pose2Sim/calibration.py):
    intrinsics in 1/64 sub-pixels, transform = camera pose in the world in mm, then the camera turned by
    pi about its x axis (Qualisys cameras look down -z with y up; OpenCV's look down +z with y down)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise DataFormatError(path, f"not a readable Qualisys calibration ({e})") from None
    cams = []
    flip = np.diag([1.0, -1.0, -1.0])  # rotation by pi about x
    for tag in root.findall("cameras/camera"):
        if tag.find("fov_video") is None or tag.find("intrinsic") is None or tag.find("transform") is None:
            raise DataFormatError(path, f"camera {tag.attrib.get('serial')!r} lacks fov_video/intrinsic/transform",
                                  field="camera")
        fov = tag.find("fov_video").attrib
        left, top = float(fov["left"]), float(fov["top"])
        size = (int(float(fov["right"]) - left + 1), int(float(fov["bottom"]) - top + 1))
        i = {k: float(v) for k, v in tag.find("intrinsic").attrib.items() if k not in ("model",)}
        K = np.array([[i["focalLengthU"] / 64, 0, i["centerPointU"] / 64 - left],
                      [0, i["focalLengthV"] / 64, i["centerPointV"] / 64 - top], [0, 0, 1]])
        D = np.array([i["radialDistortion1"], i["radialDistortion2"], i["tangentalDistortion1"],
                      i["tangentalDistortion2"]]) / 64
        tr = {k: float(v) for k, v in tag.find("transform").attrib.items()}
        M = np.array([[tr[f"r{a}{b}"] for b in (1, 2, 3)] for a in (1, 2, 3)])  # world -> Qualisys camera axes
        pos = np.array([tr["x"], tr["y"], tr["z"]]) / 1000.0
        R = flip @ M
        cams.append(Camera(tag.attrib["serial"], K, D, R, -R @ pos, size))
    if not cams:
        raise DataFormatError(path, "no cameras/camera entries", field="cameras")
    return sorted(cams, key=lambda c: c.name)


# --- triangulation --------------------------------------------------------------------------------
def triangulate(Ps: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """DLT: projection matrices (V, 3, 4) and undistorted pixels (V, 2) -> world point (3,)."""
    A = np.concatenate([pts[:, :1] * Ps[:, 2] - Ps[:, 0], pts[:, 1:2] * Ps[:, 2] - Ps[:, 1]], axis=0)
    _, _, vt = np.linalg.svd(A)
    X = vt[-1]
    return X[:3] / X[3]


def _reproj(Ps: np.ndarray, X: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h = Ps @ np.append(X, 1.0)
    return np.linalg.norm(h[:, :2] / h[:, 2:] - pts, axis=-1)


def triangulate_robust(Ps: np.ndarray, pts: np.ndarray, max_error: float, min_views: int
                       ) -> tuple[np.ndarray, float, int]:
    """Triangulate, dropping the worst view while the largest reprojection error exceeds `max_error`
    (down to `min_views`); returns (X or NaN, mean error of the kept views in pixels, views kept)."""
    idx = np.arange(len(Ps))
    while len(idx) >= max(2, min_views):
        X = triangulate(Ps[idx], pts[idx])
        err = _reproj(Ps[idx], X, pts[idx])
        in_front = all((P @ np.append(X, 1.0))[2] > 0 for P in Ps[idx])
        if err.max() <= max_error and in_front:
            return X, float(err.mean()), len(idx)
        if len(idx) == max(2, min_views):
            break
        idx = np.delete(idx, int(err.argmax()))
    return np.full(3, np.nan), float("nan"), 0


# --- association across views ---------------------------------------------------------------
def _pair_cost(ca: Camera, cb: Camera, ua: np.ndarray, ub: np.ndarray, min_frames: int = 5) -> float:
    """Median two-view reprojection error (px) of the frames and joints both tracks have (NaN = absent)."""
    ok = np.isfinite(ua).all(-1) & np.isfinite(ub).all(-1)
    frames = np.nonzero(ok.sum(axis=1) >= 4)[0]
    if len(frames) < min_frames:
        return float("inf")
    Ps = np.stack([ca.P, cb.P])
    errs = []
    for f in frames[:: max(1, len(frames) // 30)]:
        for j in np.nonzero(ok[f])[0]:
            X = triangulate(Ps, np.stack([ua[f, j], ub[f, j]]))
            errs.append(_reproj(Ps, X, np.stack([ua[f, j], ub[f, j]])).mean())
    return float(np.median(errs))


def associate(cams: dict[str, Camera], und: dict[str, np.ndarray], max_cost: float) -> list[dict[str, int]]:
    """Group tracks of different views into people: cheapest pairs first, one track per view per person."""
    names = sorted(und)
    edges = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            na, nb = names[a], names[b]
            for i in range(und[na].shape[1]):
                for j in range(und[nb].shape[1]):
                    c = _pair_cost(cams[na], cams[nb], und[na][:, i], und[nb][:, j])
                    if c <= max_cost:
                        edges.append((c, (na, i), (nb, j)))
    groups: list[dict[str, int]] = []
    where: dict[tuple[str, int], int] = {}
    for _, u, v in sorted(edges):
        gu, gv = where.get(u), where.get(v)
        if gu is None and gv is None:
            groups.append({u[0]: u[1], v[0]: v[1]})
            where[u] = where[v] = len(groups) - 1
        elif gu is not None and gv is None and v[0] not in groups[gu]:
            groups[gu][v[0]] = v[1]
            where[v] = gu
        elif gv is not None and gu is None and u[0] not in groups[gv]:
            groups[gv][u[0]] = u[1]
            where[u] = gv
        elif gu is not None and gv is not None and gu != gv and not set(groups[gu]) & set(groups[gv]):
            groups[gu].update(groups[gv])
            for key, g in list(where.items()):
                if g == gv:
                    where[key] = gu
            groups[gv] = {}
    return [g for g in groups if len(g) >= 2]


def triangulate_person(cams: dict[str, Camera], und: dict[str, np.ndarray], group: dict[str, int],
                       max_error: float, min_views: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, J, 3) world joints (NaN where not triangulated), (T, J) mean reprojection error, (T, J) views used."""
    names = sorted(group)
    pts = np.stack([und[n][:, group[n]] for n in names])  # (V, T, J, 2)
    Ps = np.stack([cams[n].P for n in names])
    v, t, j, _ = pts.shape
    X = np.full((t, j, 3), np.nan)
    err = np.full((t, j), np.nan)
    nv = np.zeros((t, j), int)
    for f in range(t):
        for k in range(j):
            ok = np.isfinite(pts[:, f, k]).all(-1)
            if ok.sum() < max(2, min_views):
                continue
            X[f, k], err[f, k], nv[f, k] = triangulate_robust(Ps[ok], pts[ok, f, k], max_error, min_views)
    return X, err, nv
