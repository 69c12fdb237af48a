"""Video and image input with OpenCV, failing with errors that name the file instead of yielding nothing.

OpenCV reports a bad file by quietly returning no frames; every caller here would then produce an
empty result far from the cause. `probe_video` and `iter_frames` turn that into a `DataFormatError`
naming the path and what is wrong (missing, empty, not a video, no decodable frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from posenas.errors import DataFormatError, PosenasError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video; `num_frames` is the container's count (may be an estimate)."""

    path: str
    fps: float
    width: int
    height: int
    num_frames: int


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_file(path: Path) -> None:
    if not path.exists():
        raise PosenasError(f"{path}: no such file")
    if path.is_dir():
        raise PosenasError(f"{path}: is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise DataFormatError(path, "empty file (0 bytes)")


def _open(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataFormatError(path, "not a video OpenCV can open (corrupt file or unsupported codec)")
    return cap


def probe_video(path: str | Path) -> VideoInfo:
    """Frame rate, size and frame count of a video, checking that at least its first frame decodes."""
    import cv2

    p = Path(path)
    _check_file(p)
    if is_image(p):
        img = read_image(p)
        return VideoInfo(str(p), DEFAULT_FPS, int(img.shape[1]), int(img.shape[0]), 1)
    cap = _open(p)
    try:
        ok, frame = cap.read()
        if not ok or frame is None:
            raise DataFormatError(p, "no decodable frame (0 frames, or a corrupt stream)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = DEFAULT_FPS  # containers without a rate (e.g. MJPEG streams): the usual camera rate
    h, w = frame.shape[:2]
    return VideoInfo(str(p), fps, int(w), int(h), max(count, 1))


def read_image(path: str | Path) -> np.ndarray:
    """One image as RGB uint8 (H, W, 3)."""
    import cv2

    p = Path(path)
    _check_file(p)
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFormatError(p, "not an image OpenCV can decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decoded frames as RGB uint8 (H, W, 3), in order. An image file yields itself once.

    Raises DataFormatError when no frame at all decodes; a stream that ends early (truncated file)
    simply ends, as players do — callers compare the count with `probe_video` if they care.
    """
    import cv2

    p = Path(path)
    _check_file(p)
    if is_image(p):
        yield read_image(p)
        return
    cap = _open(p)
    n = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            n += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    if n == 0:
        raise DataFormatError(p, "no decodable frame (0 frames, or a corrupt stream)")


def write_video(path: str | Path, frames: Iterator[np.ndarray] | list[np.ndarray], fps: float) -> int:
    """Write RGB uint8 frames to an mp4 (codec mp4v, in every OpenCV build); returns the frame count."""
    import cv2

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    n = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (int(w), int(h)))
                if not writer.isOpened():
                    raise PosenasError(f"{p}: OpenCV cannot write an mp4v video here")
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    if n == 0:
        raise PosenasError(f"{p}: no frames to write")
    return n


def list_videos(root: str | Path) -> list[Path]:
    """Video files under a folder (recursive, sorted), by suffix."""
    r = Path(root)
    return sorted(p for p in r.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
