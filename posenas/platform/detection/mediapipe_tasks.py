"""Multi-person MediaPipe pose detection (Tasks API `PoseLandmarker`, `num_poses` people per frame), offline.

The Tasks API wants a ``.task`` model bundle, which the mediapipe wheel does not ship; what it does
ship are the two networks the bundle holds (``pose_detection.tflite`` and ``pose_landmark_full.tflite``,
the same ones the legacy single-person `solutions.pose` runs). `model_bundle` assembles the bundle
from those files at first use, in the cache dir: each network gets the TFLite metadata the Tasks
runtime refuses to start without (input normalisation: detector (x - 127.5) / 127.5, landmarks x / 255;
one feature output per output tensor). Nothing is downloaded.

In video mode MediaPipe follows the people it already has from frame to frame and rarely looks for
new ones (a known limitation: on the shared 4-camera capture it kept one of two people for whole clips
in some views); in image mode it detects afresh in every frame but loses people its detector misses
in a single frame. ``mode="both"`` (the default) runs the two side by side and keeps every pose of
either that does not overlap one already kept: the most people found, for twice the detection time.

The person slots are in MediaPipe's order, which changes from frame to frame: ids that persist across
frames come from `posenas.platform.detection.tracking`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from posenas.errors import PosenasError
from posenas.platform.detection.detectors import DETECTORS, Detections, Detector, check_frame

BUNDLE_NAME = "pose_landmarker_full.task"
MODES = ("both", "video", "image")
DUPLICATE_IOU = 0.5  # mode "both": an image-mode pose whose box overlaps a kept one this much is the same person
_NETWORKS = {  # bundle member -> (file in the mediapipe wheel, input mean, input std)
    "pose_detector.tflite": ("modules/pose_detection/pose_detection.tflite", 127.5, 127.5),
    "pose_landmarks_detector.tflite": ("modules/pose_landmark/pose_landmark_full.tflite", 0.0, 255.0),
}


def cache_dir() -> Path:
    """$POSENAS_CACHE, else ~/.cache/posenas."""
    base = os.environ.get("POSENAS_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "posenas"


def _with_metadata(model: bytes, mean: float, std: float, name: str) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "posenas: MediaPipe pose network from the mediapipe wheel")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    for out in writer_utils.get_output_tensor_names(bytearray(model)):
        writer.add_feature_output(name=out)
    populated, _ = writer.populate()
    return bytes(populated)


def model_bundle(directory: str | Path | None = None) -> Path:
    """Path of the PoseLandmarker bundle, built from the installed wheel's networks if not cached yet.

    The file name carries a hash of the source networks, so a different mediapipe version builds its own.
    """
    import mediapipe as mp
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    root = Path(mp.__file__).parent
    sources = {member: (root / rel, mean, std) for member, (rel, mean, std) in _NETWORKS.items()}
    missing = [str(p) for p, _, _ in sources.values() if not p.is_file()]
    if missing:
        raise PosenasError(f"the installed mediapipe wheel lacks {', '.join(missing)}: cannot build the "
                           f"multi-person pose bundle (use the 'mediapipe_legacy' detector)")
    raw = {member: p.read_bytes() for member, (p, _, _) in sources.items()}
    digest = hashlib.sha256(b"".join(raw[m] for m in sorted(raw))).hexdigest()[:12]
    out_dir = Path(directory) if directory is not None else cache_dir() / "mediapipe"
    target = out_dir / f"{Path(BUNDLE_NAME).stem}-{digest}.task"
    if target.is_file():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {member: _with_metadata(raw[member], mean, std, Path(member).stem)
              for member, (_, mean, std) in sources.items()}
    # Write to a temporary name and rename: concurrent first uses (Ray actors) never see half a file.
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".task.tmp")
    os.close(fd)
    try:
        model_asset_bundle_utils.create_model_asset_bundle(models, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@DETECTORS.register("mediapipe")
class MediaPipePoseLandmarker(Detector):
    """MediaPipe PoseLandmarker: up to `num_poses` people per frame, "mediapipe33" landmarks.

    Same landmark network as the legacy detector (pose_landmark_full); confidence = visibility.
    Person slots follow MediaPipe's per-frame order (track them for stable ids). World landmarks
    (metres, hip-centred, as MediaPipe estimates them) are kept in `Detections.world`.
    """

    name = "mediapipe"
    layout = "mediapipe33"

    def __init__(
        self, num_poses: int = 4, min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
        bundle: str | Path | None = None, mode: str = "both",
    ):
        if mode not in MODES:
            raise PosenasError(f"mediapipe mode={mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        if int(num_poses) < 1:
            raise PosenasError(f"mediapipe num_poses must be >= 1, got {num_poses}")
        for key, val in (("min_detection_confidence", min_detection_confidence),
                         ("min_presence_confidence", min_presence_confidence),
                         ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= float(val) <= 1.0:
                raise PosenasError(f"mediapipe {key} must be in [0, 1], got {val}")
        self.num_poses = int(num_poses)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_presence_confidence = float(min_presence_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.bundle = Path(bundle) if bundle is not None else None

    def _landmarker(self, static: bool):
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision

        bundle = self.bundle if self.bundle is not None else model_bundle()
        options = vision.PoseLandmarkerOptions(
            base_options=mp_tasks.BaseOptions(model_asset_path=str(bundle)),
            running_mode=vision.RunningMode.IMAGE if static else vision.RunningMode.VIDEO,
            num_poses=self.num_poses,
            min_pose_detection_confidence=self.min_detection_confidence,
            min_pose_presence_confidence=self.min_presence_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
        )
        return vision.PoseLandmarker.create_from_options(options)

    def detect_frames(
        self, frames: Iterable[np.ndarray], fps: float = 30.0, static: bool = False,
        total: int | None = None,
    ) -> Detections:
        import mediapipe as mp

        p = self.num_poses
        kps: list[np.ndarray] = []
        scs: list[np.ndarray] = []
        wlds: list[np.ndarray] = []
        size: tuple[int, int] | None = None
        step_ms = 1000.0 / fps if fps and fps > 0 else 1000.0 / 30.0
        use_video = not static and self.mode in ("both", "video")
        use_image = static or self.mode in ("both", "image")
        # Fresh graphs per clip: tracking state must not leak from one video into the next.
        video = self._landmarker(False) if use_video else None
        image_lm = self._landmarker(True) if use_image else None
        try:
            for i, frame in enumerate(frames):
                frame, size = check_frame(frame, size)
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
                poses: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
                if video is not None:
                    poses += _poses(video.detect_for_video(image, int(round(i * step_ms))), size)
                if image_lm is not None:
                    for pose in _poses(image_lm.detect(image), size):
                        if all(_box_iou(pose[0], q[0]) < DUPLICATE_IOU for q in poses):
                            poses.append(pose)
                kp = np.full((p, 33, 2), np.nan, np.float32)
                sc = np.zeros((p, 33), np.float32)
                wl = np.full((p, 33, 3), np.nan, np.float32)
                for k, (a, b, c) in enumerate(poses[:p]):
                    kp[k], sc[k], wl[k] = a, b, c
                kps.append(kp)
                scs.append(sc)
                wlds.append(wl)
        finally:
            for lm in (video, image_lm):
                if lm is not None:
                    lm.close()
        if size is None:
            raise PosenasError("no frames given to the detector")
        return Detections(np.stack(kps), np.stack(scs), self.layout, size[0], size[1], float(fps),
                          meta={"detector": self.name, "num_poses": p, "mode": "image" if static else self.mode,
                                "model": "pose_landmark_full"},
                          world=np.stack(wlds))


def _poses(res, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(pixels (33, 2), visibility (33,), world metres (33, 3)) of each pose in a PoseLandmarker result."""
    w, h = size
    out = []
    for lms, world in zip(res.pose_landmarks, res.pose_world_landmarks):
        arr = np.array([(lm.x, lm.y, lm.visibility if lm.visibility is not None else 1.0) for lm in lms], np.float32)
        out.append((arr[:, :2] * np.array([w, h], np.float32), np.clip(arr[:, 2], 0.0, 1.0),
                    np.array([(lm.x, lm.y, lm.z) for lm in world], np.float32)))
    return out


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the bounding boxes of two (J, 2) point sets."""
    a0, a1, b0, b1 = a.min(0), a.max(0), b.min(0), b.max(0)
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod()
    union = (a1 - a0).prod() + (b1 - b0).prod() - inter
    return float(inter / union) if union > 0 else 0.0
