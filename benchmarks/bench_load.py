"""Time loading the real Kinect datasets (MSR Action3D both versions, 2D/3D pairs, UTKinect).

Loading must stay cheap enough to run before every training job and in every test: the goal for all
567 MSR Real3D files is ~1 s on a 2-core box (hard limit 5 s). Writes benchmarks/results/load.md.

    .venv/bin/python benchmarks/bench_load.py [--data ../shared/data] [--runs 5]
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import typer

from posenas.datasets import msr_action3d, utkinect

REPO = Path(__file__).resolve().parents[1]


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), out


def main(
    data: Path = typer.Option(None, help="Folder with msr_action3d/ and utkinect_action3d/ "
                                         "(default: $POSENAS_DATA or ../shared/data)."),
    runs: int = typer.Option(5, help="Runs per case; the median is reported."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "load.md", help="Markdown report."),
) -> None:
    data = data or Path(os.environ.get("POSENAS_DATA", REPO.parent / "shared" / "data"))
    msr, utk = data / "msr_action3d", data / "utkinect_action3d"
    if not msr.is_dir() or not utk.is_dir():
        raise typer.BadParameter(f"{data} lacks msr_action3d/ or utkinect_action3d/")

    def quiet_utk(**kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return utkinect.load(utk, **kw)

    cases: list[tuple[str, Callable[[], object], Callable[[object], tuple[int, int]]]] = [
        ("MSR Real3D, all (567 files)", lambda: msr_action3d.load(msr), _ds_counts),
        ("MSR Real3D, all, 2 threads", lambda: msr_action3d.load(msr, workers=2), _ds_counts),
        ("MSR Real3D, cvpr12 (557)", lambda: msr_action3d.load(msr, subset="cvpr12"), _ds_counts),
        ("MSR screen, all (567 files)", lambda: msr_action3d.load(msr, version="screen"), _ds_counts),
        ("MSR 2D/3D pairs, all (1134 files)", lambda: msr_action3d.load_msr_pairs(msr, subset="all"),
         lambda r: (len(r[0]), sum(p.num_frames for p in r[0]))),
        ("UTKinect (20 files, 199 segments)", quiet_utk, _ds_counts),
        ("UTKinect, modified labels", lambda: quiet_utk(labels="modified"), _ds_counts),
    ]
    rows = []
    for name, fn, count in cases:
        med, best, res = _time(fn, runs)
        n, frames = count(res)
        rows.append((name, med, best, n, frames))
        typer.echo(f"{name:<38} median {med:6.3f} s  best {best:6.3f} s  {n:>4} seqs {frames:>6} frames")

    lines = [
        "# Dataset loading benchmark",
        "",
        f"`benchmarks/bench_load.py --runs {runs}`: median and best of {runs} runs, wall-clock seconds, "
        "files in the OS page cache (after the first run).",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}, "
        f"numpy {np.__version__}.",
        "",
        "| case | median s | best s | sequences | frames |",
        "|---|---:|---:|---:|---:|",
        *[f"| {n} | {m:.3f} | {b:.3f} | {k} | {f} |" for n, m, b, k, f in rows],
        "",
        "Target: all 567 MSR Real3D files in < 5 s (goal ~1 s).",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    typer.echo(f"wrote {out}")


def _ds_counts(ds) -> tuple[int, int]:
    return len(ds), int(sum(s.num_frames for s in ds))


if __name__ == "__main__":
    typer.run(main)
