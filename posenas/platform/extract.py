"""`posenas extract`: many videos -> 2D keypoints + 3D poses as Parquet, with Ray Data.

Ray Data holds the list of videos; an actor pool (each actor loads the detector and the lifter once)
processes one video per call and writes ``<output>/<video_id>.parquet`` itself, atomically (a hidden
temporary file, then a rename). That makes the job resumable: a rerun skips every video whose file
exists and reads back as a complete Parquet file (an empty or truncated one, e.g. copied in or cut
short by a full disk, is redone). A video that fails (corrupt, unreadable) is recorded in
``<output>/_errors.json`` with its error and the rest continue; failed videos are retried on the next
run. A video that decodes fewer frames than its header promises (a truncated file) keeps what it holds,
but is listed under "truncated" in ``_summary.json`` (on every run, also when resumed) instead of being
silently shorter.

The output folder is a plain Parquet dataset in the posenas keypoint schema (see
`posenas.datasets.keypoints`): ``pd.read_parquet(output)`` and ``read_keypoints(output)`` both read
it; files starting with "_" or "." are ignored by pyarrow/pandas dataset discovery. On a cluster
(``--address auto``) the output folder must be on storage every node can write.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenas.core import storage
from posenas.errors import PosenasError

log = logging.getLogger(__name__)

ERRORS_FILE = "_errors.json"
SUMMARY_FILE = "_summary.json"
# Parquet schema metadata of each output: frames decoded, and the frame count the container promised
FRAMES_KEY = b"posenas.frames"
HEADER_FRAMES_KEY = b"posenas.header_frames"


@dataclass(frozen=True)
class VideoItem:
    video_id: str
    path: Path


@dataclass
class ExtractReport:
    """What one run did. `failed` holds {"video", "video_id", "error"} records (also in _errors.json)."""

    output: Path
    total: int
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    redone: list[dict[str, str]] = field(default_factory=list)  # existing outputs that did not verify
    truncated: list[dict[str, Any]] = field(default_factory=list)  # {"video_id", "frames", "header_frames"}
    nodes: list[str] = field(default_factory=list)  # Ray node ids the extract actors ran on
    frames: int = 0
    seconds: float = 0.0
    busy_seconds: float = 0.0  # summed per-video processing time inside the workers (no pool start-up)
    workers: int = 1
    cpus_per_worker: float = 1.0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "total": self.total, "done": len(self.done), "skipped": len(self.skipped),
            "failed": len(self.failed), "redone": self.redone, "truncated": self.truncated,
            "frames": self.frames, "seconds": round(self.seconds, 3),
            "frames_per_second": round(self.frames_per_second, 2), "busy_seconds": round(self.busy_seconds, 3),
            "workers": self.workers,
            "cpus_per_worker": self.cpus_per_worker,
            "nodes": self.nodes,
        }


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "video"


def collect_videos(source: str | Path) -> list[VideoItem]:
    """Videos of a folder (recursive; id = relative path without suffix, "/" -> "__") or of a text
    file listing one path per line (relative paths are relative to the list; "#" starts a comment)."""
    from posenas.core.video import list_videos

    src = Path(source)
    if not src.exists():
        raise PosenasError(f"{src}: no such file or directory")
    items: list[VideoItem] = []
    if src.is_dir():
        for p in list_videos(src):
            rel = p.relative_to(src).with_suffix("")
            items.append(VideoItem(_safe_id("__".join(rel.parts)), p))
        if not items:
            raise PosenasError(f"{src}: no video files found (looked for .mp4, .avi, .mov, .mkv, ...)")
    else:
        for line in src.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                p = Path(line)
                p = p if p.is_absolute() else src.parent / p
                items.append(VideoItem(_safe_id(p.stem), p))
        if not items:
            raise PosenasError(f"{src}: the video list is empty")
    seen: dict[str, Path] = {}
    for it in items:
        if it.video_id in seen:
            raise PosenasError(f"two videos get the id {it.video_id!r}: {seen[it.video_id]} and {it.path}; rename one")
        seen[it.video_id] = it.path
    return items


def output_file(output: Path | str, video_id: str) -> Path | str:
    """`<output>/<video_id>.parquet`: a Path for a local folder, a URI string for an object store."""
    return _join(output, f"{video_id}.parquet")


def _join(output: Path | str, name: str) -> Path | str:
    return storage.join(output, name) if storage.is_uri(output) else Path(output) / name


def _exists(path: Path | str, endpoint: str | None = None) -> bool:
    return storage.exists(path, endpoint) if storage.is_uri(path) else Path(path).exists()


def _write_text_atomic(path: Path | str, text: str, endpoint: str | None = None) -> None:
    storage.write_text(path, text, endpoint)  # local: temp file + rename; object store: one PUT


def verify_output(path: Path | str, endpoint: str | None = None) -> tuple[str | None, dict[str, int]]:
    """(why `path` is not a finished output or None, the frame counts it recorded: frames, header_frames).

    Reads only the Parquet footer: a 0-byte, truncated or foreign file fails here and is redone.
    """
    import pyarrow.parquet as pq

    try:
        if storage.is_uri(path):
            fs, inner = storage.filesystem(path, endpoint)
            size, source = fs.get_file_info(inner).size, fs.open_input_file(inner)
        else:
            size, source = Path(path).stat().st_size, path
        if size == 0:
            return "empty file (0 bytes)", {}
        pf = pq.ParquetFile(source)
        meta, names = pf.metadata, set(pf.schema_arrow.names)
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError for cut-short files
        return f"not a readable Parquet file ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})", {}
    if meta.num_rows == 0:
        return "no rows", {}
    missing = {"video_id", "frame", "keypoints_2d"} - names
    if missing:
        return f"not a posenas keypoint file (no {', '.join(sorted(missing))} column)", {}
    kv = meta.metadata or {}
    counts = {}
    for key, name in ((FRAMES_KEY, "frames"), (HEADER_FRAMES_KEY, "header_frames")):
        try:
            counts[name] = int(kv[key])
        except (KeyError, ValueError):
            pass
    return None, counts


def is_truncated(frames: int, header_frames: int | None) -> bool:
    """Fewer decoded frames than the container's count, beyond the 1 % an estimated count may be off."""
    if not header_frames or header_frames <= 1:
        return False
    return header_frames - frames > max(1, round(0.01 * header_frames))


