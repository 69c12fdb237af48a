"""Person tracking: per-frame detector slots -> one slot per person, with an id that persists across frames.

The frame-to-frame association is norfair's (a Kalman motion model per keypoint, matching on a
distance, tracks that live on through `max_missed` frames without a detection). The distance is
posenas' own: 1 - (w * box IoU + (1 - w) * keypoint similarity), both taken between a detection and
the track's *predicted* pose, so people who cross keep their ids when their motion carries them past
each other. Afterwards, tracks seen in fewer than `min_frames` frames are dropped as spurious (and
reported); the rest become the persons axis of the returned `Detections`, in order of first
appearance, with their ids in ``meta["track_ids"]`` and a per-track summary in ``meta["tracks"]``.

Coordinates stay as detected (NaN where a track has no detection in a frame); `fill_track_gaps`
interpolates inside each track's life span only, so nobody is invented before they enter or after they
leave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from posenas.errors import PosenasError
from posenas.platform.detection.detectors import Detections

log = logging.getLogger(__name__)


@dataclass
class TrackerSettings:
    """Tracker options (plain fields: a pydantic model or YAML section can hold them as they are).

    max_distance: largest 1 - similarity at which a detection may continue a track (0..1).
    iou_weight: weight of box IoU against keypoint similarity in that similarity.
    max_missed: frames a confirmed track survives without a detection (norfair's hit counter).
    min_frames: tracks detected in fewer frames are dropped as spurious (capped at half the clip length, so a short clip with a missed frame keeps its person).
    min_score: joint confidence below which a joint neither shapes the box nor counts for similarity.
    keypoint_sigma: keypoint similarity falls to exp(-1/2) at this fraction of the person's box size.
    max_gap: `fill_track_gaps` interpolates gaps up to this many frames (longer ones stay empty).
    """

    max_distance: float = 0.8
    iou_weight: float = 0.5
    max_missed: int = 15
    min_frames: int = 10
    min_score: float = 0.3
    keypoint_sigma: float = 0.1
    max_gap: int = 30

    def __post_init__(self) -> None:
        checks = {
            "max_distance": 0.0 < self.max_distance <= 1.0,
            "iou_weight": 0.0 <= self.iou_weight <= 1.0,
            "max_missed": self.max_missed >= 0,
            "min_frames": self.min_frames >= 1,
            "min_score": 0.0 <= self.min_score < 1.0,
            "keypoint_sigma": self.keypoint_sigma > 0.0,
            "max_gap": self.max_gap >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise PosenasError(f"tracker setting {bad[0]}={getattr(self, bad[0])!r} is out of range")


def _box(points: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the confident points (all points if none is)."""
    pts = points[ok] if ok.sum() >= 2 else points
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def pose_similarity(points_a: np.ndarray, ok_a: np.ndarray, points_b: np.ndarray, ok_b: np.ndarray,
                    iou_weight: float = 0.5, sigma: float = 0.1) -> float:
    """w * box IoU + (1 - w) * mean over joints confident in both of exp(-d^2 / (2 (sigma * scale)^2)).

    scale is the geometric mean of the two boxes' diagonals, so the similarity does not depend on
    image size or on how far away the person is.
    """
    box_a, box_b = _box(points_a, ok_a), _box(points_b, ok_b)
    iou = _iou(box_a, box_b)
    both = ok_a & ok_b
    if both.sum() == 0:
        return iou_weight * iou
    diag = np.sqrt(np.linalg.norm(box_a[2:] - box_a[:2]) * np.linalg.norm(box_b[2:] - box_b[:2])) + 1e-6
    d2 = ((points_a[both] - points_b[both]) ** 2).sum(axis=-1)
    oks = float(np.exp(-d2 / (2.0 * (sigma * diag) ** 2)).mean())
    return iou_weight * iou + (1.0 - iou_weight) * oks


class _PoseDistance:
    """norfair Distance: rows = detections, columns = tracks, 1 - pose_similarity to the track's prediction."""

    def __init__(self, settings: TrackerSettings):
        self.s = settings

    def get_distances(self, objects, candidates) -> np.ndarray:
        out = np.ones((len(candidates or []), len(objects)), np.float32)
        for c, cand in enumerate(candidates or []):
            ok_c = cand.scores > self.s.min_score
            for o, obj in enumerate(objects):
                pred = obj.estimate
                ok_o = obj.last_detection.scores > self.s.min_score
                out[c, o] = 1.0 - pose_similarity(cand.points, ok_c, pred, ok_o, self.s.iou_weight,
                                                  self.s.keypoint_sigma)
        return out


class PoseTracker:
    """Gives every person a stable id across the frames of one clip. `track(detections) -> Detections`."""

    def __init__(self, settings: TrackerSettings | dict[str, Any] | None = None):
        if isinstance(settings, dict):
            settings = TrackerSettings(**settings)
        self.settings = settings or TrackerSettings()

    def _norfair(self):
        from norfair import Tracker
        from norfair.distances import Distance

        tracker = Tracker(
            distance_function="euclidean",  # replaced below: norfair 2.3 only takes names or scalar functions
            distance_threshold=self.settings.max_distance,
            hit_counter_max=max(1, self.settings.max_missed),
            initialization_delay=0,  # confirmation is decided afterwards, on the whole clip (min_frames)
            detection_threshold=self.settings.min_score,
            pointwise_hit_counter_max=4,
            past_detections_length=0,
        )
        # A norfair `Distance` computing the whole (detections x tracks) matrix at once, set directly.
        tracker.distance_function = type("PoseDistance", (_PoseDistance, Distance), {})(self.settings)
        return tracker

    def track(self, det: Detections) -> Detections:
        """The clip with one person slot per kept track (ordered by first appearance)."""
        from norfair import Detection

        s = self.settings
        t, p, j = det.scores.shape
        tracker = self._norfair()
        assign: dict[int, dict[int, int]] = {}  # norfair object -> {frame: detector slot}
        found = det.detected()
        for f in range(t):
            cands = []
            for k in np.nonzero(found[f])[0]:
                pts = det.keypoints[f, k].astype(np.float64)
                sc = det.scores[f, k].astype(np.float64)
                bad = ~np.isfinite(pts).all(-1)
                if bad.all():
                    continue
                if bad.any():  # norfair needs finite points: park missing joints at the centroid, score 0
                    pts[bad] = pts[~bad].mean(axis=0)
                    sc[bad] = 0.0
                cands.append(Detection(points=pts, scores=sc, data=(f, int(k))))
            tracker.update(detections=cands)
            for obj in tracker.tracked_objects:
                last = obj.last_detection
                if last is not None and last.data is not None and last.data[0] == f:
                    assign.setdefault(id(obj), {})[f] = last.data[1]
        min_frames = min(s.min_frames, max(1, (t + 1) // 2))  # a short clip: present in half of it is enough
        tracks = sorted(assign.values(), key=lambda m: (min(m), -len(m)))
        kept = [m for m in tracks if len(m) >= min_frames]
        dropped = [m for m in tracks if len(m) < min_frames]
        n = len(kept)
        kp = np.full((t, n, j, 2), np.nan, np.float32)
        sc = np.zeros((t, n, j), np.float32)
        world = None if det.world is None else np.full((t, n, j, 3), np.nan, np.float32)
        summary = []
        for i, m in enumerate(kept):
            frames = np.array(sorted(m))
            slots = np.array([m[f] for f in frames])
            kp[frames, i] = det.keypoints[frames, slots]
            sc[frames, i] = det.scores[frames, slots]
            if world is not None:
                world[frames, i] = det.world[frames, slots]
            summary.append({"id": i, "first_frame": int(frames[0]), "last_frame": int(frames[-1]),
                            "frames_detected": int(len(frames)), "gaps": _gaps(frames)})
        spurious = [{"first_frame": int(min(m)), "last_frame": int(max(m)), "frames_detected": len(m)}
                    for m in dropped]
        if spurious:
            log.info("tracking: dropped %d short track(s) (< %d frames): %s", len(spurious), min_frames,
                     [d["frames_detected"] for d in spurious])
        meta = dict(det.meta, track_ids=list(range(n)), tracks=summary, dropped_tracks=spurious,
                    tracker={k: getattr(s, k) for k in s.__dataclass_fields__})
        return replace(det, keypoints=kp, scores=sc, world=world, meta=meta)


def _gaps(frames: np.ndarray) -> list[int]:
    """Lengths of the runs of missing frames between a track's first and last detection."""
    d = np.diff(frames) - 1
    return [int(g) for g in d[d > 0]]


def fill_track_gaps(det: Detections, max_gap: int = 30, filled_score: float = 0.5) -> Detections:
    """Linearly interpolate each track's missing frames inside its life span (gaps up to `max_gap` frames).

    Interpolated joints get `filled_score` (usable, marked unsure); frames before a track's first or
    after its last detection, and longer gaps, stay NaN with score 0.
    """
    kp = det.keypoints.copy()
    sc = det.scores.copy()
    t = det.num_frames
    frames = np.arange(t)
    for i in range(det.num_persons):
        for jj in range(kp.shape[2]):
            ok = np.isfinite(kp[:, i, jj]).all(-1) & (sc[:, i, jj] > 0)
            idx = np.nonzero(ok)[0]
            if len(idx) < 2:
                continue
            inside = (frames > idx[0]) & (frames < idx[-1]) & ~ok
            if not inside.any():
                continue
            nxt = idx[np.searchsorted(idx, frames, side="left").clip(0, len(idx) - 1)]
            prv = idx[(np.searchsorted(idx, frames, side="right") - 1).clip(0, len(idx) - 1)]
            inside &= (nxt - prv - 1) <= max_gap
            for d in range(2):
                kp[inside, i, jj, d] = np.interp(frames[inside], idx, kp[idx, i, jj, d])
            sc[inside, i, jj] = filled_score
    return replace(det, keypoints=kp, scores=sc, meta=dict(det.meta, gaps_filled_up_to=max_gap))
