"""Video -> 2D keypoints -> 3D poses, written as files a user can open without posenas.

`lift_video` is what `posenas lift VIDEO -o OUT/` runs; `process_video` is the in-memory core that
the Ray extract job and the benchmark share, so all three produce the same numbers.

Outputs in `out_dir`, named after the video id (the file stem by default):

* ``<id>.npz`` and ``<id>.parquet`` — the posenas keypoint formats (see
  `posenas.datasets.keypoints`): 2D keypoints as detected (pixels, NaN/score 0 where nobody was
  found, not interpolated) in `keypoint_layout`, and ``pose_3d`` (T, P, 17, 3): h36m17, metres,
  root-relative (pelvis at 0), camera axes x right, y down, z forward.
* ``<id>.json`` — run summary: frames, frames without a person, gap lengths filled before lifting,
  detector, lifter checkpoint, timings.
* ``<id>_lifted.mp4`` — side-by-side render (a ``.png`` for a photo), unless render=False.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenas.errors import PosenasError
from posenas.platform.detection.detectors import Detections, Detector, get_detector

log = logging.getLogger(__name__)

FILLED_CONFIDENCE = 0.5  # confidence given to interpolated joints: usable by the lifter, but marked unsure


@dataclass
class VideoResult:
    """One video lifted in memory: detections (detector layout), h36m17 2D used for lifting, 3D poses."""

    video_id: str
    detections: Detections
    keypoints_h36m: np.ndarray  # (T, P, 17, 2) pixels after gap filling (NaN for a person never seen)
    pose_3d: np.ndarray  # (T, P, 17, 3) metres, root-relative; NaN for a person never seen
    stats: dict[str, Any] = field(default_factory=dict)


def resolve_lifter(lifter: Any = None) -> Any:
    """None -> the shipped lifter; a path -> that checkpoint; anything with `.lift` is used as is."""
    if lifter is not None and hasattr(lifter, "lift"):
        return lifter
    from posenas.platform.lifting.inference import load_lifter

    return load_lifter(lifter)


def resolve_detector(detector: str | Detector = "mediapipe", **options: Any) -> Detector:
    return detector if isinstance(detector, Detector) else get_detector(detector, **options)


def fill_gaps(kp: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Interpolate joints without coordinates in one person's (T, J, 2) track.

    Returns (filled keypoints, confidences for the lifter, gap lengths in frames). Interpolated
    joints get FILLED_CONFIDENCE; a joint never seen in the clip stays NaN with confidence 0.
    """
    from posenas.core.normalize import interpolate_missing

    valid = np.isfinite(kp).all(-1) & (scores > 0)
    filled, gaps = interpolate_missing(np.where(valid[..., None], kp, 0.0), valid)
    never = ~valid.any(axis=0)
    filled[:, never] = np.nan
    conf = np.where(valid, scores, np.where(never[None], 0.0, FILLED_CONFIDENCE)).astype(np.float32)
    return filled.astype(np.float32), conf, [int(g) for g in gaps]


def lift_detections(det: Detections, lifter: Any, video_id: str = "") -> VideoResult:
    """Convert to h36m17, fill gaps per person, lift each person seen at least once."""
    t0 = time.perf_counter()
    h = det.to_layout("h36m17")
    t, p = h.num_frames, h.num_persons
    kp_filled = np.full((t, p, 17, 2), np.nan, np.float32)
    poses = np.full((t, p, 17, 3), np.nan, np.float32)
    detected = h.detected()
    persons = []
    for i in range(p):
        if not detected[:, i].any():
            log.warning("%s person %d: not detected in any of %d frames; its 3D pose is left empty (NaN)",
                        video_id or "video", i, t)
            persons.append({"person": i, "frames_detected": 0, "gaps": []})
            continue
        filled, conf, gaps = fill_gaps(h.keypoints[:, i], h.scores[:, i])
        kp_filled[:, i] = filled
        poses[:, i] = lifter.lift(filled, conf, det.width, det.height)
        persons.append({"person": i, "frames_detected": int(detected[:, i].sum()), "gaps": gaps})
        if gaps:
            log.info("%s person %d: filled %d gap(s) by interpolation, lengths %s frames",
                     video_id or "video", i, len(gaps), gaps)
    stats = {
        "frames": t,
        "persons": p,
        "width": det.width,
        "height": det.height,
        "fps": det.fps,
        "frames_without_person": int((~detected.any(axis=1)).sum()),
        "gap_lengths": persons[0]["gaps"] if persons else [],
        "per_person": persons,
        "lift_seconds": time.perf_counter() - t0,
    }
    return VideoResult(video_id, det, kp_filled, poses, stats)