def write_parquet_atomic(table: Any, path: Path | str, endpoint: str | None = None) -> None:
    """Write to a hidden temporary file beside `path`, then rename: readers never see a partial file.
    On an object store one PUT is atomic already (the object appears only once its upload completes)."""
    import pyarrow.parquet as pq

    if storage.is_uri(path):
        fs, inner = storage.filesystem(path, endpoint)
        pq.write_table(table, inner, filesystem=fs)
        return

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ExtractWorker:
    """Ray Data actor: builds the shared Pipeline once (detector + lifter load on first use), then detects,
    lifts and writes one video per row (no action model: extract writes keypoints and 3D poses)."""

    def __init__(self, output: str, checkpoint: str | None = None, detector: str = "mediapipe",
                 keypoint_layout: str = "h36m17", threads: int = 1, storage_endpoint: str | None = None):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging, one line per graph
        import torch

        from posenas.platform.pipeline import Pipeline

        torch.set_num_threads(max(1, int(threads)))
        self.node_id, self.device = _worker_placement()
        self.output = output if storage.is_uri(output) else Path(output)
        self.storage_endpoint = storage_endpoint
        config: dict[str, Any] = {"detector": {"name": detector}}
        if checkpoint is not None:
            config["lifter"] = {"checkpoint": str(checkpoint)}
        self.pipeline = Pipeline(config)
        self.keypoint_layout = keypoint_layout

    def process(self, video_id: str, video: str) -> tuple[int, float, int]:
        """(decoded frames, seconds, the frame count the container's header promised)."""
        from posenas.core.video import probe_video
        from posenas.datasets.keypoints import keypoints_table

        t0 = time.perf_counter()
        header_frames = probe_video(video).num_frames
        res = self.pipeline.run_video(video, video_id, classify=False)
        det = res.detections.to_layout(self.keypoint_layout)
        frames = int(res.stats["frames"])
        table = keypoints_table(video_id, det.keypoints, det.scores, det.layout, det.fps, det.width, det.height,
                                res.pose_3d)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), FRAMES_KEY: str(frames).encode(),
                                               HEADER_FRAMES_KEY: str(header_frames).encode()})
        write_parquet_atomic(table, output_file(self.output, video_id), self.storage_endpoint)
        return frames, time.perf_counter() - t0, header_frames

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list] = {"video_id": [], "video": [], "status": [], "error": [], "frames": [], "seconds": [],
                                "header_frames": []}
        for vid, video in zip(batch["video_id"], batch["video"]):
            vid, video = str(vid), str(video)
            try:
                frames, secs, header = self.process(vid, video)
                status, error = "ok", ""
            except Exception as e:  # noqa: BLE001 - one bad video must not stop the job; recorded below
                frames, secs, header, status, error = 0, 0.0, 0, "error", f"{type(e).__name__}: {e}"
            for k, v in zip(out, (vid, video, status, error, frames, secs, header)):
                out[k].append(v)
        return {
            "video_id": np.array(out["video_id"], dtype=object), "video": np.array(out["video"], dtype=object),
            "status": np.array(out["status"], dtype=object), "error": np.array(out["error"], dtype=object),
            "frames": np.array(out["frames"], dtype=np.int64), "seconds": np.array(out["seconds"], dtype=np.float64),
            "header_frames": np.array(out["header_frames"], dtype=np.int64),
            "node_id": np.array([self.node_id] * len(out["video_id"]), dtype=object),
        }


