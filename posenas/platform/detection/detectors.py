"""2D person detectors: frames in, per-person keypoints (pixels) and confidences out.

Detectors are looked up by name in `DETECTORS` (a `posenas.core.registry.Registry`):

* ``mediapipe`` (default) — MediaPipe PoseLandmarker (Tasks API), several people per frame, 33
  landmarks ("mediapipe33"), from a bundle built out of the wheel's own networks
  (`posenas.platform.detection.mediapipe_tasks`). Person slots are per frame; track them
  (`posenas.platform.detection.tracking`) for ids that persist.
* ``mediapipe_legacy`` — MediaPipe Pose (BlazePose, legacy `solutions` API), one person, the same
  landmark network. Only ``model_complexity=1`` is usable offline: it is the one model whose weights
  are inside the mediapipe wheel (0 and 2 would be downloaded at run time), so other values are
  refused up front. Videos run in tracking mode (landmarks smoothed across frames), images in
  static mode.
* ``precomputed`` — keypoints a user already has (OpenPose JSON folders, COCO JSON, posenas
  npz/Parquet), read with `posenas.datasets.keypoints.read_keypoints`.

Frames where nobody is found have confidence 0 and NaN coordinates; the pipeline fills them by
interpolation before lifting and reports the gaps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from posenas.core.registry import Registry
from posenas.core.skeleton import convert_confidence_to_h36m, convert_to_h36m, get_layout
from posenas.errors import PosenasError, UnknownNameError

MEDIAPIPE_COMPLEXITIES = (1,)  # the only pose_landmark model shipped in the mediapipe wheel


@dataclass
class Detections:
    """Detector output for one clip: keypoints (T, P, J, 2) float32 pixels (NaN = not found), scores
    (T, P, J) float32 in [0, 1] (0 = not found), in joint layout `layout`, for a width x height video.

    P is the detector's person slots, or after tracking one slot per track (`meta["track_ids"]`).
    `world`, when the detector estimates it, is (T, P, J, 3) metres (MediaPipe world landmarks:
    hip-centred, x right, y down, z away from the camera), NaN where not found.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    layout: str
    width: int
    height: int
    fps: float
    meta: dict[str, Any] = field(default_factory=dict)
    world: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.keypoints.ndim != 4 or self.keypoints.shape[-1] != 2:
            raise ValueError(f"keypoints must be (T, P, J, 2), got {self.keypoints.shape}")
        if self.scores.shape != self.keypoints.shape[:3]:
            raise ValueError(f"scores {self.scores.shape} do not match keypoints {self.keypoints.shape[:3]}")
        if self.world is not None:
            self.world = np.asarray(self.world, dtype=np.float32)
            if self.world.shape != self.keypoints.shape[:3] + (3,):
                raise ValueError(f"world {self.world.shape} does not match keypoints {self.keypoints.shape[:3]}")

    @property
    def track_ids(self) -> list[int]:
        """Person id of each slot: the tracker's ids, else the slot index."""
        return [int(i) for i in self.meta.get("track_ids", range(self.num_persons))]

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_persons(self) -> int:
        return int(self.keypoints.shape[1])

    def detected(self, min_score: float = 0.0) -> np.ndarray:
        """(T, P) bool: the person slot holds a detection in that frame."""
        ok = np.isfinite(self.keypoints).all(axis=-1) & (self.scores > min_score)
        return ok.any(axis=-1)

    def to_layout(self, name: str) -> Detections:
        """The same detections in another joint layout.

        "h36m17" uses the layout's conversion (derived joints such as the pelvis take the lowest
        confidence of their sources); any layout whose joint names all exist in this one (e.g.
        coco17 from mediapipe33) is a pure selection. Missing joints stay NaN / score 0.
        """
        if name == self.layout:
            return self
        src = get_layout(self.layout)
        dst = get_layout(name)
        if name == "h36m17":
            missing = ~np.isfinite(self.keypoints).all(axis=-1) | (self.scores <= 0)
            kp = np.where(missing[..., None], 0.0, self.keypoints).astype(np.float32)
            sc = np.where(missing, 0.0, self.scores).astype(np.float32)
            out_kp = convert_to_h36m(kp, src)
            out_sc = convert_confidence_to_h36m(sc, src)
            out_kp[out_sc <= 0] = np.nan  # a derived joint with a missing source is missing
            world = None if self.world is None else convert_to_h36m(self.world, src)  # NaN stays NaN
            return replace(self, keypoints=out_kp, scores=out_sc, layout=name, world=world)
        absent = [j for j in dst.joints if j not in src.joints]
        if absent:
            raise PosenasError(
                f"cannot convert {self.layout} keypoints to {name}: {self.layout} has no {', '.join(absent[:4])}"
                f"{'...' if len(absent) > 4 else ''}; convertible: h36m17 or a subset of its joint names"
            )
        idx = np.array([src.index(j) for j in dst.joints])
        world = None if self.world is None else self.world[:, :, idx]
        return replace(self, keypoints=self.keypoints[:, :, idx], scores=self.scores[:, :, idx], layout=name,
                       world=world)

    def select_persons(self, slots: list[int] | np.ndarray) -> Detections:
        """The same clip with only the given person slots (in that order); track ids follow."""
        idx = np.asarray(slots, dtype=int)
        ids = self.track_ids
        meta = dict(self.meta, track_ids=[ids[i] for i in idx])
        world = None if self.world is None else self.world[:, idx]
        return replace(self, keypoints=self.keypoints[:, idx], scores=self.scores[:, idx], meta=meta, world=world)


