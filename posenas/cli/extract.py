"""`posenas extract -i VIDEOS/ -o OUT/`: detect + lift many videos on Ray Data into Parquet.

Options (output folder, layout, pool size, checkpoint) are checked while parsing, before Ray starts.
Heavy imports (cv2, mediapipe, torch, ray) happen inside the command so `posenas --help` stays fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from posenas.cli import _checks


def extract_command(
    input: Path = typer.Option(..., "--input", "-i", exists=True,
                               help="Folder of videos (recursive) or a text file listing videos."),
    output: str = typer.Option(..., "--out", "-o", "--output", callback=_checks.output_dir,
                               help="Output folder or s3://bucket/prefix: one Parquet file per video."),
    storage_endpoint: Optional[str] = typer.Option(
        None, "--storage-endpoint", help="S3-compatible store for an s3:// --out (MinIO, Ceph, ...): http(s)://host:port."),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster to join ('auto' for `ray start`); default: an embedded local Ray."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Actors in the pool (each loads detector + lifter)."),
    cpus_per_worker: Optional[float] = typer.Option(
        None, "--cpus-per-worker", min=0.01, help="CPUs reserved per actor (default 1, lowered to leave one CPU free)."),
    gpus_per_worker: float = typer.Option(
        0.0, "--gpus-per-worker", min=0.0, help="GPUs reserved per actor (the shipped detector and lifter run on CPU)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", exists=True, dir_okay=False,
                                              help="Lifter checkpoint (.pt)."),
    layout: str = typer.Option("h36m17", "--layout", callback=_checks.registry_name(_checks.known_layout),
                               help="Layout of the written 2D keypoints: h36m17 | coco17 | mediapipe33."),
) -> None:
    """Detect + lift many videos on Ray into Parquet; resumable (unfinished files are redone); bad videos go
    to _errors.json and truncated ones to _summary.json (exit 1)."""
    from posenas.platform.extract import ERRORS_FILE, run_extract

    _checks.check_layout_for_detector("mediapipe", layout)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run_extract(input, output, address=address, workers=workers, cpus_per_worker=cpus_per_worker,
                         gpus_per_worker=gpus_per_worker, checkpoint=checkpoint, keypoint_layout=layout,
                         storage_endpoint=storage_endpoint)
    typer.echo(json.dumps(report.to_dict()))
    for t in report.truncated:
        typer.echo(f"warning: {t['video']}: its header promises {t.get('header_frames')} frames, only "
                   f"{t.get('frames')} decode (truncated file?); kept what it holds", err=True)
    for r in report.redone:
        typer.echo(f"note: {r['file']} was {r['problem']}; extracted again", err=True)
    if report.failed:
        typer.echo(f"{len(report.failed)} video(s) failed; see {str(output).rstrip('/')}/{ERRORS_FILE}", err=True)
    if report.failed or report.truncated:
        raise typer.Exit(1)
