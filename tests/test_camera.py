"""Cameras: world<->camera round trips, pinhole and distorted projection (checked against OpenCV),
look_at orientation, random virtual cameras and synthetic 2D/3D pairs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from posenas.errors import DataFormatError
from posenas.core.camera import Camera, look_at, random_camera, synthesize_pairs


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    rvec = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis) * angle
    return cv2.Rodrigues(rvec)[0]


@pytest.fixture
def cam() -> Camera:
    return Camera(R=_rot([0.3, 1.0, -0.2], 0.7), t=[0.1, -0.2, 4.0], fx=1000, fy=1100, cx=480, cy=270,
                  width=960, height=540)


def test_world_camera_round_trip_any_leading_shape(cam):
    X = np.random.default_rng(0).normal(size=(4, 5, 17, 3))
    Xc = cam.world_to_camera(X)
    assert Xc.shape == X.shape
    np.testing.assert_allclose(cam.camera_to_world(Xc), X, atol=1e-12)
    # X_cam = R X + t for one point, computed by hand
    np.testing.assert_allclose(Xc[1, 2, 3], cam.R @ X[1, 2, 3] + cam.t)
    # the camera centre maps to the camera-frame origin
    np.testing.assert_allclose(cam.world_to_camera(cam.center), 0, atol=1e-12)


def test_pinhole_projection_by_hand():
    c = Camera(R=np.eye(3), t=[0, 0, 0], fx=500, fy=400, cx=320, cy=240)
    uv = c.project(np.array([[0.2, -0.1, 2.0], [0.0, 0.0, 5.0]]))
    np.testing.assert_allclose(uv, [[320 + 500 * 0.1, 240 - 400 * 0.05], [320, 240]])
    assert (c.width, c.height) == (640, 480)  # default: centred principal point


def test_projection_matches_opencv_with_and_without_distortion(cam):
    X = np.random.default_rng(1).normal(scale=0.5, size=(50, 3))
    for k, p in [((0, 0, 0), (0, 0)), ((-0.25, 0.08, -0.01), (0.001, -0.0015))]:
        c = Camera(R=cam.R, t=cam.t, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy, k=k, p=p)
        ref = cv2.projectPoints(X, cv2.Rodrigues(c.R)[0], c.t, c.K, c.dist_coeffs)[0].reshape(-1, 2)
        np.testing.assert_allclose(c.project(X), ref, atol=1e-6)
        # undistortion agrees with OpenCV's too (normalised coordinates)
        ref_norm = cv2.undistortPoints(ref.reshape(-1, 1, 2), c.K, c.dist_coeffs).reshape(-1, 2)
        ours = c.undistort((ref - [c.cx, c.cy]) / [c.fx, c.fy])
        np.testing.assert_allclose(ours, ref_norm, atol=1e-5)
        # and the OpenCV-order constructor rebuilds the same camera
        c2 = Camera.from_opencv(c.K, c.dist_coeffs, c.R, c.t, size=(960, 540))
        np.testing.assert_allclose(c2.project(X), ref, atol=1e-6)
        assert (c2.width, c2.height) == (960, 540)


def test_zero_distortion_is_pinhole(cam):
    c0 = Camera(R=cam.R, t=cam.t, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy, k=[0, 0, 0], p=[0, 0])
    X = np.random.default_rng(2).normal(size=(10, 3))
    Xc = c0.world_to_camera(X)
    pinhole = (c0.K @ Xc.T).T
    np.testing.assert_allclose(c0.project(X), pinhole[:, :2] / pinhole[:, 2:], atol=1e-9)
    assert not c0.has_distortion


def test_distortion_changes_projection_and_unprojects_back(cam):
    c = Camera(R=cam.R, t=cam.t, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy, k=[-0.2, 0.05, 0], p=[1e-3, 0])
    X = np.random.default_rng(3).normal(scale=0.5, size=(3, 17, 3))
    uv = c.project(X)
    assert np.abs(uv - cam.project(X)).max() > 1.0  # distortion moves points by pixels
    depth = c.world_to_camera(X)[..., 2]
    np.testing.assert_allclose(c.unproject(uv, depth), X, atol=1e-6)


def test_pinhole_unproject_round_trip(cam):
    X = np.random.default_rng(4).normal(size=(8, 3))
    depth = cam.world_to_camera(X)[:, 2]
    np.testing.assert_allclose(cam.unproject(cam.project(X), depth), X, atol=1e-9)


def test_points_behind_camera_project_to_nan():
    c = Camera(R=np.eye(3), t=[0, 0, 0], fx=500, fy=500, cx=320, cy=240)
    uv = c.project(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]))
    assert np.isnan(uv[0]).all() and np.isfinite(uv[1]).all()


def test_float32_stays_float32(cam):
    X = np.random.default_rng(5).normal(size=(6, 3)).astype(np.float32)
    assert cam.world_to_camera(X).dtype == np.float32
    assert cam.project(X).dtype == np.float32
    np.testing.assert_allclose(cam.project(X), cam.project(X.astype(np.float64)), atol=1e-2)


def test_look_at_opencv_convention():
    eye, target = np.array([0.0, 1.0, 5.0]), np.array([0.0, 1.0, 0.0])
    R, t = look_at(eye, target, up=(0, 1, 0))
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    c = Camera(R=R, t=t, fx=1000, fy=1000, cx=500, cy=500)
    np.testing.assert_allclose(c.center, eye, atol=1e-12)
    np.testing.assert_allclose(c.world_to_camera(target), [0, 0, 5], atol=1e-12)  # +z looks at target
    # world up appears upwards in the image (smaller v); a camera at +z looking towards -z (right-handed
    # world, y up) sees world +x on its right (larger u): the image is not mirrored
    head, right = c.project(np.array([[0.0, 2.0, 0.0], [1.0, 1.0, 0.0]]))
    assert head[1] < 500 and head[0] == pytest.approx(500)
    assert right[0] > 500 and right[1] == pytest.approx(500)
    with pytest.raises(ValueError):
        look_at([0, 5, 0], [0, 0, 0], up=(0, 1, 0))


@pytest.mark.parametrize("up", ["y", "z"])
def test_random_cameras_look_at_target_within_ranges(up):
    rng = np.random.default_rng(6)
    target = np.array([0.3, 0.9, -0.4]) if up == "y" else np.array([0.3, -0.4, 0.9])
    vert = 1 if up == "y" else 2
    for _ in range(200):
        c = random_camera(rng, target, elevation_deg=(-10, 30), distance=(3.0, 6.0), focal=(800, 1500),
                          size=(1280, 720), up=up, roll_deg=(-5, 5))
        np.testing.assert_allclose(c.project(target), [640, 360], atol=1e-6)
        offset = c.center - target
        dist = np.linalg.norm(offset)
        assert 3.0 <= dist <= 6.0
        elev = np.degrees(np.arcsin(offset[vert] / dist))
        assert -10 - 1e-9 <= elev <= 30 + 1e-9
        assert 800 <= c.fx <= 1500 and c.fx == c.fy
        assert (c.width, c.height) == (1280, 720)
        # image "up" (decreasing v) stays within the roll range of world up
        up_vec = np.eye(3)[vert]
        d = c.project(target + 0.01 * up_vec) - c.project(target)
        roll = np.degrees(np.arctan2(d[0], -d[1]))
        assert abs(roll) <= 5 + 1e-6


def test_random_camera_covers_azimuths_and_is_reproducible():
    az = []
    for _ in range(300):
        c = random_camera(np.random.default_rng(len(az)), np.zeros(3), elevation_deg=0.0)
        az.append(np.degrees(np.arctan2(c.center[0], c.center[2])) % 360)
    hist = np.histogram(az, bins=4, range=(0, 360))[0]
    assert hist.min() > 40  # roughly uniform over the full circle
    a, b = random_camera(np.random.default_rng(9), np.zeros(3)), random_camera(np.random.default_rng(9), np.zeros(3))
    np.testing.assert_array_equal(a.R, b.R)
    with pytest.raises(ValueError):
        random_camera(np.random.default_rng(0), np.zeros(3), up="x")


def test_synthesize_pairs_shapes_and_consistency():
    rng = np.random.default_rng(7)
    motion = rng.normal(scale=0.3, size=(20, 17, 3)) + [0, 1, 0]
    c = random_camera(rng, [0, 1, 0])
    kp2d, cam3d = synthesize_pairs(motion, c)
    assert kp2d.shape == (20, 17, 2) and cam3d.shape == (20, 17, 3)
    np.testing.assert_allclose(kp2d, c.project(motion), atol=1e-9)
    np.testing.assert_allclose(kp2d, c.project_camera(cam3d), atol=1e-9)
    assert c.in_image(kp2d).all()
    # bone lengths are preserved by the rigid world->camera transform
    np.testing.assert_allclose(np.linalg.norm(cam3d[:, 1] - cam3d[:, 0], axis=-1),
                               np.linalg.norm(motion[:, 1] - motion[:, 0], axis=-1), atol=1e-9)
    with pytest.raises(ValueError, match="behind"):
        synthesize_pairs(motion, random_camera(rng, [0, 1, 0], distance=0.1))


def test_dict_round_trip_and_bad_dicts(cam):
    c = Camera(R=cam.R, t=cam.t, fx=cam.fx, fy=cam.fy, cx=cam.cx, cy=cam.cy, k=[0.1, 0, 0], p=[0, 0.01],
               width=960, height=540)
    d = json.loads(json.dumps(c.to_dict()))
    c2 = Camera.from_dict(d)
    X = np.random.default_rng(8).normal(size=(5, 3))
    np.testing.assert_allclose(c2.project(X), c.project(X))
    assert (c2.width, c2.height) == (960, 540)
    bad = dict(d)
    del bad["fx"]
    with pytest.raises(DataFormatError, match=r"cam.json \[fx\]"):
        Camera.from_dict(bad, source="cam.json")
    with pytest.raises(DataFormatError, match=r"\[R\]"):
        Camera.from_dict({**d, "R": [[1, 0], [0, 1]]})
    with pytest.raises(DataFormatError, match="rotation"):
        Camera.from_dict({**d, "R": (2 * np.eye(3)).tolist()})


def test_invalid_camera_rejected():
    with pytest.raises(ValueError, match="rotation"):
        Camera(R=np.diag([1.0, 1.0, -1.0]), t=[0, 0, 0], fx=1, fy=1, cx=0, cy=0)
    with pytest.raises(ValueError, match="focal"):
        Camera(R=np.eye(3), t=[0, 0, 0], fx=0, fy=1, cx=0, cy=0)


@pytest.mark.realdata
@pytest.mark.parametrize("stem", ["a01_s01_e01", "a12_s06_e02", "a19_s10_e01"])
def test_msr_kinect_camera_reproduces_real_screen_files(msr_root, stem):
    """MSR Action3D ships each skeleton in metres and in 320x240 depth-image pixels: a pinhole Camera
    (f = 285.63 px, found by fitting the files) maps the first onto the second, once the Real3D frame
    (x right, y up, z away: left-handed) is turned into the OpenCV camera frame (x, -y, z)."""
    xyz = np.loadtxt(msr_root / "MSRAction3DSkeletonReal3D" / f"{stem}_skeleton3D.txt").reshape(-1, 20, 4)[..., :3]
    uvd = np.loadtxt(msr_root / "MSRAction3DSkeleton20joints" / f"{stem}_skeleton.txt").reshape(-1, 20, 4)
    assert xyz.shape[:2] == uvd.shape[:2]
    kinect = Camera(R=np.eye(3), t=np.zeros(3), fx=285.63, fy=285.63, cx=160, cy=120, width=320, height=240)
    uv = kinect.project_camera(xyz * np.array([1.0, -1.0, 1.0]))
    ok = (xyz[..., 2] > 0) & (np.abs(uvd[..., 1]) < 1e6)  # tracked joints, no int32 overflow sentinel
    assert ok.mean() > 0.9
    err = np.linalg.norm(uv - uvd[..., :2], axis=-1)[ok]
    assert np.median(err) < 0.5 and err.max() < 0.75  # the screen files are rounded to whole pixels
    mirrored = np.linalg.norm(kinect.project_camera(xyz * np.array([-1.0, -1.0, 1.0])) - uvd[..., :2], axis=-1)[ok]
    assert np.median(mirrored) > 10  # the other handedness does not fit
    np.testing.assert_allclose(uvd[..., 2][ok], 250 * xyz[..., 2][ok], atol=1.0)  # depth in 1/250 m
    # back-projection with the file's depth recovers the metric skeleton
    back = kinect.unproject_camera(uvd[..., :2][ok], uvd[..., 2][ok] / 250) * np.array([1.0, -1.0, 1.0])
    assert np.median(np.linalg.norm(back - xyz[ok], axis=-1)) < 0.01
