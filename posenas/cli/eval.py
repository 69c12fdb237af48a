"""`posenas eval`: test accuracy, per-class accuracy and confusion of a trained child network.

The checkpoint must exist and the --json path be writable before anything loads; a corrupt, empty or
foreign checkpoint is a DataFormatError, printed as one line by `posenas.cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from posenas.cli import _checks


def evaluate(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", exists=True,
                                    help="A training trial's checkpoint dir or its model.pt."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", exists=True,
                                           help="Dataset root (default: the one it was trained on)."),
    format: Optional[str] = typer.Option(None, "--format", callback=_checks.registry_name(_checks.known_format)),
    protocol: Optional[str] = typer.Option(None, "--protocol"),
    json_out: Optional[Path] = typer.Option(None, "--json", "--out", "-o", callback=_checks.output_file,
                                            help="Also write the full result as JSON (-o/--out are the same)."),
) -> None:
    """Test accuracy, per-class accuracy and the confusion matrix of a trained child network."""
    import numpy as np

    from posenas.search.api import evaluate_checkpoint

    r = evaluate_checkpoint(checkpoint, dataset, format, protocol)
    typer.echo(f"test accuracy: {r['accuracy']:.4f} on {r['num_samples']} sequences")
    for name, acc in zip(r["classes"], np.asarray(r["per_class"], dtype=float)):
        typer.echo(f"  {name:<24} {acc:.3f}")
    conf = np.asarray(r["confusion"], dtype=int)
    typer.echo("confusion (rows: true, columns: predicted):")
    for row in conf:
        typer.echo("  " + " ".join(f"{v:3d}" for v in row))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({k: (np.asarray(v).tolist() if k in ("per_class", "confusion") else v) for k, v in r.items()}, indent=1))
