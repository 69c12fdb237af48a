"""Multi-view geometry for the real-video benchmark: the Qualisys calibration reader, DLT triangulation with
distortion, and cross-view association of tracked people on the shared 4-camera capture."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.errors import DataFormatError
from posenas.platform.detection.multiview import associate, read_qualisys, triangulate, triangulate_person


@pytest.fixture(scope="module")
def cameras(pose2sim_root):
    return {c.name: c for c in read_qualisys(pose2sim_root / "calibration" / "Calib.qca.txt")}


@pytest.mark.realdata
def test_calibration_reader(cameras):
    assert sorted(cameras) == ["cam01", "cam02", "cam03", "cam04"]
    for cam in cameras.values():
        assert cam.size == (1088, 1920)  # portrait videos
        assert 1500 < cam.K[0, 0] < 1900 and 0 < cam.K[0, 2] < 1088 and 0 < cam.K[1, 2] < 1920
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-6)
        centre = -cam.R.T @ cam.t
        assert 1.0 < centre[2] < 3.0  # mounted 1-3 m above the floor (world z up, metres)
        # the capture volume (a point 1 m above the world origin) is in front of every camera, in frame
        x_cam = cam.to_camera(np.array([0.0, 0.0, 1.0]))
        assert x_cam[2] > 1.0
        u, v = cam.project(np.array([0.0, 0.0, 1.0]))
        assert 0 < u < 1088 and 0 < v < 1920


@pytest.mark.realdata
def test_triangulation_inverts_projection_with_distortion(cameras):
    rng = np.random.default_rng(0)
    X = rng.uniform([-1, -1, 0], [1, 1, 2], (20, 3))
    names = sorted(cameras)
    und = np.stack([cameras[n].undistort(cameras[n].project(X)) for n in names])  # (V, N, 2)
    Ps = np.stack([cameras[n].P for n in names])
    for i in range(len(X)):
        np.testing.assert_allclose(triangulate(Ps, und[:, i]), X[i], atol=1e-4)
        np.testing.assert_allclose(triangulate(Ps[:2], und[:2, i]), X[i], atol=1e-4)


def test_bad_calibration_file_is_named(tmp_path):
    bad = tmp_path / "calib.qca.txt"
    bad.write_text("<calibration><cameras></cameras></calibration>")
    with pytest.raises(DataFormatError, match="calib.qca.txt"):
        read_qualisys(bad)
    bad.write_text("not xml")
    with pytest.raises(DataFormatError, match="Qualisys"):
        read_qualisys(bad)


@pytest.mark.realdata
@pytest.mark.slow
def test_people_are_associated_and_triangulated_across_views(pose2sim_root, cameras):
    """Six frames of every view: the man on the force plate is seen by all four cameras; his tracks must
    end up in one person, triangulated with a small reprojection error (a wrong calibration or a wrong
    association gives hundreds of pixels)."""
    from posenas.core.video import iter_frames
    from posenas.platform.detection.mediapipe_tasks import MediaPipePoseLandmarker
    from posenas.platform.detection.tracking import PoseTracker, TrackerSettings

    detector = MediaPipePoseLandmarker(num_poses=3, mode="image")
    und = {}
    for name, cam in cameras.items():
        frames = [f for i, f in zip(range(26), iter_frames(pose2sim_root / "videos" / f"{name}.mp4")) if i >= 20]
        det = PoseTracker(TrackerSettings(min_frames=4)).track(detector.detect_frames(frames, fps=60.0))
        h = det.to_layout("h36m17")
        und[name] = cam.undistort(np.where((h.scores > 0.5)[..., None], h.keypoints, np.nan))
    groups = associate(cameras, und, max_cost=60.0)
    assert groups and len(groups[0]) >= 3
    best = max(groups, key=len)
    X, err, views = triangulate_person(cameras, und, best, max_error=40.0, min_views=2)
    assert np.isfinite(X).all(-1).mean() > 0.7
    assert np.nanmedian(err) < 25.0
    assert (views[np.isfinite(err)] >= 2).all()
