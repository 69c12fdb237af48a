"""Pinhole cameras with Brown-Conrady distortion, and virtual cameras for synthetic 2D/3D pairs.

Conventions (OpenCV): a camera looks along its +z axis, image x points right and image y points
DOWN; `X_cam = R @ X_world + t` in metres; pixels are (u, v) with (0, 0) at the top-left corner.
Any 3D motion (BVH, Kinect) becomes lifter training data by projecting it through `random_camera`s:
`synthesize_pairs` gives the 2D input (pixels) and the 3D target (camera frame) of one view.

Every function is vectorised over leading dimensions and keeps float32 input float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from posenas.core.normalize import as_float
from posenas.errors import DataFormatError

_FIELDS = ("R", "t", "fx", "fy", "cx", "cy", "k", "p", "width", "height")


@dataclass(eq=False)
class Camera:
    """A calibrated camera: extrinsics (R, t), intrinsics (fx, fy, cx, cy), distortion (k, p), image size.

    `k` = (k1, k2, k3) radial and `p` = (p1, p2) tangential Brown-Conrady coefficients, as in OpenCV.
    `width`/`height` default to twice the principal point (a centred principal point).
    """

    R: np.ndarray
    t: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    k: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p: np.ndarray = field(default_factory=lambda: np.zeros(2))
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)
        self.k = np.zeros(3) if self.k is None else np.asarray(self.k, dtype=np.float64).reshape(-1)
        self.p = np.zeros(2) if self.p is None else np.asarray(self.p, dtype=np.float64).reshape(2)
        if self.k.size > 3:
            raise ValueError(f"camera: at most 3 radial coefficients (k1..k3), got {self.k.size}")
        self.k = np.pad(self.k, (0, 3 - self.k.size))
        self.fx, self.fy, self.cx, self.cy = (float(v) for v in (self.fx, self.fy, self.cx, self.cy))
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"camera: focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-5) or np.linalg.det(self.R) < 0:
            raise ValueError("camera: R must be a rotation matrix (orthonormal, det +1)")
        self.width = int(round(2 * self.cx)) if self.width is None else int(self.width)
        self.height = int(round(2 * self.cy)) if self.height is None else int(self.height)

    # --- geometry ---------------------------------------------------------------------------
    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def center(self) -> np.ndarray:
        """Camera position in world coordinates (-R^T t)."""
        return -self.R.T @ self.t

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.k != 0) or np.any(self.p != 0))

    def world_to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera frame (..., 3)."""
        X = as_float(X)
        return X @ self.R.T.astype(X.dtype) + self.t.astype(X.dtype)

    def camera_to_world(self, X: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) -> world (..., 3)."""
        X = as_float(X)
        return (X - self.t.astype(X.dtype)) @ self.R.astype(X.dtype)

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """Normalised image coordinates (..., 2) (x/z, y/z) -> distorted normalised coordinates."""
        if not self.has_distortion:
            return xy
        k1, k2, k3 = self.k
        p1, p2 = self.p
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=-1).astype(xy.dtype, copy=False)

    def undistort(self, xy_d: np.ndarray, iterations: int = 20) -> np.ndarray:
        """Inverse of `distort` by fixed-point iteration (as cv2.undistortPoints); exact when no distortion."""
        if not self.has_distortion:
            return xy_d
        k1, k2, k3 = self.k
        p1, p2 = self.p
        xy = xy_d.astype(np.float64)
        for _ in range(iterations):
            x, y = xy[..., 0], xy[..., 1]
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            xy = np.stack([(xy_d[..., 0] - dx) / radial, (xy_d[..., 1] - dy) / radial], axis=-1)
        return xy.astype(xy_d.dtype, copy=False)

    def project_camera(self, X_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) -> pixels (..., 2). Points at or behind the camera (z <= 0) give NaN."""
        X_cam = as_float(X_cam)
        z = X_cam[..., 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = np.where(z > 0, X_cam[..., :2] / z, np.nan).astype(X_cam.dtype, copy=False)
        xy = self.distort(xy)
        f = np.array([self.fx, self.fy], dtype=X_cam.dtype)
        c = np.array([self.cx, self.cy], dtype=X_cam.dtype)
        return xy * f + c

    def project(self, X_world: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> pixels (..., 2)."""
        return self.project_camera(self.world_to_camera(X_world))

    def unproject_camera(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) and camera-frame depth z (...) -> camera-frame points (..., 3)."""
        uv = as_float(uv)
        f = np.array([self.fx, self.fy], dtype=uv.dtype)
        c = np.array([self.cx, self.cy], dtype=uv.dtype)
        xy = self.undistort((uv - c) / f)
        z = np.asarray(depth, dtype=uv.dtype)[..., None]
        return np.concatenate([xy * z, np.broadcast_to(z, xy.shape[:-1] + (1,))], axis=-1)

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) and camera-frame depth (...) -> world points (..., 3)."""
        return self.camera_to_world(self.unproject_camera(uv, depth))

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        """Boolean mask (...) of pixels inside the image rectangle."""
        u, v = uv[..., 0], uv[..., 1]
        return (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)

    # --- OpenCV interop ----------------------------------------------------------------------
    @property
    def dist_coeffs(self) -> np.ndarray:
        """Distortion in OpenCV order (k1, k2, p1, p2, k3), for cv2.projectPoints/undistortPoints."""
        return np.array([self.k[0], self.k[1], self.p[0], self.p[1], self.k[2]])

    @classmethod
    def from_opencv(
        cls,
        K: np.ndarray,
        dist: np.ndarray | None = None,
        R: np.ndarray | None = None,
        t: np.ndarray | None = None,
        size: tuple[int, int] | None = None,
    ) -> Camera:
        """From an OpenCV calibration: K (3x3), dist (k1, k2, p1, p2[, k3]), R (3x3), t (3,), size (w, h)."""
        K = np.asarray(K, dtype=np.float64)
        d = np.zeros(5) if dist is None else np.asarray(dist, dtype=np.float64).reshape(-1)
        if d.size not in (4, 5):
            raise ValueError(f"from_opencv: expected 4 or 5 distortion coefficients, got {d.size}")
        d = np.pad(d, (0, 5 - d.size))
        w, h = (None, None) if size is None else size
        return cls(
            R=np.eye(3) if R is None else R, t=np.zeros(3) if t is None else t,
            fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], k=d[[0, 1, 4]], p=d[[2, 3]], width=w, height=h,
        )

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (lists and floats) for checkpoints and sequence metadata."""
        return {
            "R": self.R.tolist(), "t": self.t.tolist(), "fx": self.fx, "fy": self.fy,
            "cx": self.cx, "cy": self.cy, "k": self.k.tolist(), "p": self.p.tolist(),
            "width": self.width, "height": self.height,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<camera dict>") -> Camera:
        """Inverse of `to_dict`; a missing or malformed field raises DataFormatError naming it."""
        required = ("R", "t", "fx", "fy", "cx", "cy")
        for key in required:
            if key not in d:
                raise DataFormatError(source, "missing camera field", field=key)
        unknown = set(d) - set(_FIELDS)
        if unknown:
            raise DataFormatError(source, f"unknown camera fields {sorted(unknown)}", field=sorted(unknown)[0])
        shapes = {"R": (3, 3), "t": (3,), "p": (2,)}
        for key, shape in shapes.items():
            if key in d and np.shape(d[key]) != shape:
                raise DataFormatError(source, f"expected shape {shape}, got {np.shape(d[key])}", field=key)
        try:
            return cls(**{key: d[key] for key in _FIELDS if key in d})
        except (ValueError, TypeError) as exc:
            raise DataFormatError(source, str(exc)) from None


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Extrinsics (R, t) of a camera at `eye` looking at `target`, OpenCV convention.

    The camera z axis points from eye to target, image x to the right and image y DOWN, so the
    world `up` direction appears upwards in the image (towards smaller v).
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    z = target - eye
    norm = np.linalg.norm(z)
    if norm < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z /= norm
    x = np.cross(z, up)
    nx = np.linalg.norm(x)
    if nx < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to `up`")
    x /= nx
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye


def _axis_rotation(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def _sample(rng: np.random.Generator, r: float | tuple[float, float]) -> float:
    lo, hi = (r, r) if np.isscalar(r) else r
    if hi < lo:
        raise ValueError(f"range {r}: upper bound below lower bound")
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def random_camera(
    rng: np.random.Generator,
    target: np.ndarray,
    azimuth_deg: float | tuple[float, float] = (0.0, 360.0),
    elevation_deg: float | tuple[float, float] = (-10.0, 30.0),
    distance: float | tuple[float, float] = (3.0, 6.0),
    focal: float | tuple[float, float] = (800.0, 1500.0),
    size: tuple[int, int] = (1000, 1000),
    up: str = "y",
    roll_deg: float | tuple[float, float] = (0.0, 0.0),
) -> Camera:
    """A virtual camera on a sphere around `target`, looking at it (target projects to the image centre).

    Each range is (low, high) sampled uniformly, or a single value. Elevation is the angle above the
    ground plane (positive = looking down); azimuth 0 looks along -z (up="y") or -x (up="z") of the
    world. `up` is the world's vertical axis: "y" for BVH/CMU, "z" for many mocap and robotics data.
    `size` is (width, height); the principal point is the image centre; fx = fy = focal.
    """
    if up not in ("y", "z"):
        raise ValueError(f"random_camera: up must be 'y' or 'z', got {up!r}")
    target = np.asarray(target, dtype=np.float64).reshape(3)
    az = np.deg2rad(_sample(rng, azimuth_deg))
    el = np.deg2rad(_sample(rng, elevation_deg))
    dist = _sample(rng, distance)
    f = _sample(rng, focal)
    roll = np.deg2rad(_sample(rng, roll_deg))
    if abs(np.cos(el)) < 1e-6:
        raise ValueError("random_camera: elevation of +-90 degrees has no defined image orientation")
    horiz, vert = np.cos(el) * np.sin(az), np.sin(el)
    depth = np.cos(el) * np.cos(az)
    if up == "y":
        offset, up_vec = np.array([horiz, vert, depth]), np.array([0.0, 1.0, 0.0])
    else:
        offset, up_vec = np.array([depth, horiz, vert]), np.array([0.0, 0.0, 1.0])
    R, _ = look_at(target + dist * offset, target, up_vec)
    R = _axis_rotation(2, roll) @ R  # roll about the optical axis
    t = -R @ (target + dist * offset)
    w, h = size
    return Camera(R=R, t=t, fx=f, fy=f, cx=w / 2.0, cy=h / 2.0, width=w, height=h)


def synthesize_pairs(joints_world: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Project a 3D motion (T, J, 3) through `camera`: (kp2d (T, J, 2) pixels, joints_cam (T, J, 3)).

    Raises ValueError when a joint is at or behind the camera, since such a pair is not a valid view.
    """
    joints_world = as_float(joints_world)
    if joints_world.shape[-1] != 3:
        raise ValueError(f"synthesize_pairs: expected (..., J, 3) joints, got {joints_world.shape}")
    joints_cam = camera.world_to_camera(joints_world)
    if np.any(joints_cam[..., 2] <= 0):
        raise ValueError("synthesize_pairs: some joints are at or behind the camera; move the camera further away")
    return camera.project_camera(joints_cam), joints_cam
