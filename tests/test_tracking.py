"""Person tracking: stable ids through crossings and misses, spurious tracks dropped, gaps filled per track,
and the real multi-person capture tracked with one id per main person."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.errors import PosenasError
from posenas.platform.detection.detectors import Detections
from posenas.platform.detection.tracking import PoseTracker, TrackerSettings, fill_track_gaps


def _skeleton(rng: np.random.Generator) -> np.ndarray:
    """A person-shaped (17, 2) point set, 60 px wide and 170 px tall, centred at 0."""
    return np.c_[rng.uniform(-30, 30, 17), np.linspace(-85, 85, 17)]


def _crossing_clip(seed: int = 0) -> tuple[Detections, np.ndarray]:
    """Two people walking past each other (they cross at frame 30), slots shuffled every frame; person 1
    missed for frames 27-32 (hidden behind person 0), and one 3-frame false detection far away."""
    rng = np.random.default_rng(seed)
    t = 60
    shapes = [_skeleton(rng), _skeleton(rng)]
    x = np.stack([100 + 8 * np.arange(t), 580 - 8 * np.arange(t)], axis=1)  # (T, 2) centres in x
    truth = np.stack([shapes[i][None] + np.c_[x[:, i], np.full(t, 240.0)][:, None] for i in range(2)], axis=1)
    kp = np.full((t, 3, 17, 2), np.nan, np.float32)
    sc = np.zeros((t, 3, 17), np.float32)
    for f in range(t):
        people = [truth[f, 0]] + ([] if 27 <= f <= 32 else [truth[f, 1]])
        if 40 <= f < 43:
            people.append(shapes[0] + [600.0, 60.0])
        order = rng.permutation(len(people))
        for slot, k in enumerate(order):
            kp[f, slot] = people[k] + rng.normal(0, 1.5, (17, 2))
            sc[f, slot] = 0.9
    return Detections(kp, sc, "coco17", 720, 480, 30.0), truth


def test_ids_survive_a_crossing_and_a_miss():
    det, truth = _crossing_clip()
    out = PoseTracker(TrackerSettings(min_frames=10)).track(det)
    assert out.num_persons == 2 and out.track_ids == [0, 1]
    assert [d["frames_detected"] for d in out.meta["dropped_tracks"]] == [3]  # the false detection
    for i in range(2):
        seen = out.detected()[:, i]
        pts = out.keypoints[seen, i]  # (n, 17, 2) against each true person's points
        dist = np.linalg.norm(pts[:, None] - truth[seen], axis=-1).mean(axis=-1)
        owner = dist.argmin(axis=1)
        assert (owner == owner[0]).all(), f"track {i} switches person"  # one person per id, all frames
    counts = sorted(int(n) for n in out.detected().sum(axis=0))
    assert counts == [54, 60]
    tracks = {tr["frames_detected"]: tr for tr in out.meta["tracks"]}
    assert tracks[54]["gaps"] == [6] and (tracks[54]["first_frame"], tracks[54]["last_frame"]) == (0, 59)


def test_fill_track_gaps_stays_inside_each_track():
    kp = np.full((10, 2, 1, 2), np.nan, np.float32)
    sc = np.zeros((10, 2, 1), np.float32)
    kp[[2, 3, 7], 0, 0] = [[2, 0], [3, 0], [7, 0]]
    sc[[2, 3, 7], 0] = 1.0
    kp[:2, 1, 0] = [[0, 0], [1, 1]]
    sc[:2, 1] = 1.0
    det = Detections(np.repeat(kp, 17, axis=2), np.repeat(sc, 17, axis=2), "h36m17", 10, 10, 30.0)
    out = fill_track_gaps(det, max_gap=3)
    x = out.keypoints[:, 0, 0, 0]
    np.testing.assert_allclose(x[2:8], [2, 3, 4, 5, 6, 7])  # frames 4-6 interpolated
    np.testing.assert_allclose(out.scores[4:7, 0, 0], 0.5)
    assert np.isnan(x[:2]).all() and np.isnan(x[8:]).all()  # nobody invented before or after
    assert np.isnan(out.keypoints[2:, 1]).all()  # the second track ends at frame 1
    short = fill_track_gaps(det, max_gap=2)
    assert np.isnan(short.keypoints[4:7, 0]).all()  # a gap longer than max_gap stays empty


def test_settings_are_checked():
    with pytest.raises(PosenasError, match="max_distance"):
        TrackerSettings(max_distance=0.0)
    assert PoseTracker({"min_frames": 3}).settings.min_frames == 3


def test_a_single_frame_keeps_its_people():
    det, _ = _crossing_clip()
    one = Detections(det.keypoints[:1], det.scores[:1], det.layout, det.width, det.height, det.fps)
    out = PoseTracker().track(one)
    assert out.num_persons == 2 and out.detected().all()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_capture_one_track_per_person(pose2sim_root):
    """cam01 of the shared capture, first 40 frames: a woman in front (whole clip) and a man on the force
    plate (detected from about frame 8); a third person stands far in the background (about 120 px tall
    in a 1920 px frame, below what the detector sees)."""
    from posenas.core.video import iter_frames
    from posenas.platform.detection.mediapipe_tasks import MediaPipePoseLandmarker

    frames = [f for _, f in zip(range(40), iter_frames(pose2sim_root / "videos" / "cam01.mp4"))]
    det = MediaPipePoseLandmarker(num_poses=4).detect_frames(frames, fps=60.0)
    out = PoseTracker().track(det)
    assert out.num_persons == 2, out.meta["tracks"]
    seen = out.detected().sum(axis=0)
    assert seen.min() >= 28 and seen.max() >= 38  # each main person over most frames, with one id
    for i in range(2):
        ok = out.detected()[:, i]
        c = np.nanmedian(out.keypoints[ok, i], axis=1)
        step = np.linalg.norm(np.diff(c, axis=0), axis=-1)
        assert step.max() < 0.08 * det.height  # no jump from one person to the other (he jumps: ~100 px)
    # the two tracks are different people throughout: their centres stay apart
    both = out.detected().all(axis=1)
    gap = np.linalg.norm(np.nanmedian(out.keypoints[both, 0], axis=1) - np.nanmedian(out.keypoints[both, 1], axis=1),
                         axis=-1)
    assert gap.min() > 0.1 * det.height
