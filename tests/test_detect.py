"""2D detection: MediaPipe on a real photo, layout conversion, precomputed keypoints, registry errors."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.errors import PosenasError, UnknownNameError
from posenas.platform.detection.detectors import Detections, MediaPipeDetector, PrecomputedDetector, get_detector
from posenas.core.skeleton import get_layout


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()  # 512 x 512 RGB photo of a person facing the camera, upper body


@pytest.fixture(scope="module")
def astronaut_det(astronaut) -> Detections:
    return MediaPipeDetector().detect_image(astronaut)


def _joint(det: Detections, name: str) -> tuple[np.ndarray, float]:
    i = get_layout(det.layout).index(name)
    return det.keypoints[0, 0, i], float(det.scores[0, 0, i])


def test_mediapipe_finds_the_astronaut(astronaut, astronaut_det):
    det = astronaut_det
    h, w = astronaut.shape[:2]
    assert det.layout == "mediapipe33" and det.keypoints.shape == (1, 1, 33, 2)
    assert (det.width, det.height) == (w, h)
    assert det.detected().all()
    sure = det.scores[0, 0] > 0.5
    assert sure.sum() >= 11  # face and shoulders are plainly visible
    kp = det.keypoints[0, 0][sure]
    assert (kp[:, 0] >= 0).all() and (kp[:, 0] < w).all() and (kp[:, 1] >= 0).all() and (kp[:, 1] < h).all()

    nose, _ = _joint(det, "nose")
    ls, ls_c = _joint(det, "left_shoulder")
    rs, rs_c = _joint(det, "right_shoulder")
    lh, _ = _joint(det, "left_hip")
    rh, _ = _joint(det, "right_hip")
    assert ls_c > 0.9 and rs_c > 0.9
    assert nose[1] < min(ls[1], rs[1])  # head above the shoulders (image y grows downwards)
    assert max(ls[1], rs[1]) < min(lh[1], rh[1])  # shoulders above the hips
    assert ls[0] > rs[0]  # facing the camera: her left shoulder is on the image's right
    assert 0.2 * w < ls[0] - rs[0] < 0.8 * w  # a shoulder width of a person filling the photo
    assert rs[0] < nose[0] < ls[0]


def test_convert_to_h36m_and_coco(astronaut_det):
    h36 = astronaut_det.to_layout("h36m17")
    assert h36.layout == "h36m17" and h36.keypoints.shape == (1, 1, 17, 2)
    lay = get_layout("h36m17")
    ls, _ = _joint(astronaut_det, "left_shoulder")
    rs, _ = _joint(astronaut_det, "right_shoulder")
    np.testing.assert_allclose(h36.keypoints[0, 0, lay.index("thorax")], (ls + rs) / 2, atol=1e-3)
    # a derived joint is as sure as its least sure source
    lh_c = _joint(astronaut_det, "left_hip")[1]
    rh_c = _joint(astronaut_det, "right_hip")[1]
    assert h36.scores[0, 0, lay.index("pelvis")] == pytest.approx(min(lh_c, rh_c))

    coco = astronaut_det.to_layout("coco17")
    clay = get_layout("coco17")
    assert coco.keypoints.shape == (1, 1, 17, 2)
    for name in ("nose", "left_wrist", "right_ankle"):
        np.testing.assert_array_equal(coco.keypoints[0, 0, clay.index(name)], _joint(astronaut_det, name)[0])
    with pytest.raises(PosenasError, match="msr20"):
        h36.to_layout("msr20")  # h36m17 has no hand/foot joints to select


def test_missing_frames_stay_missing_after_conversion():
    kp = np.random.default_rng(0).uniform(0, 100, (3, 1, 33, 2)).astype(np.float32)
    sc = np.ones((3, 1, 33), np.float32)
    kp[1] = np.nan
    sc[1] = 0
    kp[2, 0, get_layout("mediapipe33").index("left_hip")] = np.nan  # one source of the pelvis missing
    h = Detections(kp, sc, "mediapipe33", 100, 100, 30.0).to_layout("h36m17")
    assert np.isnan(h.keypoints[1]).all() and (h.scores[1] == 0).all()
    pel = get_layout("h36m17").index("pelvis")
    assert np.isnan(h.keypoints[2, 0, pel]).all() and h.scores[2, 0, pel] == 0
    assert np.isfinite(h.keypoints[2, 0, get_layout("h36m17").index("right_hip")]).all()  # others unaffected
    np.testing.assert_array_equal(h.detected()[:, 0], [True, False, True])


def test_mediapipe_refuses_models_not_in_the_wheel():
    for complexity in (0, 2):
        with pytest.raises(PosenasError, match="available: 1"):
            MediaPipeDetector(model_complexity=complexity)


def test_empty_image_gives_no_person():
    det = MediaPipeDetector().detect_image(np.full((240, 320, 3), 128, np.uint8))
    assert not det.detected().any()
    assert (det.scores == 0).all() and np.isnan(det.keypoints).all()


def test_registry():
    assert isinstance(get_detector("mediapipe"), MediaPipeDetector)
    with pytest.raises(UnknownNameError, match="precomputed"):
        get_detector("openpose")
    with pytest.raises(PosenasError, match="keypoint file"):
        get_detector("precomputed")


def test_precomputed_detector_reads_user_keypoints(tmp_path):
    from posenas.datasets.keypoints import write_keypoints

    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 200, (5, 1, 17, 2)).astype(np.float32)
    sc = rng.uniform(0.5, 1, (5, 1, 17)).astype(np.float32)
    for vid in ("clip_a", "clip_b"):
        write_keypoints(tmp_path / "kp" / f"{vid}.parquet", vid, kp, sc, "coco17", 25.0, 320, 240)
    det = get_detector("precomputed", path=tmp_path / "kp")
    frames = [np.zeros((240, 320, 3), np.uint8)] * 5
    with pytest.raises(UnknownNameError, match="clip_a"):  # two videos in the folder: which one?
        det.detect_frames(frames)
    out = PrecomputedDetector(tmp_path / "kp", video_id="clip_b").detect_frames(frames, fps=25.0)
    assert out.layout == "coco17" and (out.width, out.height) == (320, 240)
    np.testing.assert_allclose(out.keypoints, kp)
    np.testing.assert_allclose(out.scores, sc)
    with pytest.raises(PosenasError, match="5 frames, the video has 4"):
        PrecomputedDetector(tmp_path / "kp", video_id="clip_b").detect_frames(frames[:4])
