"""How fast video becomes 3D: lifter inference alone, and video -> 3D end to end.

Measures, in one run on the same videos: the lifter's frames/s on CPU for clips of several lengths;
MediaPipe's frames/s alone; and video -> 3D frames/s (decode + detect + lift + write Parquet) for a
plain Python loop and for the Ray Data extract job with 1 and 2 workers. End-to-end times include
loading the models (each extract run starts its actor pool), not starting Ray. Medians of --repeats.
Writes benchmarks/results/lift_speed.md. A detector section (also alone: --only-detectors) times the
single-person legacy MediaPipe detector against the multi-person one (each of its modes), plus tracking,
on the single-person clips and on real multi-person footage (the shared Pose2Sim capture, when present);
it writes benchmarks/results/detect_speed.md.

    .venv/bin/python benchmarks/bench_lift_speed.py [--videos DIR] [--repeats 3] [--workers 1,2]
    .venv/bin/python benchmarks/bench_lift_speed.py --only-detectors [--multi-video PATH] [--multi-frames 60]

Without --videos it makes clips from skimage's astronaut photo (a real person, moving and scaling).
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import typer

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]


def make_clips(root: Path, num: int, frames: int, width: int, height: int, fps: float = 30.0) -> list[Path]:
    """Clips of the astronaut photo drifting and zooming over a grey background."""
    import cv2
    from skimage import data

    from posenas.core.video import write_video

    photo = data.astronaut()
    paths = []
    for v in range(num):
        out = []
        for i in range(frames):
            s = int(height * (0.7 + 0.2 * np.sin(2 * np.pi * (i / frames + v / num))))
            img = cv2.resize(photo, (s, s), interpolation=cv2.INTER_AREA)
            f = np.full((height, width, 3), 50, np.uint8)
            x = int((width - s) * (0.5 + 0.5 * np.sin(2 * np.pi * i / frames * (v + 1) / 2)))
            y = (height - s) // 2
            f[y : y + s, x : x + s] = img
            out.append(f)
        write_video(root / f"clip{v}.mp4", out, fps)
        paths.append(root / f"clip{v}.mp4")
    return paths


def _median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _lifter(checkpoint: Optional[Path]):
    """The shipped/given lifter; if none is shipped yet, the default architecture untrained (same cost)."""
    from posenas.platform.lifting.inference import DEFAULT_CHECKPOINT, Lifter, load_lifter

    if checkpoint is not None or DEFAULT_CHECKPOINT.is_file():
        lf = load_lifter(checkpoint)
        return lf, str(lf.path)
    from posenas.platform.lifting.config import LifterConfig
    from posenas.platform.lifting.models import build_model

    cfg = LifterConfig()
    return Lifter(build_model(cfg).eval(), cfg, {}), "untrained LifterConfig() (no shipped checkpoint yet)"


DEFAULT_MULTI = REPO.parent / "shared" / "data" / "pose2sim_multiperson" / "videos" / "cam01.mp4"


def detector_speed(clips: list[Path], multi_video: Optional[Path], multi_frames: int, repeats: int) -> list[str]:
    """Markdown lines: frames/s of each detector (decoded frames in memory, so decoding is not timed),
    people found per frame, and the tracker's own cost."""
    from posenas.core.video import iter_frames, probe_video
    from posenas.platform.detection.detectors import get_detector
    from posenas.platform.detection.tracking import PoseTracker

    inputs = [("single person: " + f"{len(clips)} generated clips", [list(iter_frames(c)) for c in clips], 30.0)]
    if multi_video is not None and multi_video.is_file():
        info = probe_video(multi_video)
        frames = [f for _, f in zip(range(multi_frames), iter_frames(multi_video))]
        inputs.append((f"several people: {multi_video.name}, first {len(frames)} frames, {info.width}x{info.height}",
                       [frames], info.fps))
    detectors = [("mediapipe_legacy (1 person)", "mediapipe_legacy", {}),
                 ("mediapipe, mode=video (num_poses=4)", "mediapipe", {"mode": "video"}),
                 ("mediapipe, mode=image (num_poses=4)", "mediapipe", {"mode": "image"}),
                 ("mediapipe, mode=both (default, num_poses=4)", "mediapipe", {"mode": "both"})]
    rows = []
    for what, clips_frames, fps in inputs:
        n = sum(len(c) for c in clips_frames)
        for label, name, opts in detectors:
            det = get_detector(name, **opts)
            PoseTracker().track(det.detect_frames(clips_frames[0][:5], fps=fps))  # warm-up: imports, bundle, graphs
            times, found, track_s = [], 0.0, 0.0
            for _ in range(repeats):
                t0 = time.perf_counter()
                dets = [det.detect_frames(c, fps=fps) for c in clips_frames]
                times.append(time.perf_counter() - t0)
            found = float(np.mean(np.concatenate([d.detected().sum(axis=1) for d in dets])))
            t0 = time.perf_counter()
            tracked = [PoseTracker().track(d) for d in dets]
            track_s = time.perf_counter() - t0
            sec = statistics.median(times)
            rows.append(f"| {what} | {label} | {n} | {n / sec:.1f} | {found:.2f} | "
                        f"{sum(t.num_persons for t in tracked)} | {n / track_s:.0f} |")
    return [
        "# Detection speed: single-person vs multi-person MediaPipe",
        "",
        f"Median of {repeats} runs over decoded frames (decoding not timed; after a warm-up run), one process, CPU. 'people/frame' = "
        "mean detections per frame; 'tracks' = tracks kept by `PoseTracker` (summed over clips); tracking "
        "frames/s is the tracker alone.",
        "",
        "| input | detector | frames | frames/s | people/frame | tracks | tracking frames/s |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "mode=video follows the people MediaPipe already has and rarely finds new ones; mode=image detects afresh "
        "every frame but misses people its detector drops in a frame; mode=both runs the two and merges "
        "(most people found, about the cost of both).",
    ]