def process_video(video: str | Path, detector: Detector, lifter: Any, video_id: str | None = None,
                  progress: bool = False) -> VideoResult:
    """Detect and lift one video in memory (no files written)."""
    vid = video_id or Path(video).stem
    t0 = time.perf_counter()
    det = detector.detect_video(video, progress=progress)
    t_detect = time.perf_counter() - t0
    if det.num_frames == 0:
        raise PosenasError(f"{video}: no frames")
    res = lift_detections(det, lifter, vid)
    res.stats["detect_seconds"] = t_detect
    res.stats["detector"] = detector.name
    return res


def write_result(res: VideoResult, out_dir: str | Path, keypoint_layout: str | None = "h36m17",
                 formats: tuple[str, ...] = ("npz", "parquet")) -> dict[str, Path]:
    """Write the keypoint files of one result; returns {format: path}."""
    from posenas.datasets.keypoints import write_keypoints

    det = res.detections if keypoint_layout is None else res.detections.to_layout(keypoint_layout)
    out = Path(out_dir)
    paths = {}
    for fmt in formats:
        paths[fmt] = write_keypoints(out / f"{res.video_id}.{fmt}", res.video_id, det.keypoints, det.scores,
                                     det.layout, det.fps, det.width, det.height, res.pose_3d)
    return paths


def lift_video(
    video: str | Path,
    out_dir: str | Path,
    detector: str | Detector = "mediapipe",
    lifter: Any = None,
    render: bool = True,
    keypoint_layout: str | None = "h36m17",
    video_id: str | None = None,
    progress: bool = False,
    detector_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Detect, fill gaps, lift and write one video's results (see the module docstring).

    `keypoint_layout` picks the layout of the written 2D keypoints ("h36m17", "coco17", or None for
    the detector's own, e.g. "mediapipe33"). Returns output paths and the run statistics.
    """
    from posenas.core.video import is_image, probe_video

    video = Path(video)
    probe_video(video)  # fail on a bad file before loading any model
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    det = resolve_detector(detector, **(detector_options or {}))
    lift = resolve_lifter(lifter)
    res = process_video(video, det, lift, video_id, progress=progress)
    paths: dict[str, Any] = dict(write_result(res, out, keypoint_layout))
    if render:
        from posenas.core.render import render_video

        t0 = time.perf_counter()
        suffix = ".png" if is_image(video) else ".mp4"
        target = out / f"{res.video_id}_lifted{suffix}"
        kp = res.detections.to_layout("h36m17")  # the joints the 3D panel shows
        n = render_video(video, target, kp.keypoints, kp.scores, kp.layout, res.pose_3d[:, 0], kp.fps)
        res.stats["render_seconds"] = time.perf_counter() - t0
        res.stats["rendered_frames"] = n
        paths["video"] = target
    res.stats.update({
        "video": str(video),
        "video_id": res.video_id,
        "keypoint_layout": keypoint_layout or res.detections.layout,
        "pose_layout": "h36m17",
        "pose_units": "metres, root-relative (pelvis = 0), camera axes x right, y down, z forward",
        "lifter": str(getattr(lift, "path", None) or type(lift).__name__),
        "detector_meta": {k: v for k, v in res.detections.meta.items() if isinstance(v, (str, int, float))},
    })
    summary = out / f"{res.video_id}.json"
    summary.write_text(json.dumps(res.stats, indent=2, default=str))
    paths["summary"] = summary
    return {"paths": paths, "stats": res.stats}
