"""`posenas data ...`: look at what a dataset holds before training on it."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import typer

from posenas.cli._checks import LOADER_OPTION_HELP, loader_options, parse_options

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("info")
def info(
    path: Path = typer.Argument(..., help="Dataset folder or file."),
    format: str = typer.Option(None, "--format", "-f", help="Loader name; detected when omitted."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    option: list[str] = typer.Option(
        [], "--option", "-O", callback=loader_options, help=LOADER_OPTION_HELP
    ),
) -> None:
    """Print format, sequences, frames, subjects, classes, layout, protocols and faults found."""
    from posenas.datasets.registry import detect_format, load_dataset

    fmt = format or detect_format(path)
    options = parse_options(option)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # Loaders warn about faults they also return in `ds.faults`, which are printed below.
        warnings.simplefilter("ignore", UserWarning)
        ds = load_dataset(path, format=fmt, **options)
    elapsed = time.perf_counter() - t0
    s = ds.summary()
    s["format"] = fmt
    s["load_seconds"] = round(elapsed, 3)
    if as_json:
        typer.echo(json.dumps(s, indent=2, default=str))
        return
    subjects = s["subjects"]
    rows = [
        ("format", fmt),
        ("root", s["root"]),
        ("layout", s["layout"]),
        ("sequences", s["sequences"]),
        ("frames", s["frames"]),
        ("persons (max)", s["persons_max"]),
        ("dims", ",".join(map(str, s["dims"]))),
        ("subjects", f"{len(subjects)}: {', '.join(map(str, subjects))}" if subjects else "-"),
        ("classes", s["classes"]),
        ("load time", f"{elapsed:.2f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        typer.echo(f"{k:<{width}}  {v}")
    if ds.classes:
        typer.echo("\nclasses:")
        for i, c in enumerate(ds.classes):
            typer.echo(f"  {i:>3}  {c:<24} {s['per_class'].get(c, 0):>5} sequences")
    if s["protocols"]:
        typer.echo("\nprotocols (train / test sequences):")
        families: dict[str, list[str]] = {}
        for k in s["protocols"]:
            families.setdefault(k.split("/")[0] if "/" in k else k, []).append(k)
        for fam, names in families.items():
            if len(names) > 1:  # e.g. 20 leave-one-sequence-out folds: one line, not twenty
                typer.echo(f"  {fam + '/*':<24} {len(names)} folds ({names[0]} .. {names[-1]})")
            else:
                tr, te = s["protocols"][names[0]]
                typer.echo(f"  {names[0]:<24} {tr:>5} / {te:<5}")
    typer.echo(f"\nfaults: {len(ds.faults)}")
    for f in ds.faults:
        typer.echo(f"  - {f}")


@app.command("formats")
def formats() -> None:
    """List the dataset formats posenas reads (the names `--format` takes)."""
    from posenas.datasets.registry import available_loaders

    specs = available_loaders()
    width = max(len(n) for n in specs)
    for name in sorted(specs):
        typer.echo(f"{name:<{width}}  {specs[name].description}")
