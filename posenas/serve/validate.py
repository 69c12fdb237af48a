"""Turn request bodies into arrays, refusing bad input with the field and clip at fault before any model runs.

Everything a client can get wrong is checked here, in the ingress, because a `@serve.batch` model call
fails for every request in its batch: one bad clip must never reach a batch shared with good ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posenas.errors import PosenasError
from posenas.serve.config import Limits


class RequestError(PosenasError):
    """A client error: HTTP `status`, the `field` (e.g. ``clips[2].keypoints``) and `clip` index at fault."""

    def __init__(self, status: int, message: str, field: str | None = None, clip: int | None = None,
                 errors: list[dict[str, Any]] | None = None):
        self.status = status
        self.message = message
        self.field = field
        self.clip = clip
        self.errors = errors or [{"field": field, "clip": clip, "message": message}]
        super().__init__(f"{field}: {message}" if field else message)

    def __reduce__(self):  # picklable across Ray with every attribute
        return (RequestError, (self.status, self.message, self.field, self.clip, self.errors))

    def body(self) -> dict[str, Any]:
        return {"error": str(self), "field": self.field, "clip": self.clip, "status": self.status,
                "errors": self.errors}


@dataclass
class PoseClip:
    """3D poses to classify (the 2D path uses the pipeline's KeypointClip)."""

    poses: np.ndarray  # (T, P, J, 3) metres
    layout: str
    left_handed: bool = False


@dataclass
class ParsedClip:
    index: int
    id: str
    clip: Any  # KeypointClip | PoseClip


def _layout(name: str, field: str, index: int):
    from posenas.core.skeleton import available_layouts, get_layout

    try:
        return get_layout(name)
    except (KeyError, PosenasError):
        raise RequestError(422, f"unknown layout {name!r}; available: {', '.join(sorted(available_layouts()))}",
                           field, index) from None


def _first_bad(mask: np.ndarray) -> str:
    return "".join(f"[{int(i)}]" for i in np.argwhere(mask)[0])


def _to_array(values: Any, ndim: int, last: int | None, field: str, index: int,
              nullable: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Nested lists -> float32 array of `ndim` dims; returns (array with NaN for null, null mask)."""
    try:
        obj = np.array(values, dtype=object)
    except ValueError:
        obj = None
    if obj is None or obj.ndim != ndim or (last is not None and obj.shape[-1] != last) or 0 in obj.shape:
        want = "(frames, persons, joints" + (f", {last})" if last else ")")
        got = "ragged lists" if obj is None or obj.ndim < ndim else f"shape {obj.shape}"
        raise RequestError(422, f"expected a non-empty array {want}, got {got}", field, index)
    null = np.equal(obj, None) if nullable else None
    try:
        arr = np.where(null, np.nan, obj).astype(np.float32) if null is not None else obj.astype(np.float32)
    except (TypeError, ValueError):
        raise RequestError(422, "values must be numbers", field, index) from None
    bad = ~np.isfinite(arr) if null is None else ~np.isfinite(arr) & ~null
    if bad.any():
        hint = "; use null for a joint that was not seen" if nullable else ""
        raise RequestError(422, f"non-finite value (NaN or Infinity) at {_first_bad(bad)}{hint}",
                           field + _first_bad(bad), index)
    return arr, null


def _check_counts(t: int, p: int, limits: Limits, field: str, index: int) -> None:
    if t > limits.max_frames_per_clip:
        raise RequestError(422, f"{t} frames exceed the server's limit of {limits.max_frames_per_clip} per clip",
                           field, index)
    if p > limits.max_persons_per_clip:
        raise RequestError(422, f"{p} persons exceed the server's limit of {limits.max_persons_per_clip}",
                           field, index)


def keypoint_clip(keypoints: np.ndarray, scores: np.ndarray | None, layout: str, width: int, height: int,
                  fps: float, index: int, limits: Limits, prefix: str):
    """Checked 2D keypoints (T, P, J, 2) -> the pipeline's KeypointClip."""
    from posenas.platform.pipeline import KeypointClip

    lay = _layout(layout, f"{prefix}.layout", index)
    t, p, j = keypoints.shape[:3]
    _check_counts(t, p, limits, f"{prefix}.keypoints", index)
    if j != lay.num_joints:
        raise RequestError(422, f"layout {layout} has {lay.num_joints} joints, keypoints have {j}",
                           f"{prefix}.keypoints", index)
    if scores is not None:
        if scores.shape != keypoints.shape[:3]:
            raise RequestError(422, f"expected shape {keypoints.shape[:3]} (frames, persons, joints) like "
                                    f"keypoints, got {scores.shape}", f"{prefix}.scores", index)
        bad = ~np.isfinite(scores) | (scores < 0) | (scores > 1)
        if bad.any():
            raise RequestError(422, f"scores must be finite and in [0, 1]; bad value at {_first_bad(bad)}",
                               f"{prefix}.scores{_first_bad(bad)}", index)
    if not (np.isfinite(fps) and 0 < fps <= 1000):
        raise RequestError(422, f"fps must be in (0, 1000], got {fps}", f"{prefix}.fps", index)
    if not (width and height and width > 0 and height > 0):
        raise RequestError(422, "width and height (image size in pixels) are required for 2D keypoints",
                           f"{prefix}.width", index)
    return KeypointClip(keypoints=keypoints, scores=scores, layout=lay.name, width=int(width),
                        height=int(height), fps=float(fps))


def parse_json_clips(req: Any, limits: Limits) -> list[ParsedClip]:
    """A validated `ScoreRequest` -> checked clips (arrays float32)."""
    if len(req.clips) > limits.max_clips_per_request:
        raise RequestError(413, f"{len(req.clips)} clips exceed the server's limit of "
                                f"{limits.max_clips_per_request} per request", "clips", None)
    out = []
    for i, c in enumerate(req.clips):
        prefix = f"clips[{i}]"
        if c.keypoints is not None:
            kp, null = _to_array(c.keypoints, 4, 2, f"{prefix}.keypoints", i, nullable=True)
            missing = null.any(-1) if null is not None else np.zeros(kp.shape[:3], bool)
            if c.scores is not None:
                sc, _ = _to_array(c.scores, 3, None, f"{prefix}.scores", i, nullable=False)
            else:
                sc = np.ones(kp.shape[:3], np.float32)
            if sc.shape == kp.shape[:3]:
                sc = np.where(missing, 0.0, sc).astype(np.float32)
                kp[missing] = np.nan
            clip = keypoint_clip(kp, sc, c.layout, c.width, c.height, c.fps, i, limits, prefix)
        else:
            poses, _ = _to_array(c.poses, 4, 3, f"{prefix}.poses", i, nullable=True)
            lay = _layout(c.layout, f"{prefix}.layout", i)
            if poses.shape[0] < 2:
                raise RequestError(422, "a pose clip needs at least 2 frames", f"{prefix}.poses", i)
            _check_counts(poses.shape[0], poses.shape[1], limits, f"{prefix}.poses", i)
            if poses.shape[2] != lay.num_joints:
                raise RequestError(422, f"layout {c.layout} has {lay.num_joints} joints, poses have "
                                        f"{poses.shape[2]}", f"{prefix}.poses", i)
            clip = PoseClip(poses=poses, layout=lay.name, left_handed=c.left_handed)
        out.append(ParsedClip(i, c.id or f"clip{i}", clip))
    return out


KEYPOINT_SUFFIXES = (".npz", ".parquet")


def parse_keypoint_file(path: Path, index: int, limits: Limits, start: int) -> list[ParsedClip]:
    """One uploaded npz/Parquet keypoint file (saved by the server under its own name) -> its clips."""
    from posenas.datasets.keypoints import read_keypoints

    field = f"files[{index}]"
    try:
        seqs = read_keypoints(path)
    except PosenasError as e:
        raise RequestError(422, f"not a readable posenas keypoint file: {getattr(e, 'reason', e)}",
                           field, index) from None
    except Exception as e:  # a corrupt archive or table: the reader's own error, still the client's fault
        raise RequestError(422, f"not a readable posenas keypoint file ({type(e).__name__}: {e})",
                           field, index) from None
    out = []
    for k, s in enumerate(seqs):
        if start + len(out) >= limits.max_clips_per_request:
            raise RequestError(413, f"more than {limits.max_clips_per_request} clips in this request", field, index)
        meta = s.meta or {}
        width, height = meta.get("width"), meta.get("height")
        if not width or not height:
            raise RequestError(422, f"sequence {s.seq_id!r} has no image width/height", field, index)
        kp = np.asarray(s.joints, np.float32)
        sc = None if s.confidence is None else np.asarray(s.confidence, np.float32)
        if kp.ndim != 4 or kp.shape[-1] != 2 or kp.shape[0] == 0:
            raise RequestError(422, f"sequence {s.seq_id!r}: expected 2D keypoints (frames, persons, joints, 2), "
                                    f"got {kp.shape}", field, index)
        if np.isinf(kp).any():
            raise RequestError(422, f"sequence {s.seq_id!r}: infinite coordinate at {_first_bad(np.isinf(kp))}",
                               field, index)
        if sc is not None:
            sc = np.where(np.isfinite(kp).all(-1), np.nan_to_num(sc, nan=0.0), 0.0).astype(np.float32)
        fps = float(s.fps or 30.0)
        clip = keypoint_clip(kp, sc, s.layout, int(width), int(height), fps, index, limits, field)
        out.append(ParsedClip(start + len(out), str(s.seq_id), clip))
    if not out:
        raise RequestError(422, "the file holds no sequence", field, index)
    return out
