"""`posenas extract`: many videos -> 2D keypoints + 3D poses as Parquet, with Ray Data.

Ray Data holds the list of videos; an actor pool (each actor loads the detector and the lifter once)
processes one video per call and writes ``<output>/<video_id>.parquet`` itself, atomically (a hidden
temporary file, then a rename). That makes the job resumable: a rerun skips every video whose file
exists, and a crash never leaves a half-written file that would be mistaken for a finished one.
A video that fails (corrupt, unreadable) is recorded in ``<output>/_errors.json`` with its error
and the rest continue; failed videos are retried on the next run.

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

from posenas.errors import PosenasError

log = logging.getLogger(__name__)

ERRORS_FILE = "_errors.json"
SUMMARY_FILE = "_summary.json"


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
            "failed": len(self.failed), "frames": self.frames, "seconds": round(self.seconds, 3),
            "frames_per_second": round(self.frames_per_second, 2), "busy_seconds": round(self.busy_seconds, 3),
            "workers": self.workers,
            "cpus_per_worker": self.cpus_per_worker,
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


def output_file(output: Path, video_id: str) -> Path:
    return output / f"{video_id}.parquet"


def write_parquet_atomic(table: Any, path: Path) -> None:
    """Write to a hidden temporary file beside `path`, then rename: readers never see a partial file."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ExtractWorker:
    """Ray Data actor: loads detector and lifter once, then detects, lifts and writes one video per row."""

    def __init__(self, output: str, checkpoint: str | None = None, detector: str = "mediapipe",
                 keypoint_layout: str = "h36m17", threads: int = 1):
        os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging, one line per graph
        import torch

        from posenas.platform.pipeline import resolve_detector, resolve_lifter

        torch.set_num_threads(max(1, int(threads)))
        self.output = Path(output)
        self.detector = resolve_detector(detector)
        self.lifter = resolve_lifter(checkpoint)
        self.keypoint_layout = keypoint_layout

    def process(self, video_id: str, video: str) -> tuple[int, float]:
        from posenas.datasets.keypoints import keypoints_table
        from posenas.platform.pipeline import process_video

        t0 = time.perf_counter()
        res = process_video(video, self.detector, self.lifter, video_id)
        det = res.detections.to_layout(self.keypoint_layout)
        table = keypoints_table(video_id, det.keypoints, det.scores, det.layout, det.fps, det.width, det.height,
                                res.pose_3d)
        write_parquet_atomic(table, output_file(self.output, video_id))
        return res.stats["frames"], time.perf_counter() - t0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list] = {"video_id": [], "video": [], "status": [], "error": [], "frames": [], "seconds": []}
        for vid, video in zip(batch["video_id"], batch["video"]):
            vid, video = str(vid), str(video)
            try:
                frames, secs = self.process(vid, video)
                status, error = "ok", ""
            except Exception as e:  # noqa: BLE001 - one bad video must not stop the job; recorded below
                frames, secs, status, error = 0, 0.0, "error", f"{type(e).__name__}: {e}"
            for k, v in zip(out, (vid, video, status, error, frames, secs)):
                out[k].append(v)
        return {
            "video_id": np.array(out["video_id"], dtype=object), "video": np.array(out["video"], dtype=object),
            "status": np.array(out["status"], dtype=object), "error": np.array(out["error"], dtype=object),
            "frames": np.array(out["frames"], dtype=np.int64), "seconds": np.array(out["seconds"], dtype=np.float64),
        }


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
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    done_before = {it.video_id for it in items if output_file(out, it.video_id).exists()}
    todo = [it for it in items if it.video_id not in done_before]
    report = ExtractReport(out, len(items), skipped=sorted(done_before), workers=workers)
    if report.skipped:
        log.info("resuming: %d of %d videos already in %s", len(report.skipped), len(items), out)

    t0 = time.perf_counter()
    if todo:
        started = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            started = True
        t0 = time.perf_counter()  # the job's time, not Ray's start-up
        try:
            ray.data.DataContext.get_current().enable_progress_bars = False  # ours (per video) is clearer
            resources = ray.cluster_resources()
            if gpus_per_worker > 0 and workers * gpus_per_worker > resources.get("GPU", 0.0):
                raise PosenasError(f"{workers} workers x {gpus_per_worker} GPUs requested, the Ray cluster has "
                                   f"{resources.get('GPU', 0.0):g} GPUs; use --gpus-per-worker 0")
            cpus = _pool_cpus(float(resources.get("CPU", 1.0)), workers, cpus_per_worker)
            report.cpus_per_worker = cpus
            # absolute paths: actors need not share the driver's working directory
            ds = ray.data.from_items([{"video_id": it.video_id, "video": str(it.path.resolve())} for it in todo])
            ds = ds.map_batches(
                ExtractWorker,
                fn_constructor_kwargs={
                    "output": str(out.resolve()), "checkpoint": None if checkpoint is None else str(Path(checkpoint).resolve()),
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
                if row["status"] == "ok":
                    report.done.append(str(row["video_id"]))
                    report.frames += int(row["frames"])
                    report.busy_seconds += float(row["seconds"])
                else:
                    report.failed.append({"video": str(row["video"]), "video_id": str(row["video_id"]),
                                          "error": str(row["error"])})
                    log.warning("%s: %s", row["video"], row["error"])
        finally:
            if started:
                ray.shutdown()
    report.seconds = time.perf_counter() - t0
    (out / ERRORS_FILE).write_text(json.dumps(report.failed, indent=2))
    (out / SUMMARY_FILE).write_text(json.dumps(report.to_dict(), indent=2))
    return report
