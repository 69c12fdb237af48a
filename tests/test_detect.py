"""2D detection: MediaPipe (legacy single-person and Tasks multi-person) on a real photo, the offline model
bundle, layout conversion, precomputed keypoints, registry errors."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.errors import PosenasError, UnknownNameError
from posenas.platform.detection.detectors import (
    DETECTORS, Detections, MediaPipeDetector, PrecomputedDetector, available_detectors, get_detector,
)
from posenas.platform.detection.mediapipe_tasks import MediaPipePoseLandmarker, model_bundle
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


def test_openpose_and_coco_import_keep_every_person(tmp_path):
    import json

    from posenas.datasets.keypoints import read_keypoints

    rng = np.random.default_rng(2)
    op = tmp_path / "op"
    op.mkdir()
    for f in range(3):
        people = [{"pose_keypoints_2d": np.c_[rng.uniform(0, 300, (25, 2)), np.full(25, 0.9)].ravel().tolist()}
                  for _ in range(3 if f == 1 else 2)]
        (op / f"clip_{f:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    (seq,) = read_keypoints(op)
    assert seq.joints.shape[:2] == (3, 3)  # three slots: the frame with three people keeps all of them
    assert np.isfinite(seq.joints[1, 2]).all() and np.isnan(seq.joints[0, 2]).all()

    images = [{"id": i, "file_name": f"v/{i:04d}.jpg", "width": 640, "height": 480} for i in range(2)]
    anns = [{"id": 10 * i + k, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
             "keypoints": np.c_[rng.uniform(0, 400, (17, 2)), np.full(17, 2)].ravel().tolist()}
            for i in range(2) for k in range(2)]
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person"}]}))
    (cseq,) = read_keypoints(coco)
    assert cseq.joints.shape[:2] == (2, 2) and np.isfinite(cseq.joints).all()


def test_mediapipe_refuses_models_not_in_the_wheel():
    for complexity in (0, 2):
        with pytest.raises(PosenasError, match="available: 1"):
            MediaPipeDetector(model_complexity=complexity)


# every detector that looks at pixels (the precomputed one reads keypoint files instead)
IMAGE_DETECTORS = [n for n in available_detectors() if n != "precomputed"]


@pytest.mark.parametrize("name", IMAGE_DETECTORS)
def test_empty_image_gives_no_person(name):
    det = get_detector(name).detect_image(np.full((240, 320, 3), 128, np.uint8))
    assert not det.detected().any()
    assert (det.scores == 0).all() and np.isnan(det.keypoints).all()


def test_registry():
    assert available_detectors() == ["mediapipe", "mediapipe_legacy", "precomputed"]
    assert "mediapipe" in DETECTORS
    assert isinstance(get_detector("mediapipe"), MediaPipePoseLandmarker)  # the multi-person default
    assert isinstance(get_detector("mediapipe_legacy"), MediaPipeDetector)
    with pytest.raises(UnknownNameError, match="mediapipe_legacy"):
        get_detector("openpose")
    with pytest.raises(PosenasError, match="keypoint file"):
        get_detector("precomputed")
    with pytest.raises(PosenasError, match="num_pose"):
        get_detector("mediapipe", num_pose=2)  # misspelt option: named, not a bare TypeError
    with pytest.raises(PosenasError, match="mode="):
        get_detector("mediapipe", mode="fast")


def test_model_bundle_is_built_from_the_wheel(tmp_path):
    import zipfile

    from mediapipe.tasks.python.metadata import metadata

    path = model_bundle(tmp_path)
    assert path.parent == tmp_path and path.suffix == ".task"
    assert model_bundle(tmp_path) == path  # cached: built once
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
        for member, mean, std in (("pose_detector.tflite", 127.5, 127.5),
                                  ("pose_landmarks_detector.tflite", 0.0, 255.0)):
            md = metadata.MetadataDisplayer.with_model_buffer(zf.read(member)).get_metadata_json()
            import json

            proc = json.loads(md)["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"][0]
            assert proc["options"]["mean"] == [mean] and proc["options"]["std"] == [std]


def test_multi_person_agrees_with_legacy_on_a_single_person_photo(astronaut, astronaut_det):
    det = MediaPipePoseLandmarker(num_poses=3).detect_image(astronaut)
    assert det.keypoints.shape == (1, 3, 33, 2) and det.world.shape == (1, 3, 33, 3)
    np.testing.assert_array_equal(det.detected()[0], [True, False, False])  # one person, two empty slots
    d = np.linalg.norm(det.keypoints[0, 0] - astronaut_det.keypoints[0, 0], axis=-1)
    assert np.median(d) < 1.0 and d.max() < 8.0  # the same landmark network: pixel-level agreement
    np.testing.assert_allclose(det.scores[0, 0], astronaut_det.scores[0, 0], atol=0.05)
    assert np.isfinite(det.world[0, 0]).all() and np.isnan(det.world[0, 1:]).all()


def test_multi_person_video_matches_legacy_per_frame(astronaut):
    """A real photo panned across 12 frames: the multi-person detector in video mode ends where the
    legacy detector does frame by frame (its own video mode lags behind the motion by design)."""
    pad = np.pad(astronaut, ((30, 30), (30, 30), (0, 0)), mode="edge")
    frames = [np.ascontiguousarray(pad[30 + int(15 * np.sin(i / 3)):, 3 * i:][:480, :480]) for i in range(12)]
    multi = MediaPipePoseLandmarker(num_poses=2).detect_frames(frames, fps=30.0)
    legacy = MediaPipeDetector()
    ref = np.concatenate([legacy.detect_image(f).keypoints for f in frames])
    assert multi.detected()[:, 0].all() and not multi.detected()[:, 1].any()
    d = np.linalg.norm(multi.keypoints[:, 0] - ref[:, 0], axis=-1)
    sure = multi.scores[:, 0] > 0.5
    assert np.median(d[sure]) < 2.0 and np.percentile(d[sure], 90) < 8.0
    lv = legacy.detect_frames(frames, fps=30.0)  # and it is close to legacy's own video mode
    assert np.median(np.linalg.norm(multi.keypoints[:, 0] - lv.keypoints[:, 0], axis=-1)[sure]) < 40.0


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
