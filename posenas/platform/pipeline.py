"""The one composition from video to action: detector -> tracker -> lifter -> encoder -> classifier.

`posenas run`, `posenas lift`, the Ray extract job, the benchmarks and the Serve application all go
through `Pipeline`, so they compute the same numbers. Each stage is a plain object that can be replaced
(`Pipeline(detector=..., lifter=..., encoder=..., classifier=...)`); `Pipeline.from_config` builds the
defaults from a validated `PipelineConfig` (all offline: MediaPipe's in-wheel weights, the shipped lifter
and action model). Stages are loaded on first use, so a server that only lifts and classifies keypoints
never loads a detector.

Entry points: `run_video` (a file), `run_frames` (an RGB array), `run_keypoints` (a 2D keypoint clip of
any layout), `run_poses` (a 3D pose clip), and the batched `lift_batch` / `classify_batch` that a server
calls with many clips at once. Every result keeps a persons axis: (T, P, J, .) arrays and one action per
person seen.

Pose spaces: the lifter gives h36m17, metres, pelvis at the origin, camera axes (x right, y down, z
forward). The classifier states in its checkpoint the space it learned in (`pose_space`), and the encoder
converts to it; a classifier whose space or joint layout the encoder cannot produce fails at load time.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenas.core.normalize import interpolate_missing
from posenas.core.skeleton import convert_confidence_to_h36m, convert_to_h36m, get_layout
from posenas.errors import DataFormatError, PosenasError
from posenas.platform.detection.detectors import Detections, Detector, get_detector
from posenas.platform.pipeline_config import PipelineConfig, load_pipeline_config

log = logging.getLogger(__name__)

FILLED_CONFIDENCE = 0.5  # confidence given to interpolated joints: usable by the lifter, but marked unsure
POSE_LAYOUT = "h36m17"
POSE_UNITS = "metres, root-relative (pelvis = 0), camera axes x right, y down, z forward"


# --- records --------------------------------------------------------------------------------------
@dataclass
class PersonAction:
    """The action of one person (one slot of the persons axis)."""

    person: int
    label: str
    probability: float
    top_k: list[tuple[str, float]]
    probabilities: list[float]  # every class, in `Pipeline.classes` order
    track_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"person": self.person, "track_id": self.track_id, "label": self.label,
                "probability": self.probability, "top_k": [{"label": c, "probability": p} for c, p in self.top_k]}


@dataclass
class KeypointClip:
    """One 2D keypoint clip as a client sends it: (T, P, J, 2) pixels of a width x height image."""

    keypoints: np.ndarray
    scores: np.ndarray | None
    layout: str
    width: int
    height: int
    fps: float = 30.0
    clip_id: str = "clip"


@dataclass
class PipelineResult:
    """Everything one clip produced. Arrays keep a persons axis; NaN marks a person not seen in a frame."""

    clip_id: str
    keypoints_2d: np.ndarray | None  # (T, P, 17, 2) h36m17 pixels after gap filling (None for 3D input)
    scores: np.ndarray | None  # (T, P, 17) confidences the lifter used
    pose_3d: np.ndarray  # (T, P, 17, 3) metres, h36m17, root-relative, camera axes
    actions: list[PersonAction]
    models: dict[str, str]
    timings: dict[str, float]
    stats: dict[str, Any] = field(default_factory=dict)
    detections: Detections | None = None  # the detector's own output (its layout, not gap-filled)

    @property
    def num_frames(self) -> int:
        return int(self.pose_3d.shape[0])

    def to_dict(self, arrays: bool = True) -> dict[str, Any]:
        """JSON-ready record (NaN -> None); `arrays=False` leaves out the per-frame arrays."""
        d: dict[str, Any] = {
            "clip_id": self.clip_id,
            "frames": self.num_frames,
            "persons": int(self.pose_3d.shape[1]),
            "actions": [a.to_dict() for a in self.actions],
            "models": dict(self.models),
            "timings": {k: round(float(v), 6) for k, v in self.timings.items()},
        }
        if arrays:
            d["pose_3d"] = _nan_to_none(self.pose_3d)
            if self.keypoints_2d is not None:
                d["keypoints_2d"] = _nan_to_none(self.keypoints_2d)
                d["scores"] = _nan_to_none(self.scores)
        return d


def _nan_to_none(a: np.ndarray | None) -> Any:
    if a is None:
        return None
    x = np.round(np.asarray(a, dtype=np.float64), 5)
    return np.where(np.isfinite(x), x, None).tolist()


# --- input checks (one clear message naming the field) ---------------------------------------------
def check_keypoint_clip(clip: KeypointClip, where: str = "clip") -> tuple[np.ndarray, np.ndarray]:
    """Validated (T, P, J, 2) keypoints and (T, P, J) scores of a clip; DataFormatError names the field."""
    try:
        lay = get_layout(clip.layout)
    except PosenasError as exc:
        raise DataFormatError(where, str(exc), field="layout") from None
    kp = np.asarray(clip.keypoints, dtype=np.float32)
    if kp.ndim != 4 or kp.shape[-1] != 2 or kp.shape[2] != lay.num_joints:
        raise DataFormatError(where, f"keypoints must be (frames, persons, {lay.num_joints}, 2) for layout "
                                     f"{lay.name}, got shape {list(kp.shape)}", field="keypoints")
    if kp.shape[0] < 1 or kp.shape[1] < 1:
        raise DataFormatError(where, "keypoints hold no frame or no person", field="keypoints")
    if np.isinf(kp).any():
        raise DataFormatError(where, "keypoints contain inf (use NaN, or score 0, for a missing joint)", field="keypoints")
    if clip.scores is None:
        sc = np.where(np.isfinite(kp).all(-1), 1.0, 0.0).astype(np.float32)
    else:
        sc = np.asarray(clip.scores, dtype=np.float32)
        if sc.shape != kp.shape[:3]:
            raise DataFormatError(where, f"scores must be (frames, persons, joints) = {list(kp.shape[:3])}, "
                                         f"got {list(sc.shape)}", field="scores")
        if not np.isfinite(sc).all() or (sc < 0).any() or (sc > 1).any():
            raise DataFormatError(where, "scores must be finite and in [0, 1]", field="scores")
    for name, v in (("width", clip.width), ("height", clip.height)):
        if not (isinstance(v, (int, np.integer, float)) and np.isfinite(v) and v > 0):
            raise DataFormatError(where, f"{name} must be a positive number of pixels, got {v!r}", field=name)
    return kp, sc


def check_pose_clip(poses: np.ndarray, layout: str, where: str = "clip") -> np.ndarray:
    """Validated (T, P, J, 3) poses in metres; DataFormatError names the field."""
    try:
        lay = get_layout(layout)
    except PosenasError as exc:
        raise DataFormatError(where, str(exc), field="layout") from None
    x = np.asarray(poses, dtype=np.float32)
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[2] != lay.num_joints:
        raise DataFormatError(where, f"poses must be (frames, persons, {lay.num_joints}, 3) for layout {lay.name}, "
                                     f"got shape {list(x.shape)}", field="poses")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise DataFormatError(where, f"poses need at least 1 frame and 1 person, got shape {list(x.shape)}", field="poses")
    if np.isinf(x).any():
        raise DataFormatError(where, "poses contain inf (use NaN for a missing joint)", field="poses")
    return x


def fill_gaps(kp: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Interpolate joints without coordinates in one person's (T, J, 2) track.

    Returns (filled keypoints, confidences for the lifter, gap lengths in frames). Interpolated
    joints get FILLED_CONFIDENCE; a joint never seen in the clip stays NaN with confidence 0.
    """
    valid = np.isfinite(kp).all(-1) & (scores > 0)
    filled, gaps = interpolate_missing(np.where(valid[..., None], kp, 0.0), valid)
    never = ~valid.any(axis=0)
    filled[:, never] = np.nan
    conf = np.where(valid, scores, np.where(never[None], 0.0, FILLED_CONFIDENCE)).astype(np.float32)
    return filled.astype(np.float32), conf, [int(g) for g in gaps]