def _worker_placement() -> tuple[str, str]:
    """(Ray node id, torch device) of this actor; an assigned GPU torch cannot use falls back to the CPU."""
    import ray

    from posenas.core.ray_runtime import worker_device

    return ray.get_runtime_context().get_node_id(), str(worker_device())


def _pool_cpus(total_cpus: float, workers: int, cpus_per_worker: float | None) -> float:
    """CPUs per actor, leaving one CPU for Ray Data's other tasks: a pool holding every CPU deadlocks them."""
    want = 1.0 if cpus_per_worker is None else float(cpus_per_worker)
    room = max(total_cpus - 1.0, total_cpus / 2.0)
    if workers * want > room:
        fitted = max(0.1, room / workers)
        if cpus_per_worker is not None:
            log.warning("%d workers x %.2f CPUs does not fit %.0f CPUs with one to spare; using %.2f per worker",
                        workers, want, total_cpus, fitted)
        return round(fitted, 3)
    return want


def _output_folder(output: str | Path, endpoint: str | None) -> Path | str:
    """The output folder, created (local) or checked reachable (object store: s3://bucket/prefix)."""
    if storage.is_uri(output) or endpoint:
        fs, inner = storage.filesystem(output, endpoint)  # a bad endpoint or scheme fails here
        fs.create_dir(inner, recursive=True)  # a no-op on S3, but surfaces missing credentials/bucket early
        return storage.normalize_storage_path(output)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise PosenasError(f"{out}: is a file, expected the output folder")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # temporary files of an interrupted run
        stale.unlink(missing_ok=True)
    return out


