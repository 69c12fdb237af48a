"""2D keypoint files: posenas' own outputs, and what users bring from other detectors.

`read_keypoints(path)` detects the format and returns one `SkeletonSequence` per video, with
`joints` (T, P, J, 2) in pixels and `confidence` (T, P, J) in [0, 1].

Formats
-------
posenas ``.npz`` (one video; `np.load(path)` works without pickle)::

    keypoints_2d (T, P, J, 2) float32 pixels   scores (T, P, J) float32
    layout  str (registered layout name)       fps float, width int, height int, video_id str
    pose_3d (T, P, 17, 3) float32, optional: metres, root-relative, layout `pose_layout` = "h36m17"

posenas Parquet (a file, or a folder of ``*.parquet`` files such as a Ray Data `write_parquet`
output): one row per (video_id, frame, person), plain Arrow columns readable by pandas/pyarrow::

    video_id      string
    frame         int32          0-based frame index in the video (row f is read back as frame f,
                                 so chunks of one video written separately join up)
    person        int16          0-based person slot in the frame
    layout        string         joint layout of keypoints_2d (e.g. "mediapipe33", "coco17")
    width         int32          video frame size in pixels
    height        int32
    fps           float32
    keypoints_2d  list<float32>  J*2 values: x0, y0, x1, y1, ... pixels (joint-major)
    scores        list<float32>  J detector confidences in [0, 1]
    pose_3d       list<float32>  17*3 values x, y, z (h36m17, metres, root-relative); null if none

OpenPose: a folder of per-frame ``<video>_<frame:012d>_keypoints.json`` files, each with
``people[].pose_keypoints_2d`` = 25 * (x, y, c), the BODY_25 model (layout "openpose25", registered
here). Files are grouped into videos by the `<video>` prefix; frame numbers are made 0-based (the
first frame number is kept in ``meta["frame_offset"]``). A non-negative ``person_id`` (OpenPose
tracking) keeps each person in the same slot; otherwise people keep their order in the file.

COCO keypoints JSON: a ground-truth file (``images`` + ``annotations`` with ``keypoints`` =
17 * (x, y, v), ``image_id``), or a detector results file (a JSON list of ``{image_id, keypoints,
score}``, the third value being a score). Images become frames of a video: grouped by
``video_id``/``vid_id`` when present (PoseTrack) else by the folder of ``file_name``; ordered by
``frame_id`` when present else by ``file_name``. A ``track_id`` keeps each person in its slot;
without one, results are ordered most confident first. A results file (no ``images``) is one video
named after the file, frames in ``image_id`` order.

Conventions (documented choices)
--------------------------------
* A missing joint or person (OpenPose c = 0, COCO v = 0, a (frame, person) row absent from a table)
  has confidence 0 and NaN coordinates, so it can never be mistaken for a joint at pixel (0, 0).
* COCO visibility v = 2 -> confidence 1, v = 1 (labelled, occluded) -> 0.5; detector scores are
  clipped to [0, 1]. Ground-truth annotations that are crowds or have no labelled keypoint are skipped.
* OpenPose and COCO files carry no frame rate: `fps` (default 30) is used and
  ``meta["fps_assumed"]`` is True. Their image size is unknown unless COCO ``images`` give it.
* A 3D pose, when present, is in ``meta["pose_3d"]`` (T, P, 17, 3), ``meta["pose_layout"]`` = "h36m17".
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import SkeletonDataset, SkeletonSequence
from posenas.errors import DataFormatError, PosenasError
from posenas.core.skeleton import get_layout

DEFAULT_FPS = 30.0
POSE_LAYOUT = "h36m17"
_NPZ_KEYS = ("keypoints_2d", "scores", "layout", "fps", "width", "height", "video_id")
_COLUMNS = (
    "video_id", "frame", "person", "layout", "width", "height", "fps", "keypoints_2d", "scores", "pose_3d",
)
_OPENPOSE_RE = re.compile(r"^(?P<video>.*)_(?P<frame>\d+)_keypoints\.json$")

# --- writing ----------------------------------------------------------------------------------
def _check_arrays(
    keypoints_2d: np.ndarray, scores: np.ndarray, layout: str, pose_3d: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    kp = np.asarray(keypoints_2d, dtype=np.float32)
    sc = np.asarray(scores, dtype=np.float32)
    if kp.ndim != 4 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints_2d must be (T, P, J, 2), got {kp.shape}")
    if sc.shape != kp.shape[:3]:
        raise ValueError(f"scores must be (T, P, J) = {kp.shape[:3]}, got {sc.shape}")
    lay = get_layout(layout)
    if kp.shape[2] != lay.num_joints:
        raise ValueError(f"layout {layout} has {lay.num_joints} joints, keypoints_2d has {kp.shape[2]}")
    p3 = None
    if pose_3d is not None:
        p3 = np.asarray(pose_3d, dtype=np.float32)
        if p3.shape != kp.shape[:2] + (17, 3):
            raise ValueError(f"pose_3d must be (T, P, 17, 3) = {kp.shape[:2] + (17, 3)}, got {p3.shape}")
    return kp, sc, p3


def _list_column(values: np.ndarray, width: int, mask: np.ndarray | None = None):
    """(N, width) float32 -> Arrow list<float32>; rows where `mask` is True become null."""
    import pyarrow as pa

    n = values.shape[0]
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * width)
    if mask is not None and mask.any():
        # Null rows must still own `width` values so offsets stay regular; they are never read.
        return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)), mask=pa.array(mask))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))


def parquet_schema():
    """The Arrow schema of posenas keypoint tables (see the module docstring)."""
    import pyarrow as pa

    return pa.schema([
        ("video_id", pa.string()), ("frame", pa.int32()), ("person", pa.int16()),
        ("layout", pa.string()), ("width", pa.int32()), ("height", pa.int32()), ("fps", pa.float32()),
        ("keypoints_2d", pa.list_(pa.float32())), ("scores", pa.list_(pa.float32())),
        ("pose_3d", pa.list_(pa.float32())),
    ])


def keypoints_table(
    video_id: str,
    keypoints_2d: np.ndarray,
    scores: np.ndarray,
    layout: str,
    fps: float,
    width: int,
    height: int,
    pose_3d: np.ndarray | None = None,
    *,
    first_frame: int = 0,
):
    """One video's keypoints as an Arrow table, one row per (frame, person), all T*P rows.

    Rows for every person slot are written (absent people have score 0) so a reader gets back
    exactly (T, P, J); with P = 0 one absent slot is written. A row whose pose_3d is all NaN (or no
    pose_3d given) stores null. `first_frame` numbers the rows of a chunk of a longer video so
    that chunks written separately (e.g. by Ray tasks) read back as one sequence.
    """
    import pyarrow as pa

    kp, sc, p3 = _check_arrays(keypoints_2d, scores, layout, pose_3d)
    if kp.shape[1] == 0:  # nobody detected: keep one absent slot so the frame count survives
        kp = np.full(kp.shape[:1] + (1,) + kp.shape[2:], np.nan, np.float32)
        sc = np.zeros(kp.shape[:3], np.float32)
        p3 = None if p3 is None else np.full(kp.shape[:2] + (17, 3), np.nan, np.float32)
    t, p, j = sc.shape
    n = t * p
    if first_frame < 0:
        raise ValueError(f"first_frame must be >= 0, got {first_frame}")
    frame = np.repeat(np.arange(first_frame, first_frame + t, dtype=np.int32), p)
    person = np.tile(np.arange(p, dtype=np.int16), t)
    if p3 is None:
        pose_col = pa.nulls(n, type=pa.list_(pa.float32()))
    else:
        flat3 = p3.reshape(n, 51)
        pose_col = _list_column(flat3, 51, mask=np.isnan(flat3).all(axis=1))
    cols = [
        pa.repeat(pa.scalar(str(video_id), pa.string()), n),
        pa.array(frame),
        pa.array(person),
        pa.repeat(pa.scalar(layout, pa.string()), n),
        pa.repeat(pa.scalar(int(width), pa.int32()), n),
        pa.repeat(pa.scalar(int(height), pa.int32()), n),
        pa.repeat(pa.scalar(float(fps), pa.float32()), n),
        _list_column(kp.reshape(n, j * 2), j * 2),
        _list_column(sc.reshape(n, j), j),
        pose_col,
    ]
    return pa.Table.from_arrays(cols, schema=parquet_schema())


def write_keypoints(
    path: str | Path,
    video_id: str,
    keypoints_2d: np.ndarray,
    scores: np.ndarray,
    layout: str,
    fps: float,
    width: int,
    height: int,
    pose_3d: np.ndarray | None = None,
) -> Path:
    """Write one video's keypoints to `path` (.npz or .parquet, chosen by suffix); returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".parquet"):
        raise PosenasError(f"{path}: keypoint files must end in .npz or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(keypoints_table(video_id, keypoints_2d, scores, layout, fps, width, height, pose_3d), path)
        return path
    kp, sc, p3 = _check_arrays(keypoints_2d, scores, layout, pose_3d)
    arrays: dict[str, np.ndarray] = {
        "keypoints_2d": kp, "scores": sc, "layout": np.array(layout), "fps": np.array(float(fps)),
        "width": np.array(int(width)), "height": np.array(int(height)), "video_id": np.array(str(video_id)),
    }
    if p3 is not None:
        arrays["pose_3d"] = p3
        arrays["pose_layout"] = np.array(POSE_LAYOUT)
    with open(path, "wb") as f:  # a file object stops numpy from appending a second ".npz"
        np.savez_compressed(f, **arrays)
    return path


def write_sequence(path: str | Path, seq: SkeletonSequence) -> Path:
    """Write a 2D `SkeletonSequence` (e.g. one read from OpenPose JSON) as a posenas keypoint file."""
    if seq.dims != 2:
        raise PosenasError(f"{seq.seq_id}: only 2D sequences can be written as keypoint files")
    conf = seq.confidence if seq.confidence is not None else np.ones(seq.joints.shape[:3], np.float32)
    return write_keypoints(
        path, seq.seq_id, seq.joints, conf, seq.layout, seq.fps,
        seq.meta.get("width") or 0, seq.meta.get("height") or 0, seq.meta.get("pose_3d"),
    )


# --- reading: posenas npz / parquet -----------------------------------------------------------
def _make_sequence(
    video_id: str, kp: np.ndarray, sc: np.ndarray, layout: str, fps: float, width: int | None,
    height: int | None, source: Path, fmt: str, pose_3d: np.ndarray | None = None, **meta: Any,
) -> SkeletonSequence:
    info: dict[str, Any] = {"units": "pixels", "width": width, "height": height, "source": str(source),
                            "format": fmt, **meta}
    if pose_3d is not None:
        info["pose_3d"] = pose_3d
        info["pose_layout"] = POSE_LAYOUT
    return SkeletonSequence(joints=kp, layout=layout, fps=float(fps), seq_id=str(video_id),
                            confidence=sc, meta=info)


def _read_npz(path: Path) -> list[SkeletonSequence]:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataFormatError(path, f"not a readable .npz file ({e})") from None
    with data:
        for key in _NPZ_KEYS:
            if key not in data.files:
                raise DataFormatError(path, "missing array", field=key)
        try:
            kp = data["keypoints_2d"].astype(np.float32)
            sc = data["scores"].astype(np.float32)
            layout = str(data["layout"])
            fps, width, height = float(data["fps"]), int(data["width"]), int(data["height"])
            video_id = str(data["video_id"])
            p3 = data["pose_3d"].astype(np.float32) if "pose_3d" in data.files else None
        except ValueError as e:  # object arrays, non-scalar metadata
            raise DataFormatError(path, str(e)) from None
    if kp.ndim != 4 or kp.shape[-1] != 2:
        raise DataFormatError(path, f"expected (T, P, J, 2), got {kp.shape}", field="keypoints_2d")
    if sc.shape != kp.shape[:3]:
        raise DataFormatError(path, f"expected {kp.shape[:3]} to match keypoints_2d, got {sc.shape}", field="scores")
    if p3 is not None and p3.shape != kp.shape[:2] + (17, 3):
        raise DataFormatError(path, f"expected {kp.shape[:2] + (17, 3)}, got {p3.shape}", field="pose_3d")
    _check_layout_joints(path, layout, kp.shape[2])
    return [_make_sequence(video_id, kp, sc, layout, fps, width, height, path, "npz", p3)]


def _check_layout_joints(path: Path, layout: str, num_joints: int) -> None:
    """A known layout must match the joint count; an unknown name is allowed (a plugin may add it)."""
    try:
        lay = get_layout(layout)
    except KeyError:
        return
    if lay.num_joints != num_joints:
        raise DataFormatError(path, f"layout {layout} has {lay.num_joints} joints, data has {num_joints}",
                              field="layout")


def _parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.parquet") if p.is_file())


def _read_parquet(path: Path) -> list[SkeletonSequence]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    tables = []
    for f in _parquet_files(path):
        try:
            t = pq.read_table(f)
        except (OSError, pa.ArrowException) as e:
            raise DataFormatError(f, f"not a readable Parquet file ({e})") from None
        for name in _COLUMNS:
            if name not in t.column_names:
                raise DataFormatError(f, "missing column", field=name)
        try:
            tables.append(t.select(list(_COLUMNS)).cast(schema))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise DataFormatError(f, f"column types do not match the posenas schema ({e})") from None
    if not tables:
        raise DataFormatError(path, "no .parquet files found")
    table = pa.concat_tables(tables).combine_chunks()
    for name in ("video_id", "frame", "person", "layout", "keypoints_2d", "scores"):
        if table[name].null_count:
            raise DataFormatError(path, "null values in a required column", field=name)
    # Group rows by video with one stable sort (not one filter per video), keeping first-appearance order.
    videos = table["video_id"].to_numpy(zero_copy_only=False)
    names, first, inverse, counts = np.unique(videos, return_index=True, return_inverse=True, return_counts=True)
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(names))
    order = np.argsort(rank[inverse], kind="stable")
    table = table.take(pa.array(order))
    starts = np.concatenate([[0], np.cumsum(counts[np.argsort(first)])])
    return [
        _table_to_sequence(path, str(name), table.slice(int(a), int(b - a)))
        for name, a, b in zip(names[np.argsort(first)], starts[:-1], starts[1:])
    ]


