"""`posenas lift VIDEO -o OUT/` (one video, with a rendered result) and `posenas extract` (many videos, Ray).

Heavy imports (cv2, mediapipe, torch, ray) happen inside the commands so `posenas --help` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Optional

import typer


def _layout_option(layout: str) -> Optional[str]:
    return None if layout == "native" else layout


def lift_video_command(
    video: Path = typer.Argument(..., help="Video file (mp4, avi, mov, ...) or a photo (jpg, png)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (created)."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", "-c", help="Lifter checkpoint (.pt); default: the shipped CMU-trained lifter."),
    detector: str = typer.Option("mediapipe", "--detector", help="2D detector: mediapipe | precomputed."),
    keypoints: Optional[Path] = typer.Option(
        None, "--keypoints", help="Precomputed 2D keypoints (OpenPose JSON folder, COCO JSON, posenas npz/Parquet)."),
    layout: str = typer.Option(
        "h36m17", "--layout", help="Layout of the written 2D keypoints: h36m17 | coco17 | native (the detector's)."),
    no_render: bool = typer.Option(False, "--no-render", help="Skip the side-by-side mp4."),
) -> None:
    """Detect the person in a video, lift to 3D and write npz + Parquet (+ a rendered mp4)."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ info lines
    from posenas.platform.pipeline import lift_video

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = {}
    if detector == "precomputed":
        if keypoints is None:
            raise typer.BadParameter("--detector precomputed needs --keypoints FILE|DIR", param_hint="--keypoints")
        options["path"] = keypoints
    elif keypoints is not None:
        detector, options = "precomputed", {"path": keypoints}
    result = lift_video(video, out, detector=detector, lifter=checkpoint, render=not no_render,
                        keypoint_layout=_layout_option(layout), progress=True, detector_options=options)
    stats = result["stats"]
    typer.echo(f"{stats['frames']} frames, {stats['frames_without_person']} without a person"
               + (f", gaps filled (frames): {stats['gap_lengths']}" if stats["gap_lengths"] else ""))
    for kind, path in result["paths"].items():
        typer.echo(f"{kind:8s} {path}")


def extract_command(
    input: Path = typer.Option(..., "--input", "-i", help="Folder of videos (recursive) or a text file listing videos."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder: one Parquet file per video."),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster to join ('auto' for `ray start`); default: an embedded local Ray."),
    workers: int = typer.Option(1, "--workers", "-w", help="Actors in the pool (each loads detector + lifter)."),
    cpus_per_worker: Optional[float] = typer.Option(
        None, "--cpus-per-worker", help="CPUs reserved per actor (default 1, lowered to leave one CPU free)."),
    gpus_per_worker: float = typer.Option(
        0.0, "--gpus-per-worker", help="GPUs reserved per actor (the shipped detector and lifter run on CPU)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="Lifter checkpoint (.pt)."),
    layout: str = typer.Option("h36m17", "--layout", help="Layout of the written 2D keypoints: h36m17 | coco17 | mediapipe33."),
) -> None:
    """Detect + lift many videos on Ray into Parquet; resumable, bad videos go to _errors.json (exit 1)."""
    from posenas.platform.extract import ERRORS_FILE, run_extract

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run_extract(input, output, address=address, workers=workers, cpus_per_worker=cpus_per_worker,
                         gpus_per_worker=gpus_per_worker, checkpoint=checkpoint, keypoint_layout=layout)
    typer.echo(json.dumps(report.to_dict()))
    if report.failed:
        typer.echo(f"{len(report.failed)} video(s) failed; see {Path(output) / ERRORS_FILE}", err=True)
        raise typer.Exit(1)