def run_extract(
    source: str | Path,
    output: str | Path,
    address: str | None = None,
    workers: int = 1,
    cpus_per_worker: float | None = None,
    gpus_per_worker: float = 0.0,
    checkpoint: str | Path | None = None,
    detector: str = "mediapipe",
    keypoint_layout: str = "h36m17",
    progress: bool = True,
    storage_endpoint: str | None = None,
) -> ExtractReport:
    """Run the extract job (see the module docstring). Starts an embedded local Ray unless one is
    running or `address` is given ("auto" joins a cluster started with `ray start`)."""
    import ray

    from posenas.core.skeleton import get_layout

    if workers < 1:
        raise PosenasError(f"--workers must be >= 1, got {workers}")
    get_layout(keypoint_layout)  # unknown layout: fail before starting anything
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise PosenasError(f"{checkpoint}: no such lifter checkpoint")
    items = collect_videos(source)
    out = _output_folder(output, storage_endpoint)
    report = ExtractReport(out, len(items), workers=workers)
    todo = []
    for it in items:
        path = output_file(out, it.video_id)
        if not _exists(path, storage_endpoint):
            todo.append(it)
            continue
        problem, counts = verify_output(path, storage_endpoint)
        if problem:
            log.warning("%s: %s; extracting %s again", path, problem, it.path)
            report.redone.append({"video_id": it.video_id, "file": str(path), "problem": problem})
            todo.append(it)
            continue
        report.skipped.append(it.video_id)
        if is_truncated(counts.get("frames", 0), counts.get("header_frames")):
            report.truncated.append({"video": str(it.path), "video_id": it.video_id, **counts})
    report.skipped.sort()
    if report.skipped:
        log.info("resuming: %d of %d videos already in %s", len(report.skipped), len(items), out)

    t0 = time.perf_counter()
    if todo:
        from posenas.core.ray_runtime import init_ray

        started = init_ray(address, log_to_driver=False)
        t0 = time.perf_counter()  # the job's time, not Ray's start-up
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False  # ours (per video) is clearer
            resources = ray.cluster_resources()
            # an embedded Ray has all the GPUs it will ever have; a cluster's autoscaler may add more
            if not address and gpus_per_worker > 0 and workers * gpus_per_worker > resources.get("GPU", 0.0):
                raise PosenasError(f"{workers} workers x {gpus_per_worker} GPUs requested, the Ray cluster has "
                                   f"{resources.get('GPU', 0.0):g} GPUs; use --gpus-per-worker 0")
            cpus = _pool_cpus(float(resources.get("CPU", 1.0)), workers, cpus_per_worker)
            report.cpus_per_worker = cpus
            # absolute paths: actors need not share the driver's working directory
            ds = ray.data.from_items([{"video_id": it.video_id, "video": str(it.path.resolve())} for it in todo])
            ds = ds.map_batches(
                ExtractWorker,
                fn_constructor_kwargs={
                    "output": str(out) if storage.is_uri(out) else str(out.resolve()),
                    "storage_endpoint": storage_endpoint, "checkpoint": None if checkpoint is None else str(Path(checkpoint).resolve()),
                    "detector": detector, "keypoint_layout": keypoint_layout, "threads": max(1, int(cpus)),
                },
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=workers),
                num_cpus=cpus,
                num_gpus=gpus_per_worker,
            )
            rows = ds.iter_rows()
            if progress:
                from tqdm import tqdm

                rows = tqdm(rows, total=len(todo), desc="extract", unit="video")
            for row in rows:
                if row.get("node_id") and row["node_id"] not in report.nodes:
                    report.nodes.append(str(row["node_id"]))
                if row["status"] == "ok":
                    report.done.append(str(row["video_id"]))
                    report.frames += int(row["frames"])
                    report.busy_seconds += float(row["seconds"])
                    if is_truncated(int(row["frames"]), int(row["header_frames"])):
                        report.truncated.append({"video": str(row["video"]), "video_id": str(row["video_id"]),
                                                 "frames": int(row["frames"]), "header_frames": int(row["header_frames"])})
                        log.warning("%s: its header promises %d frames, only %d decode (truncated file?)",
                                    row["video"], int(row["header_frames"]), int(row["frames"]))
                else:
                    report.failed.append({"video": str(row["video"]), "video_id": str(row["video_id"]),
                                          "error": str(row["error"])})
                    log.warning("%s: %s", row["video"], row["error"])
        finally:
            if started:
                ray.shutdown()
    report.seconds = time.perf_counter() - t0
    _write_text_atomic(_join(out, ERRORS_FILE), json.dumps(report.failed, indent=2), storage_endpoint)
    _write_text_atomic(_join(out, SUMMARY_FILE), json.dumps(report.to_dict(), indent=2), storage_endpoint)
    return report
