"""`posenas score --url URL FILES...`: batch-score keypoint files or videos against a posenas server."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer


def score_command(
    files: List[Path] = typer.Argument(..., help="Videos, posenas keypoint files (.npz/.parquet) or score requests (.json)."),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The posenas server."),
    out: Path = typer.Option(Path("scores.parquet"), "--out", "-o", help="Results table (Parquet); JSON beside it."),
    concurrency: int = typer.Option(4, min=1, help="Requests in flight at once."),
    retries: int = typer.Option(5, min=0, help="Retries of a request answered 503 or dropped."),
    timeout: float = typer.Option(600.0, help="Seconds one request may take."),
    poses: bool = typer.Option(False, "--poses/--no-poses", help="Also fetch the 3D poses (into the JSON)."),
) -> None:
    """Send every file, at most --concurrency at a time, and write one Parquet (and JSON) of results."""
    from posenas.serve.client import score_files

    results, table, js = score_files(url, files, out, concurrency=concurrency, retries=retries, timeout_s=timeout,
                                     return_poses=poses)
    failed = [r for r in results if r.error]
    typer.echo(f"{len(results) - len(failed)}/{len(results)} files scored -> {table} and {js}")
    if failed:
        raise typer.Exit(2)
