"""Video I/O: round trip through mp4, colour order, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from posenas.errors import DataFormatError, PosenasError
from posenas.core.video import iter_frames, list_videos, probe_video, read_image, write_video


def _frames(n: int, h: int = 96, w: int = 128) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, :, 0] = 220  # red: catches a BGR/RGB mix-up
        f[10:30, 4 * i : 4 * i + 20, 1] = 255
        out.append(f)
    return out


def test_round_trip(tmp_path):
    path = tmp_path / "clip.mp4"
    assert write_video(path, _frames(12), fps=24) == 12
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (128, 96, 12)
    assert info.fps == pytest.approx(24, abs=0.01)
    frames = list(iter_frames(path))
    assert len(frames) == 12
    f = frames[0]
    assert f.dtype == np.uint8 and f.shape == (96, 128, 3)
    assert f[60:, :, 0].mean() > 180 and f[60:, :, 2].mean() < 60  # still red, i.e. RGB order
    assert list_videos(tmp_path) == [path]


def test_image_is_a_one_frame_clip(tmp_path):
    import cv2

    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(_frames(1)[0], cv2.COLOR_RGB2BGR))
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (128, 96, 1)
    (f,) = list(iter_frames(path))
    np.testing.assert_array_equal(f, read_image(path))
    assert f[50, 50, 0] == 220


def test_missing_file(tmp_path):
    with pytest.raises(PosenasError, match="nope.mp4: no such file"):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(PosenasError, match="no such file"):
        next(iter_frames(tmp_path / "nope.mp4"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty.mp4: empty file") as e:
        probe_video(path)
    assert e.value.path == str(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(DataFormatError, match="noise.mp4") as e:
        probe_video(path)
    assert "not a video" in str(e.value) or "no decodable frame" in str(e.value)
    with pytest.raises(DataFormatError, match="noise.mp4"):
        list(iter_frames(path))


def test_truncated_mp4(tmp_path):
    good = tmp_path / "good.mp4"
    write_video(good, _frames(10), fps=10)
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(good.read_bytes()[:200])  # header only: no frame data
    with pytest.raises(DataFormatError, match="cut.mp4"):
        probe_video(bad)


def test_directory_is_refused(tmp_path):
    with pytest.raises(PosenasError, match="is a directory"):
        probe_video(tmp_path)