def main(
    videos: Optional[Path] = typer.Option(None, help="Folder of videos (default: generated clips)."),
    num_videos: int = typer.Option(4, help="Generated clips."),
    frames: int = typer.Option(60, help="Frames per generated clip."),
    size: str = typer.Option("640x480", help="Generated clip size WxH."),
    repeats: int = typer.Option(3, help="Runs per case; the median is reported."),
    workers: str = typer.Option("1,2", help="Extract job pool sizes to time."),
    checkpoint: Optional[Path] = typer.Option(None, help="Lifter checkpoint (default: shipped)."),
    threads: int = typer.Option(1, help="torch threads for the in-process cases."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "lift_speed.md", help="Markdown report."),
    detectors: bool = typer.Option(True, help="Also run the detector section (detect_speed.md)."),
    only_detectors: bool = typer.Option(False, help="Run only the detector section."),
    multi_video: Optional[Path] = typer.Option(DEFAULT_MULTI, help="Multi-person video for the detector section."),
    multi_frames: int = typer.Option(60, help="Frames of --multi-video to use."),
    detect_out: Path = typer.Option(REPO / "benchmarks" / "results" / "detect_speed.md", help="Detector report."),
) -> None:
    import ray
    import torch

    from posenas.platform.detection.detectors import get_detector
    from posenas.platform.extract import collect_videos, run_extract
    from posenas.platform.pipeline import Pipeline, write_result

    torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix="posenas_bench_"))
    try:
        if videos is None:
            w, h = (int(v) for v in size.lower().split("x"))
            src = tmp / "videos"
            make_clips(src, num_videos, frames, w, h)
            what = f"{num_videos} generated clips of {frames} frames, {w}x{h} (astronaut photo moving)"
        else:
            src, what = videos, str(videos)
        items = collect_videos(src)
        if detectors or only_detectors:
            lines = detector_speed([it.path for it in items], multi_video, multi_frames, repeats)
            detect_out.parent.mkdir(parents=True, exist_ok=True)
            cmd = (f"`benchmarks/bench_lift_speed.py --only-detectors --repeats {repeats}"
                   + (f" --num-videos {num_videos} --frames {frames} --size {size}" if videos is None else
                      f" --videos {videos}") + f" --multi-frames {multi_frames}`")
            lines.insert(2, f"{cmd}. Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared), "
                            f"load average {os.getloadavg()[0]:.1f}.\n")
            detect_out.write_text("\n".join(lines) + "\n")
            typer.echo("\n".join(lines))
            if only_detectors:
                return
        lifter, lifter_name = _lifter(checkpoint)
        rows: list[tuple[str, float, int, float, str]] = []

        # 1. lifter alone, h36m17 2D from the detector on one clip (tiled to length)
        det = get_detector("mediapipe").detect_video(items[0].path).to_layout("h36m17")
        kp = np.nan_to_num(det.keypoints[:, 0], nan=0.0)
        sc = det.scores[:, 0]
        for t in (1, 243, 3000):
            reps = int(np.ceil(t / len(kp)))
            k, c = np.tile(kp, (reps, 1, 1))[:t], np.tile(sc, (reps, 1))[:t]
            lifter.lift(k, c, det.width, det.height)  # warm-up
            n_calls = 200 if t == 1 else 1
            sec, _ = _median_time(lambda: [lifter.lift(k, c, det.width, det.height) for _ in range(n_calls)],
                                  max(repeats, 5))
            rows.append((f"lifter only, clip of {t} frame(s), {threads} torch thread(s)", sec, t * n_calls,
                         t * n_calls / sec, ""))

        detector = get_detector("mediapipe")

        def detect_all() -> tuple[int, str]:
            """decode + MediaPipe only, one process"""
            return sum(detector.detect_video(it.path).num_frames for it in items), ""

        def plain_loop() -> tuple[int, str]:
            """video -> 3D Parquet, plain loop in one process (models loaded inside the timing)"""
            lf, _ = _lifter(checkpoint)
            pipe = Pipeline(detector=get_detector("mediapipe"), lifter=lf)
            n = 0
            for it in items:
                res = pipe.run_video(it.path, it.video_id, classify=False)
                write_result(res, tmp / "plain", formats=("parquet",))
                n += res.stats["frames"]
            return n, ""

        def extract(nw: int, r: int) -> tuple[int, str]:
            rep = run_extract(src, tmp / f"extract_{nw}_{r}", workers=nw, checkpoint=checkpoint, progress=False)
            if rep.failed:
                raise RuntimeError(f"extract failed on {rep.failed}")
            steady = rep.frames / (rep.busy_seconds / nw)
            return rep.frames, f"{rep.cpus_per_worker:g} CPU/worker, {steady:.1f} frames/s steady"

        pool_sizes = [int(x) for x in workers.split(",")]
        cases: dict[str, list[tuple[float, int, str]]] = {}
        names = {"detect": "decode + MediaPipe (default multi-person detector) only, plain loop", "plain": "video -> 3D Parquet, plain loop (1 process)",
                 **{f"x{nw}": f"video -> 3D Parquet, extract job, {nw} worker(s)" for nw in pool_sizes}}
        # Rounds interleave the cases so that load from other jobs on a shared machine hits all alike.
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            for r in range(repeats):
                runs: list[tuple[str, Callable[[], tuple[int, str]]]] = [("detect", detect_all), ("plain", plain_loop)]
                runs += [(f"x{nw}", lambda nw=nw: extract(nw, r)) for nw in pool_sizes]
                for key, fn in runs:
                    t0 = time.perf_counter()
                    n, note = fn()
                    cases.setdefault(key, []).append((time.perf_counter() - t0, n, note))
        finally:
            ray.shutdown()
        for key, runs_ in cases.items():
            times = [t for t, _, _ in runs_]
            n = runs_[0][1]
            sec = statistics.median(times)
            notes = sorted(runs_, key=lambda x: x[0])[len(runs_) // 2][2]  # the median run's note
            note = f"best {min(times):.2f} s = {n / min(times):.1f} frames/s" + (f"; {notes}" if notes else "")
            rows.append((names[key], sec, n, n / sec, note))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()
    lines = [
        "# Video -> 3D speed benchmark",
        "",
        f"`benchmarks/bench_lift_speed.py --repeats {repeats} --workers {workers}"
        + (f" --num-videos {num_videos} --frames {frames} --size {size}" if videos is None else f" --videos {videos}")
        + f"`: median wall-clock of "
        f"{repeats} rounds (lifter rows: of max({repeats}, 5)). Inputs: {what}.",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other jobs; load average "
        f"{load[0]:.1f} at the end), Python {platform.python_version()}, torch {torch.__version__}, "
        f"ray {ray.__version__}. Lifter: {lifter_name}. CPU only.",
        "",
        "| case | median s | frames | frames/s (median) | notes |",
        "|---|---:|---:|---:|---|",
        *[f"| {name} | {sec:.3f} | {n} | {fps:.1f} | {note} |" for name, sec, n, fps, note in rows],
        "",
        "End-to-end rows include loading the models (the extract job also starts its actor pool each run) "
        "but not starting Ray; the cases are interleaved round by round. 'steady' = frames / (summed "
        "per-video worker time / workers): the rate once the actors have loaded their models, which long "
        "jobs approach. The extract pool leaves one CPU for Ray Data's other tasks, so on a 2-CPU "
        "machine 2 workers get 0.5 CPU each. MediaPipe dominates the cost. On a shared machine (see the "
        "load average) differences under ~20% between end-to-end rows are noise.",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    typer.run(main)