def check_frame(frame: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, tuple[int, int]]:
    """A contiguous RGB uint8 frame and its (width, height); refuses other arrays and size changes."""
    frame = np.ascontiguousarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise PosenasError(f"detector expects RGB uint8 (H, W, 3) frames, got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    if size is not None and size != (w, h):
        raise PosenasError(f"frame size changed within a clip: {size} -> {(w, h)}")
    return frame, (w, h)


# name -> detector class (or any factory taking the detector's options); built-ins in other modules
# register themselves when first looked up.
DETECTORS: Registry[Callable[..., "Detector"]] = Registry(
    "detector", builtins=("posenas.platform.detection.mediapipe_tasks",))


class Detector(ABC):
    """Turns frames (RGB uint8) into `Detections`. Subclasses set `name` and `layout`."""

    name: str = ""
    layout: str = ""

    @abstractmethod
    def detect_frames(
        self, frames: Iterable[np.ndarray], fps: float = 30.0, static: bool = False,
        total: int | None = None,
    ) -> Detections:
        """Detect in a sequence of frames of one clip (tracking across frames unless `static`)."""

    def detect_image(self, image: np.ndarray) -> Detections:
        """Detect in one photo (static mode): a one-frame clip."""
        return self.detect_frames([image], static=True, total=1)

    def detect_video(self, path: str | Path, progress: bool = False) -> Detections:
        """Decode a video (or one image) and detect in every frame."""
        from posenas.core.video import is_image, iter_frames, probe_video

        info = probe_video(path)
        frames: Iterable[np.ndarray] = iter_frames(path)
        if progress:
            from tqdm import tqdm

            frames = tqdm(frames, total=info.num_frames, desc=f"detect {Path(path).name}", unit="frame")
        det = self.detect_frames(frames, fps=info.fps, static=is_image(path), total=info.num_frames)
        det.meta.setdefault("video", str(path))
        return det

    def close(self) -> None:
        """Release model resources (no-op by default)."""


class MediaPipeDetector(Detector):
    """MediaPipe Pose (legacy solutions API), one person, "mediapipe33" landmarks; visibility is the confidence."""

    name = "mediapipe_legacy"
    layout = "mediapipe33"

    def __init__(
        self, model_complexity: int = 1, min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True,
    ):
        if model_complexity not in MEDIAPIPE_COMPLEXITIES:
            raise PosenasError(
                f"mediapipe model_complexity={model_complexity} is not available offline: its weights are "
                f"not in the mediapipe wheel and posenas never downloads at run time; available: "
                f"{', '.join(map(str, MEDIAPIPE_COMPLEXITIES))}"
            )
        self.model_complexity = model_complexity
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.smooth_landmarks = smooth_landmarks

    def _pose(self, static: bool):
        try:
            import mediapipe as mp
        except ImportError as e:  # pragma: no cover - mediapipe is a dependency
            raise PosenasError(f"the mediapipe detector needs the mediapipe package ({e})") from None
        return mp.solutions.pose.Pose(
            static_image_mode=static,
            model_complexity=self.model_complexity,
            smooth_landmarks=self.smooth_landmarks,
            enable_segmentation=False,
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )

    def detect_frames(
        self, frames: Iterable[np.ndarray], fps: float = 30.0, static: bool = False,
        total: int | None = None,
    ) -> Detections:
        kps: list[np.ndarray] = []
        scs: list[np.ndarray] = []
        wlds: list[np.ndarray] = []
        size: tuple[int, int] | None = None
        nan = np.full((33, 2), np.nan, np.float32)
        # A fresh graph per clip: tracking state must not leak from one video into the next.
        with self._pose(static) as pose:
            for frame in frames:
                frame, size = check_frame(frame, size)
                w, h = size
                res = pose.process(frame)
                if res.pose_landmarks is None:
                    kps.append(nan)
                    scs.append(np.zeros(33, np.float32))
                    wlds.append(np.full((33, 3), np.nan, np.float32))
                    continue
                arr = np.array([(lm.x, lm.y, lm.visibility) for lm in res.pose_landmarks.landmark], np.float32)
                kps.append(arr[:, :2] * np.array([w, h], np.float32))
                scs.append(np.clip(arr[:, 2], 0.0, 1.0))
                world = res.pose_world_landmarks
                wlds.append(np.array([(lm.x, lm.y, lm.z) for lm in world.landmark], np.float32) if world is not None
                            else np.full((33, 3), np.nan, np.float32))
        if size is None:
            raise PosenasError("no frames given to the detector")
        kp = np.stack(kps)[:, None]
        sc = np.stack(scs)[:, None]
        return Detections(kp, sc, self.layout, size[0], size[1], float(fps),
                          meta={"detector": self.name, "model_complexity": self.model_complexity},
                          world=np.stack(wlds)[:, None])


class PrecomputedDetector(Detector):
    """Keypoints a user brings from another detector, matched to a video by id.

    `path` is anything `read_keypoints` reads. If it holds several videos, the one whose id equals
    `video_id` (default: the video file's stem) is used. The frame count must match the video's.
    """

    name = "precomputed"

    def __init__(self, path: str | Path, video_id: str | None = None, fps: float | None = None):
        from posenas.datasets.keypoints import read_keypoints

        self.path = Path(path)
        self.video_id = video_id
        self.sequences = read_keypoints(self.path, fps=fps)
        if not self.sequences:
            raise PosenasError(f"{self.path}: no keypoint sequences found")
        layouts = {s.layout for s in self.sequences}
        self.layout = self.sequences[0].layout if len(layouts) == 1 else ",".join(sorted(layouts))

    def _pick(self, stem: str | None):
        """The explicit `video_id` if given; else the sequence named like the video; else the only one."""
        by_id = {s.seq_id: s for s in self.sequences}
        if self.video_id is not None:
            if self.video_id not in by_id:
                raise UnknownNameError(f"video id in {self.path}", self.video_id, list(by_id))
            return by_id[self.video_id]
        if stem is not None and stem in by_id:
            return by_id[stem]
        if len(self.sequences) == 1:
            return self.sequences[0]
        raise UnknownNameError(f"video id in {self.path} (pass video_id=...)", str(stem), list(by_id))

    def _detections(self, seq, num_frames: int, width: int, height: int, fps: float) -> Detections:
        if seq.num_frames != num_frames:
            raise PosenasError(
                f"{self.path}: keypoints of {seq.seq_id!r} have {seq.num_frames} frames, the video has {num_frames}"
            )
        conf = seq.confidence if seq.confidence is not None else np.isfinite(seq.joints).all(-1).astype(np.float32)
        return Detections(seq.joints, conf, seq.layout, width, height, fps,
                          meta={"detector": self.name, "keypoints": str(self.path), "video_id": seq.seq_id})

    def detect_frames(
        self, frames: Iterable[np.ndarray], fps: float = 30.0, static: bool = False,
        total: int | None = None,
    ) -> Detections:
        n, size = 0, (0, 0)
        for frame in frames:  # only counted and measured: the keypoints are already known
            size = (int(frame.shape[1]), int(frame.shape[0]))
            n += 1
        return self._detections(self._pick(None), n, size[0], size[1], fps)

    def detect_video(self, path: str | Path, progress: bool = False) -> Detections:
        """Match keypoints to the video by stem, without decoding (probe only): fast and exact."""
        from posenas.core.video import probe_video

        info = probe_video(path)
        seq = self._pick(Path(path).stem)
        n = info.num_frames
        if seq.num_frames != n:  # container counts can be estimates: count decoded frames to be sure
            from posenas.core.video import iter_frames

            n = sum(1 for _ in iter_frames(path))
        det = self._detections(seq, n, info.width, info.height, info.fps)
        det.meta["video"] = str(path)
        return det


DETECTORS.register("mediapipe_legacy", MediaPipeDetector)
DETECTORS.register("precomputed", PrecomputedDetector)


def available_detectors() -> list[str]:
    return DETECTORS.names()


def get_detector(name: str, **kwargs: Any) -> Detector:
    """A detector by name: "mediapipe" (multi-person, default), "mediapipe_legacy" (one person), or
    "precomputed" (needs path=...). Options are the detector class's keyword arguments."""
    factory = DETECTORS.get(name)
    if name == "precomputed" and "path" not in kwargs:
        raise PosenasError("the precomputed detector needs a keypoint file: pass path=... (CLI: --keypoints)")
    try:
        return factory(**kwargs)
    except TypeError as e:  # an option the detector does not take: name it
        raise PosenasError(f"detector {name!r}: {e}") from None