def _flat_list(path: Path, table, name: str, width: int) -> tuple[np.ndarray, np.ndarray]:
    """List column -> (N, width) float32 with NaN for null rows, and the null mask."""
    import pyarrow.compute as pc

    col = table[name].combine_chunks()
    valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    bad = np.nonzero(valid & (lengths != width))[0]
    if bad.size:
        raise DataFormatError(path, f"row {int(bad[0])}: expected {width} values, got {int(lengths[bad[0]])}",
                              field=name)
    out = np.full((len(col), width), np.nan, dtype=np.float32)
    values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    out[valid] = values.reshape(-1, width)
    return out, ~valid


def _single(path: Path, table, name: str):
    vals = table[name].unique().to_pylist()
    if len(vals) != 1:
        raise DataFormatError(path, f"video {table['video_id'][0]} has {len(vals)} different values {vals[:4]}",
                              field=name)
    return vals[0]


def _table_to_sequence(path: Path, video_id: str, table) -> SkeletonSequence:
    layout = _single(path, table, "layout")
    fps, width, height = _single(path, table, "fps"), _single(path, table, "width"), _single(path, table, "height")
    frame = table["frame"].to_numpy().astype(np.int64)
    person = table["person"].to_numpy().astype(np.int64)
    if (frame < 0).any() or (person < 0).any():
        raise DataFormatError(path, f"video {video_id}: negative frame or person index", field="frame")
    t, p = int(frame.max()) + 1, int(person.max()) + 1
    cell = frame * p + person
    if np.unique(cell).size != cell.size:
        raise DataFormatError(path, f"video {video_id}: duplicate (frame, person) rows", field="frame")
    scores_len = table["scores"].combine_chunks().value_lengths().to_numpy(zero_copy_only=False)
    j = int(scores_len[0])
    sc_rows, _ = _flat_list(path, table, "scores", j)
    kp_rows, _ = _flat_list(path, table, "keypoints_2d", 2 * j)
    p3_rows, p3_null = _flat_list(path, table, "pose_3d", 51)
    _check_layout_joints(path, layout, j)
    kp = np.full((t * p, j, 2), np.nan, dtype=np.float32)
    sc = np.zeros((t * p, j), dtype=np.float32)
    kp[cell] = kp_rows.reshape(-1, j, 2)
    sc[cell] = sc_rows
    p3 = None
    if not p3_null.all():
        p3 = np.full((t * p, 17, 3), np.nan, dtype=np.float32)
        p3[cell] = p3_rows.reshape(-1, 17, 3)
        p3 = p3.reshape(t, p, 17, 3)
    return _make_sequence(video_id, kp.reshape(t, p, j, 2), sc.reshape(t, p, j), layout, fps, width, height,
                          path, "parquet", p3)