# --- the pipeline ---------------------------------------------------------------------------------
class Pipeline:
    """detector -> tracker -> lifter -> encoder -> classifier; any stage may be given, else it is built from
    the config on first use. `classes` are the classifier's class names."""

    def __init__(self, config: PipelineConfig | dict[str, Any] | str | Path | None = None, *,
                 detector: Detector | None = None, tracker: Any = None, lifter: Any = None, encoder: Any = None,
                 classifier: Any = None):
        self.config = load_pipeline_config(config)
        self._detector = detector
        self._tracker = tracker
        self._lifter = lifter
        self._encoder = encoder
        self._classifier = classifier

    @classmethod
    def from_config(cls, config: PipelineConfig | dict[str, Any] | str | Path | None = None) -> "Pipeline":
        """A pipeline from a config (object, dict, YAML path, or None for the offline defaults)."""
        return cls(config)

    # stages, loaded on first use
    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = get_detector(self.config.detector.name, **self.config.detector.options)
        return self._detector

    @property
    def tracker(self) -> Any:
        """The tracker (`track(Detections) -> Detections`), or None when tracking is off."""
        if self._tracker is None and self.config.tracker.enabled:
            from posenas.platform.detection.tracking import PoseTracker

            self._tracker = PoseTracker(self.config.tracker.options or None)
        return self._tracker

    @property
    def lifter(self) -> Any:
        if self._lifter is None:
            from posenas.platform.lifting.inference import load_lifter

            self._lifter = load_lifter(self.config.lifter.checkpoint)
            self._lifter.max_frames_per_pass = self.config.lifter.max_frames_per_pass
        return self._lifter

    @property
    def classifier(self) -> Any:
        if self._classifier is None:
            from posenas.platform.classification.inference import load_action_classifier

            self._classifier = load_action_classifier(self.config.classifier.checkpoint)
        return self._classifier

    @property
    def encoder(self) -> Any:
        """Built from the classifier's own records (encoding + pose space) unless one was given."""
        if self._encoder is None:
            from posenas.platform.encoding.encoder import ActionEncoder

            clf = self.classifier
            layout = clf.space.get("layout", POSE_LAYOUT)
            if clf.space.get("name") != "canonical" or layout != POSE_LAYOUT:
                raise PosenasError(
                    f"action model {clf.name} ({clf.path}) was trained in pose space {clf.space.get('name')!r}, "
                    f"layout {layout!r}; the pipeline feeds it lifted {POSE_LAYOUT} poses, which it can only convert to "
                    "the 'canonical' space: retrain it with `posenas train --poses lifted` (or `--space canonical`)")
            self._encoder = ActionEncoder.from_records(clf.encoding, clf.space)
        return self._encoder

    @property
    def classes(self) -> list[str]:
        return list(self.classifier.classes)

    def model_ids(self, with_detector: bool = True) -> dict[str, str]:
        ids = {"lifter": str(getattr(self.lifter, "name", type(self.lifter).__name__)),
               "classifier": str(getattr(self.classifier, "name", type(self.classifier).__name__))}
        if with_detector:
            ids = {"detector": self.config.detector.name if self._detector is None else self._detector.name, **ids}
        return ids

    def model_info(self) -> dict[str, dict[str, Any]]:
        """Records of the served models: id, classes, coordinate space, genotype, training data, metrics."""
        lif = self.lifter
        clf = self.classifier
        lrec = dict(lif.info.get("records", {})) if isinstance(getattr(lif, "info", None), dict) else {}
        crec = dict(clf.records)
        return {
            "lifter": {"id": getattr(lif, "name", ""), "family": lrec.get("family"), "layout": POSE_LAYOUT,
                       "space": lrec.get("space"), "receptive_field": getattr(lif, "receptive_field", None),
                       "data": lrec.get("data"), "metrics": lrec.get("metrics"), "path": str(getattr(lif, "path", ""))},
            "classifier": {"id": clf.name, "family": clf.family, "classes": list(clf.classes), "space": clf.space,
                           "encoding": clf.encoding, "genotype": (crec.get("config") or {}).get("genotype"),
                           "data": crec.get("data"), "metrics": crec.get("metrics"), "path": str(clf.path or "")},
        }

    # stage by stage
    def track(self, det: Detections) -> Detections:
        tracker = self.tracker
        return det if tracker is None else tracker.track(det)

    def lift_detections(self, det: Detections, clip_id: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Convert to h36m17, fill gaps per person, lift each person seen at least once.

        Returns (filled keypoints (T, P, 17, 2), lifter confidences (T, P, 17), poses (T, P, 17, 3), stats).
        """
        h = det.to_layout(POSE_LAYOUT)
        t, p = h.num_frames, h.num_persons
        kp_filled = np.full((t, p, 17, 2), np.nan, np.float32)
        conf = np.zeros((t, p, 17), np.float32)
        poses = np.full((t, p, 17, 3), np.nan, np.float32)
        detected = h.detected()
        persons = []
        ids = det.track_ids
        if p == 0:
            log.warning("%s: nobody detected in any of %d frames; no 3D pose", clip_id or "clip", t)
        for i in range(p):
            if not detected[:, i].any():
                log.warning("%s person %d: not detected in any of %d frames; its 3D pose is left empty (NaN)",
                            clip_id or "clip", i, t)
                persons.append({"person": i, "track_id": ids[i], "frames_detected": 0, "gaps": []})
                continue
            filled, c, gaps = fill_gaps(h.keypoints[:, i], h.scores[:, i])
            kp_filled[:, i], conf[:, i] = filled, c
            poses[:, i] = self.lifter.lift(filled, c, det.width, det.height)
            # a track exists only between its first and last detection: no pose before it enters or after it leaves
            seen = np.nonzero(detected[:, i])[0]
            outside = np.r_[0 : seen[0], seen[-1] + 1 : t]
            kp_filled[outside, i], conf[outside, i], poses[outside, i] = np.nan, 0.0, np.nan
            persons.append({"person": i, "track_id": ids[i], "frames_detected": int(detected[:, i].sum()), "gaps": gaps})
            if gaps:
                log.info("%s person %d: filled %d gap(s) by interpolation, lengths %s frames",
                         clip_id or "clip", i, len(gaps), gaps)
        stats = {
            "frames": t, "persons": p, "width": det.width, "height": det.height, "fps": det.fps,
            "frames_without_person": int((~detected.any(axis=1)).sum()) if p else t,
            "gap_lengths": persons[0]["gaps"] if persons else [],
            "per_person": persons,
        }
        return kp_filled, conf, poses, stats

    def lift_batch(self, clips: list[KeypointClip]) -> list[np.ndarray]:
        """Lift many 2D clips of any layout: one (T, P, 17, 3) array per clip (NaN for persons never seen)."""
        out = []
        for k, clip in enumerate(clips):
            kp, sc = check_keypoint_clip(clip, where=f"clips[{k}]")
            det = Detections(kp, sc, clip.layout, int(clip.width), int(clip.height), float(clip.fps))
            out.append(self.lift_detections(det, clip.clip_id)[2])
        return out

    def classify_batch(self, poses: list[np.ndarray], layout: str = POSE_LAYOUT,
                       left_handed: list[bool] | None = None, track_ids: list[list[int] | None] | None = None,
                       timings: dict[str, float] | None = None) -> list[list[PersonAction]]:
        """Classify every person of every (T, P, J, 3) clip; all action images go through the network in one
        batch. A person with fewer than 2 frames of finite joints gets no action."""
        t0 = time.perf_counter()
        enc = self.encoder
        images, owners = [], []
        for k, clip in enumerate(poses):
            lh = bool(left_handed[k]) if left_handed else False
            for person, joints in enumerate(enc.person_joints(clip, layout, lh)):
                if joints is not None:
                    images.append(enc.encode(joints, clip_id=f"clip {k} person {person}", layout=layout))
                    owners.append((k, person))
        t1 = time.perf_counter()
        results: list[list[PersonAction]] = [[] for _ in poses]
        if images:
            probs = self.classifier.predict(np.stack(images))
            classes = self.classes
            top = min(self.config.classifier.top_k, len(classes))
            for (k, person), pr in zip(owners, probs):
                order = np.argsort(-pr)[:top]
                ids = track_ids[k] if track_ids and track_ids[k] else None
                results[k].append(PersonAction(person, classes[order[0]], float(pr[order[0]]),
                                               [(classes[i], float(pr[i])) for i in order], [float(v) for v in pr],
                                               ids[person] if ids else person))
        if timings is not None:
            timings["encode"] = t1 - t0
            timings["classify"] = time.perf_counter() - t1
        return results

    # whole clips
    def run_detections(self, det: Detections, clip_id: str = "clip", classify: bool = True,
                       timings: dict[str, float] | None = None, track: bool = True) -> PipelineResult:
        """Track (detector output: per-frame person slots), lift and classify a clip. `track=False` keeps the
        persons axis as given (a client's clip, a keypoint file whose persons are already tracks)."""
        timings = dict(timings or {})
        if track:
            t0 = time.perf_counter()
            det = self.track(det)
            timings["track"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        kp, conf, poses, stats = self.lift_detections(det, clip_id)
        timings["lift"] = time.perf_counter() - t0
        if "tracks" in det.meta:  # the tracker's spans and gaps per track, and the short tracks it dropped
            stats["tracks"] = det.meta["tracks"]
            stats["dropped_tracks"] = det.meta.get("dropped_tracks", [])
        actions: list[PersonAction] = []
        if classify:
            actions = self._classify(poses, timings, det.track_ids)
        models = self.model_ids() if classify else {"detector": getattr(self._detector, "name", ""),
                                                    "lifter": str(getattr(self.lifter, "name", ""))}
        stats["lifter"] = str(getattr(self.lifter, "path", None) or models["lifter"])
        if classify:
            stats["classifier"] = str(getattr(self.classifier, "path", None) or models["classifier"])
        return PipelineResult(clip_id, kp, conf, poses, actions, models, timings, stats, det)

    def _classify(self, poses: np.ndarray, timings: dict[str, float], track_ids: list[int] | None = None,
                  layout: str = POSE_LAYOUT, left_handed: bool = False) -> list[PersonAction]:
        return self.classify_batch([poses], layout, [left_handed], [track_ids], timings)[0]

    def run_video(self, path: str | Path, clip_id: str | None = None, progress: bool = False,
                  classify: bool = True) -> PipelineResult:
        """Decode and detect a video file (or one photo), then track, lift and classify."""
        from posenas.core.video import probe_video

        path = Path(path)
        probe_video(path)  # a bad file fails before any model loads
        t0 = time.perf_counter()
        det = self.detector.detect_video(path, progress=progress)
        t_detect = time.perf_counter() - t0
        if det.num_frames == 0:
            raise DataFormatError(path, "no frames")
        res = self.run_detections(det, clip_id or path.stem, classify, {"detect": t_detect})
        res.stats["detector"] = self.detector.name
        return res

    def run_frames(self, frames: np.ndarray, fps: float = 30.0, clip_id: str = "frames",
                   classify: bool = True) -> PipelineResult:
        """Detect in an (T, H, W, 3) uint8 RGB array, then track, lift and classify."""
        x = np.asarray(frames)
        if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8 or len(x) == 0:
            raise DataFormatError(clip_id, f"frames must be a non-empty (T, H, W, 3) uint8 RGB array, got "
                                           f"{x.dtype} {list(x.shape)}", field="frames")
        t0 = time.perf_counter()
        det = self.detector.detect_frames(list(x), fps=fps, static=len(x) == 1, total=len(x))
        res = self.run_detections(det, clip_id, classify, {"detect": time.perf_counter() - t0})
        res.stats["detector"] = self.detector.name
        return res

    def run_keypoints(self, keypoints: np.ndarray, scores: np.ndarray | None, layout: str, width: int,
                      height: int, fps: float = 30.0, clip_id: str = "clip", classify: bool = True) -> PipelineResult:
        """Lift and classify a 2D keypoint clip of any registered layout, (T, P, J, 2) pixels."""
        clip = KeypointClip(keypoints, scores, layout, width, height, fps, clip_id)
        kp, sc = check_keypoint_clip(clip, where=clip_id)
        det = Detections(kp, sc, layout, int(width), int(height), float(fps))
        return self.run_detections(det, clip_id, classify, track=False)

    def run_poses(self, poses: np.ndarray, layout: str = POSE_LAYOUT, left_handed: bool = False,
                  clip_id: str = "clip") -> PipelineResult:
        """Classify a 3D pose clip (T, P, J, 3) in metres of any registered layout (`left_handed`: MSR Real3D)."""
        x = check_pose_clip(poses, layout, where=clip_id)
        timings: dict[str, float] = {}
        actions = self._classify(x, timings, None, layout, left_handed)
        h = convert_to_h36m(x, layout) if layout != POSE_LAYOUT else x
        h = h - h[:, :, :1]
        return PipelineResult(clip_id, None, None, h.astype(np.float32), actions, self.model_ids(with_detector=False),
                              timings, {"frames": int(x.shape[0]), "persons": int(x.shape[1]), "input_layout": layout})


# --- files a user can open without posenas ---------------------------------------------------------
def write_result(res: PipelineResult, out_dir: str | Path, keypoint_layout: str | None = POSE_LAYOUT,
                 formats: tuple[str, ...] = ("npz", "parquet")) -> dict[str, Path]:
    """Write the keypoint files of one result (2D as detected, not gap-filled, plus the 3D); {format: path}."""
    from posenas.datasets.keypoints import write_keypoints

    if res.detections is None:
        raise PosenasError(f"{res.clip_id}: a result without 2D detections has no keypoint file")
    det = res.detections if keypoint_layout is None else res.detections.to_layout(keypoint_layout)
    out = Path(out_dir)
    return {fmt: write_keypoints(out / f"{res.clip_id}.{fmt}", res.clip_id, det.keypoints, det.scores,
                                 det.layout, det.fps, det.width, det.height, res.pose_3d)
            for fmt in formats}


def _caption(actions: list[PersonAction]) -> list[str]:
    lines = []
    for a in actions:
        who = f"#{a.track_id if a.track_id is not None else a.person}"
        alts = ", ".join(f"{c} {p:.0%}" for c, p in a.top_k[1:3])
        lines.append(f"{who} {a.label} {a.probability:.0%}" + (f"  ({alts})" if alts else ""))
    return lines


def write_outputs(res: PipelineResult, video: str | Path | None, out_dir: str | Path, render: bool = True,
                  keypoint_layout: str | None = POSE_LAYOUT) -> dict[str, Path]:
    """npz + Parquet, the summary JSON, `<id>.actions.json` when classified, and the rendered H.264 video
    (a PNG for a photo). A render that fails is reported in the summary; the other files are kept."""
    from posenas.core.video import is_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = dict(write_result(res, out, keypoint_layout))
    stats = dict(res.stats)
    if res.actions:
        actions_path = out / f"{res.clip_id}.actions.json"
        actions_path.write_text(json.dumps({"clip_id": res.clip_id, "models": res.models, "classes": None,
                                            "actions": [a.to_dict() for a in res.actions]}, indent=2))
        paths["actions"] = actions_path
    if render and video is not None:
        from posenas.core.render import render_video

        t0 = time.perf_counter()
        suffix = ".png" if is_image(video) else ".mp4"
        target = out / f"{res.clip_id}_lifted{suffix}"
        det = res.detections.to_layout(POSE_LAYOUT) if res.detections is not None else None
        try:
            n = render_video(video, target, det.keypoints, det.scores, det.layout, res.pose_3d, det.fps,
                             caption=_caption(res.actions), person_ids=det.track_ids)
            stats["rendered_frames"] = n
            paths["video"] = target
        except (PosenasError, OSError, ValueError, MemoryError) as exc:
            stats["render_error"] = f"{type(exc).__name__}: {exc}"
            log.error("%s: rendering failed (%s); the keypoint files and summary are written", video, exc)
        stats["render_seconds"] = time.perf_counter() - t0
    stats.update({
        "video": None if video is None else str(video),
        "video_id": res.clip_id,
        "keypoint_layout": keypoint_layout or (res.detections.layout if res.detections is not None else None),
        "pose_layout": POSE_LAYOUT,
        "pose_units": POSE_UNITS,
        "models": res.models,
        "timings": res.timings,
        "actions": [a.to_dict() for a in res.actions],
        "detector_meta": {k: v for k, v in (res.detections.meta.items() if res.detections is not None else [])
                          if isinstance(v, (str, int, float))},
    })
    summary = out / f"{res.clip_id}.json"
    summary.write_text(json.dumps(stats, indent=2, default=str))
    paths["summary"] = summary
    res.stats = stats
    return paths


def run_to_files(pipeline: Pipeline, video: str | Path, out_dir: str | Path, classify: bool = True,
                 render: bool = True, keypoint_layout: str | None = POSE_LAYOUT, clip_id: str | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """What `posenas run` (classify=True) and `posenas lift` (classify=False) do for one video or photo:
    run the pipeline and write its files. Returns {"paths": ..., "stats": ..., "result": PipelineResult}."""
    res = pipeline.run_video(video, clip_id, progress=progress, classify=classify)
    paths = write_outputs(res, video, out_dir, render=render, keypoint_layout=keypoint_layout)
    return {"paths": paths, "stats": res.stats, "result": res}


def lift_video(video: str | Path, out_dir: str | Path, detector: str | Detector = "mediapipe", lifter: Any = None,
               render: bool = True, keypoint_layout: str | None = POSE_LAYOUT, video_id: str | None = None,
               progress: bool = False, detector_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """`posenas lift VIDEO -o OUT/`: detection + lifting, no action model (the pipeline's first stages)."""
    config: dict[str, Any] = {}
    stages: dict[str, Any] = {}
    if isinstance(detector, Detector):
        stages["detector"] = detector
    else:
        config["detector"] = {"name": detector, "options": dict(detector_options or {})}
    if lifter is not None and hasattr(lifter, "lift"):
        stages["lifter"] = lifter
    elif lifter is not None:
        config["lifter"] = {"checkpoint": str(lifter)}
    pipe = Pipeline(config, **stages)
    return run_to_files(pipe, video, out_dir, classify=False, render=render, keypoint_layout=keypoint_layout,
                        clip_id=video_id, progress=progress)


def lift_dataset(pipeline: Pipeline, dataset: Any) -> Any:
    """A 2D SkeletonDataset (pixels) lifted to 3D by the pipeline's own lifter: the poses an action model
    sees in the pipeline, for training it in that domain (`posenas train --poses lifted`).

    Image size comes from each sequence's meta ("width"/"height") or the dataset's camera (MSR's screen
    files: the 320x240 Kinect depth camera). Protocols, classes and labels are kept; the 3D is h36m17,
    metres, root-relative, camera axes (right-handed).
    """
    from dataclasses import replace

    cam = dataset.meta.get("camera")
    out = []
    for seq in dataset.sequences:
        if seq.dims != 2:
            raise PosenasError(f"{dataset.name} {seq.seq_id}: lifting needs 2D joints (pixels), got {seq.dims}D; "
                               "for MSR Action3D load the screen files (version=screen)")
        w = seq.meta.get("width") or getattr(cam, "width", None)
        h = seq.meta.get("height") or getattr(cam, "height", None)
        if not w or not h:
            raise PosenasError(f"{dataset.name} {seq.seq_id}: image size unknown (no width/height in its meta)")
        conf = seq.confidence if seq.confidence is not None else np.isfinite(seq.joints).all(-1).astype(np.float32)
        det = Detections(seq.joints, conf, seq.layout, int(w), int(h), float(seq.fps))
        _, _, poses, _ = pipeline.lift_detections(det, seq.seq_id)
        keep = np.isfinite(poses).all(axis=(1, 2, 3))
        meta = {k: v for k, v in seq.meta.items() if k != "handedness"}
        meta.update({"units": "m", "lifted_by": str(getattr(pipeline.lifter, "name", "lifter")), "handedness": "right"})
        out.append(replace(seq, joints=poses[keep], layout=POSE_LAYOUT, confidence=None, meta=meta))
    return replace(dataset, name=f"{dataset.name}_lifted", layout=POSE_LAYOUT, sequences=out,
                   meta={**dataset.meta, "lifted_by": str(getattr(pipeline.lifter, "name", "lifter"))})
