"""`posenas models list`: the shipped checkpoints and any the user names, with what they record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Model checkpoints: list the shipped ones and your own.", no_args_is_help=True,
                  add_completion=False)


def _checkpoints(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        found += sorted(p.rglob("*.pt")) if p.is_dir() else [p]
    return found


@app.command("list")
def list_models(
    paths: Optional[list[Path]] = typer.Argument(None, exists=True,
                                                 help="Your checkpoint files or folders (searched for *.pt)."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Shipped models (posenas/assets) first, then the files you give: id, kind, family, space, metrics."""
    from posenas.core.checkpoint import read_checkpoint
    from posenas.errors import DataFormatError

    assets = Path(__file__).resolve().parents[1] / "assets"
    rows = []
    for origin, files in (("shipped", sorted(assets.rglob("*.pt"))), ("user", _checkpoints(list(paths or [])))):
        for f in files:
            try:
                rec = read_checkpoint(f).records()
            except DataFormatError as exc:
                rows.append({"origin": origin, "path": str(f), "error": exc.reason})
                continue
            rows.append({"origin": origin, "path": str(f), **{k: rec[k] for k in (
                "name", "kind", "family", "layout", "space", "classes", "metrics", "data", "parameters")}})
    if as_json:
        typer.echo(json.dumps(rows, indent=1, default=str))
        return
    for r in rows:
        if "error" in r:
            typer.echo(f"{r['origin']:8s} {r['path']}: not usable ({r['error']})")
            continue
        space = (r["space"] or {}).get("name", "?")
        classes = f", {len(r['classes'])} classes" if r["classes"] else ""
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in (r["metrics"] or {}).items() if isinstance(v, float))
        typer.echo(f"{r['origin']:8s} {r['name']:28s} {r['kind']:10s} {r['family']:10s} space={space}{classes}"
                   f"  {metrics}\n         {r['path']}")
