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


def write_video(path: str | Path, frames: Iterator[np.ndarray] | list[np.ndarray], fps: float,
                crf: int = 23) -> int:
    """Write RGB uint8 frames as H.264 (yuv420p) in mp4, which every browser plays; returns the frame count.

    PyAV's wheel carries libx264, so this works offline. Odd frame sizes are padded by one pixel (yuv420p
    needs even sizes). The file appears only when complete (written beside it, then renamed), so a failed
    render never leaves a half-written video behind.
    """
    import av
    from fractions import Fraction

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.stem}.partial{p.suffix}")
    rate = Fraction(float(fps) if fps and fps > 0 else 30.0).limit_denominator(1001)
    n = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                img = np.ascontiguousarray(frame, dtype=np.uint8)
                h, w = img.shape[:2]
                if stream is None:
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height = w + (w % 2), h + (h % 2)
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": "veryfast", "movflags": "+faststart"}
                if (h, w) != (stream.height, stream.width):
                    img = np.pad(img[: stream.height, : stream.width],
                                 ((0, max(0, stream.height - h)), (0, max(0, stream.width - w)), (0, 0)), mode="edge")
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
                n += 1
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
        if n == 0:
            raise PosenasError(f"{p}: no frames to write")
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def list_videos(root: str | Path) -> list[Path]:
    """Video files under a folder (recursive, sorted), by suffix."""
    r = Path(root)
    return sorted(p for p in r.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