# --- reading: OpenPose ------------------------------------------------------------------------
def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid JSON: {e.msg}", line=e.lineno) from None
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not UTF-8 text ({e.reason})") from None


def _openpose_frame(path: Path) -> list[tuple[int, np.ndarray]]:
    """(person_id or -1, (25, 3) x/y/c) for each person of one OpenPose frame file."""
    doc = _load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise DataFormatError(path, "expected an object with a 'people' list", field="people")
    people = []
    for i, person in enumerate(doc["people"]):
        where = f"people[{i}].pose_keypoints_2d"
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise DataFormatError(path, "missing", field=where)
        flat = person["pose_keypoints_2d"]
        try:
            arr = np.asarray(flat, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataFormatError(path, "values must be numbers", field=where) from None
        if arr.ndim != 1 or arr.size != 75:
            hint = " (COCO-18 model output; posenas reads BODY_25)" if arr.size == 54 else ""
            raise DataFormatError(path, f"expected 75 values (25 joints x, y, c), got {arr.size}{hint}", field=where)
        pid = person.get("person_id", -1)
        pid = pid[0] if isinstance(pid, list) and pid else pid
        people.append((int(pid) if isinstance(pid, (int, float)) else -1, arr.reshape(25, 3)))
    return people


def _assign_slots(ids_per_frame: list[list[int]]) -> tuple[list[list[int]], int]:
    """Person slots per frame: by track id when every person has one (>= 0), else file order."""
    all_ids = [i for ids in ids_per_frame for i in ids]
    if all_ids and all(i >= 0 for i in all_ids):
        order = {pid: k for k, pid in enumerate(sorted(set(all_ids)))}
        return [[order[i] for i in ids] for ids in ids_per_frame], len(order)
    return [list(range(len(ids))) for ids in ids_per_frame], max((len(ids) for ids in ids_per_frame), default=0)


def _assemble(frames: list[list[tuple[int, np.ndarray]]], joints: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (id, (J, 3) x/y/c) lists -> joints (T, P, J, 2) with NaN where c = 0, conf (T, P, J)."""
    slots, p = _assign_slots([[pid for pid, _ in people] for people in frames])
    p = max(p, 1)
    xyc = np.zeros((len(frames), p, joints, 3), dtype=np.float32)
    for t, (people, sl) in enumerate(zip(frames, slots)):
        for (_, arr), s in zip(people, sl):
            xyc[t, s] = arr
    conf = np.clip(xyc[..., 2], 0.0, 1.0)
    kp = np.where((conf > 0)[..., None], xyc[..., :2], np.nan).astype(np.float32)
    return kp, conf


def _openpose_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(path.glob("*_keypoints.json"))


def _read_openpose(path: Path, fps: float | None) -> list[SkeletonSequence]:
    files = _openpose_files(path)
    if not files:
        raise DataFormatError(path, "no *_keypoints.json files found")
    groups: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for k, f in enumerate(files):
        m = _OPENPOSE_RE.match(f.name)
        if m:
            groups[m["video"]].append((int(m["frame"]), f))
        else:  # image-folder output (<image>_keypoints.json): one sequence in name order
            groups[path.stem if path.is_dir() else f.name[: -len("_keypoints.json")]].append((k, f))
    sequences = []
    for video, items in groups.items():
        items.sort()
        numbers = np.array([n for n, _ in items])
        if np.unique(numbers).size != numbers.size:
            raise DataFormatError(items[0][1], f"video {video}: duplicate frame numbers")
        offset = int(numbers.min())
        frames: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(int(numbers.max()) - offset + 1)]
        for n, f in items:
            frames[n - offset] = _openpose_frame(f)
        kp, conf = _assemble(frames, 25)
        sequences.append(_make_sequence(
            video, kp, conf, "openpose25", fps or DEFAULT_FPS, None, None, path, "openpose_json",
            fps_assumed=fps is None, frame_offset=offset, frames_present=len(items),
        ))
    return sequences


# --- reading: COCO ----------------------------------------------------------------------------
def _coco_keypoints(path: Path, ann: Any, index: int, results: bool) -> np.ndarray:
    where = f"annotations[{index}]" if not results else f"[{index}]"
    if not isinstance(ann, dict):
        raise DataFormatError(path, "expected an object", field=where)
    for key in ("image_id", "keypoints"):
        if key not in ann:
            raise DataFormatError(path, "missing", field=f"{where}.{key}")
    try:
        arr = np.asarray(ann["keypoints"], dtype=np.float32)
    except (TypeError, ValueError):
        raise DataFormatError(path, "values must be numbers", field=f"{where}.keypoints") from None
    if arr.ndim != 1 or arr.size != 51:
        raise DataFormatError(path, f"expected 51 values (17 joints x, y, v), got {arr.size}",
                              field=f"{where}.keypoints")
    xyc = arr.reshape(17, 3).copy()
    if results:  # third value is a detector score
        xyc[:, 2] = np.clip(xyc[:, 2], 0.0, 1.0)
    else:  # visibility flag: 0 unlabelled, 1 labelled occluded, 2 visible
        v = xyc[:, 2]
        if not np.isin(v, (0, 1, 2)).all():
            raise DataFormatError(path, f"visibility flags must be 0, 1 or 2, got {sorted(set(v.tolist()))}",
                                  field=f"{where}.keypoints")
        xyc[:, 2] = np.select([v == 2, v == 1], [1.0, 0.5], 0.0)
    return xyc


def _read_coco(path: Path, fps: float | None) -> list[SkeletonSequence]:
    doc = _load_json(path)
    results = isinstance(doc, list)
    if results:
        anns, images = doc, None
    elif isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
        anns = doc["annotations"]
        images = doc.get("images")
        if not isinstance(images, list):
            raise DataFormatError(path, "expected a list of images", field="images")
        for cat in doc.get("categories") or []:
            names = cat.get("keypoints") if isinstance(cat, dict) else None
            if names is not None and len(names) != 17:
                raise DataFormatError(path, f"category has {len(names)} keypoints; posenas reads the 17 COCO ones",
                                      field="categories.keypoints")
    else:
        raise DataFormatError(path, "expected a COCO object with 'images' and 'annotations', or a results list")

    image_info: dict[Any, dict] = {}
    if images is not None:
        for i, img in enumerate(images):
            if not isinstance(img, dict) or "id" not in img:
                raise DataFormatError(path, "missing", field=f"images[{i}].id")
            image_info[img["id"]] = img
    per_image: dict[Any, list[tuple[int, float, np.ndarray]]] = defaultdict(list)
    for i, ann in enumerate(anns):
        xyc = _coco_keypoints(path, ann, i, results)
        iid = ann["image_id"]
        if images is not None and iid not in image_info:
            raise DataFormatError(path, f"image_id {iid!r} not in images", field=f"annotations[{i}].image_id")
        if not results and (ann.get("iscrowd") or not (xyc[:, 2] > 0).any()):
            continue  # crowd regions and person boxes without labelled keypoints are not skeletons
        track = ann.get("track_id", -1)
        per_image[iid].append((int(track) if isinstance(track, (int, float)) else -1,
                               float(ann.get("score", 1.0) or 0.0), xyc))
    if images is None:  # results file: image ids are all we know, in numeric/sort order
        image_info = {iid: {"id": iid} for iid in per_image}

    def video_of(img: dict) -> str:
        for key in ("video_id", "vid_id"):
            if key in img:
                return str(img[key])
        parent = str(Path(str(img.get("file_name", ""))).parent)
        return parent if parent not in ("", ".") else path.stem

    def order_key(img: dict):
        if "frame_id" in img:
            return (0, img["frame_id"], "")
        if "file_name" in img:
            return (1, 0, str(img["file_name"]))
        return (2, img["id"], "")

    videos: dict[str, list[dict]] = defaultdict(list)
    for img in image_info.values():
        videos[video_of(img)].append(img)
    sequences = []
    for video, imgs in videos.items():
        imgs.sort(key=order_key)
        frames = []
        for img in imgs:
            people = per_image.get(img["id"], [])
            if results and not any(tid >= 0 for tid, _, _ in people):
                people = sorted(people, key=lambda x: -x[1])  # most confident detection first
            frames.append([(tid, xyc) for tid, _, xyc in people])
        kp, conf = _assemble(frames, 17)
        sizes = {(img.get("width"), img.get("height")) for img in imgs}
        width, height = sizes.pop() if len(sizes) == 1 else (None, None)
        sequences.append(_make_sequence(
            video, kp, conf, "coco17", fps or DEFAULT_FPS, width, height, path, "coco_json",
            fps_assumed=fps is None, image_ids=[img["id"] for img in imgs],
        ))
    return sequences


# --- detection and the public reader ----------------------------------------------------------
def _is_posenas_npz(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".npz"):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return "keypoints_2d.npy" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _is_posenas_parquet(path: Path) -> bool:
    if path.is_file():
        if path.suffix.lower() != ".parquet":
            return False
        files = [path]
    elif path.is_dir():
        files = _parquet_files(path)[:1]
        if not files:
            return False
    else:
        return False
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(files[0]).names
    except Exception:  # noqa: BLE001 - any unreadable file is simply "not this format"
        return False
    return "keypoints_2d" in names and "video_id" in names


def _has_people(path: Path) -> bool:
    """OpenPose frame files are small objects with a "people" list (COCO files have "annotations")."""
    with open(path, "rb") as f:
        head = f.read(1 << 12)
    return head.lstrip().startswith(b"{") and b'"people"' in head


def _is_openpose(path: Path) -> bool:
    if path.is_file():
        return path.name.endswith("_keypoints.json") and _has_people(path)
    if not path.is_dir():
        return False
    files = sorted(path.glob("*_keypoints.json"))[:3]
    # <video>_<frame>_keypoints.json names are OpenPose's own; other names need a look inside.
    return any(_OPENPOSE_RE.match(f.name) or _has_people(f) for f in files)


def _is_coco(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".json") or _is_openpose(path):
        return False
    # Decide from the first 64 KiB: COCO files can be hundreds of MB, and reading validates anyway.
    with open(path, "rb") as f:
        head = f.read(1 << 16).lstrip()
    if head.startswith(b"["):
        return b'"keypoints"' in head and b'"image_id"' in head
    return head.startswith(b"{") and (b'"images"' in head or b'"annotations"' in head)


def keypoint_format(path: str | Path) -> str:
    """Which keypoint format `path` is: "npz", "parquet", "openpose_json" or "coco_json"."""
    p = Path(path)
    if not p.exists():
        raise PosenasError(f"{p}: no such file or directory")
    for name, test in (("npz", _is_posenas_npz), ("parquet", _is_posenas_parquet),
                       ("openpose_json", _is_openpose), ("coco_json", _is_coco)):
        if test(p):
            return name
    raise PosenasError(
        f"{p}: not a keypoint file posenas recognises (posenas .npz/.parquet, a folder of OpenPose "
        "*_keypoints.json, or a COCO keypoints JSON)"
    )


def read_keypoints(path: str | Path, fps: float | None = None) -> list[SkeletonSequence]:
    """Read any supported keypoint file or folder into one 2D SkeletonSequence per video.

    `fps` is used only by formats that do not store one (OpenPose, COCO); default 30.
    """
    p = Path(path)
    fmt = keypoint_format(p)
    if fmt == "npz":
        return _read_npz(p)
    if fmt == "parquet":
        return _read_parquet(p)
    if fmt == "openpose_json":
        return _read_openpose(p, fps)
    return _read_coco(p, fps)


def _dataset(path: Path, sequences: Iterable[SkeletonSequence], name: str) -> SkeletonDataset:
    seqs = list(sequences)
    layouts = sorted({s.layout for s in seqs})
    return SkeletonDataset(name=name, root=path, layout=layouts[0] if len(layouts) == 1 else ",".join(layouts),
                           sequences=seqs, meta={"units": "pixels"})


@register_loader("keypoints", detect=lambda p: _is_posenas_npz(p) or _is_posenas_parquet(p),
                 description="posenas 2D keypoints (.npz, or Parquet file/folder) written by the video pipeline")
def load_keypoints(path: Path, fps: float | None = None) -> SkeletonDataset:
    return _dataset(path, read_keypoints(path, fps), "keypoints")


@register_loader("openpose_json", detect=_is_openpose,
                 description="OpenPose BODY_25 per-frame *_keypoints.json (folder or one file)")
def load_openpose(path: Path, fps: float | None = None) -> SkeletonDataset:
    return _dataset(path, _read_openpose(Path(path), fps), "openpose_json")


@register_loader("coco_json", detect=_is_coco,
                 description="COCO keypoints JSON (ground truth with images/annotations, or detector results)")
def load_coco(path: Path, fps: float | None = None) -> SkeletonDataset:
    return _dataset(path, _read_coco(Path(path), fps), "coco_json")
