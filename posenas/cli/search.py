"""`posenas search`, `posenas train`, `posenas eval`: ENAS on Ray Tune from the command line.

Heavy imports (torch, ray) happen inside the commands so `posenas --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def search(
    dataset: Path = typer.Option(..., "--dataset", help="Dataset root (e.g. .../msr_action3d)."),
    format: str = typer.Option("msr_action3d", "--format", help="Loader name (see `posenas data formats`)."),
    protocol: str = typer.Option("cross_subject", "--protocol", help="cross_subject, AS1, AS2, AS3, ..."),
    epochs: int = typer.Option(20, "--epochs", help="Search epochs (shared-weight + controller phases)."),
    workers: int = typer.Option(0, "--workers", help="Child-worker actors per search trial (0: train in the trial)."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", help="GPUs per child worker (cluster: 1)."),
    channels: int = typer.Option(16, "--channels", help="Initial channels of the cell network."),
    cells: int = typer.Option(1, "--cells", help="Normal cells per block (N)."),
    nodes: int = typer.Option(4, "--nodes", help="Nodes per cell (B)."),
    method: str = typer.Option("enas", "--method", help="enas, or random (random search with weight sharing)."),
    storage_path: str = typer.Option("posenas_results", "--storage-path", help="Local dir or cloud URI for results."),
    name: Optional[str] = typer.Option(None, "--name", help="Experiment name (default: <method>_<dataset>_<protocol>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted search from its last checkpoint."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address, e.g. auto."),
    hpo_samples: int = typer.Option(1, "--hpo-samples", help=">1: ASHA over controller lr, entropy weight, child lr."),
    final_seeds: int = typer.Option(0, "--final-seeds", help="Also retrain the result from scratch with this many seeds."),
    train_epochs: int = typer.Option(60, "--train-epochs", help="Epochs of the from-scratch training (with --final-seeds)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Run an ENAS search hosted on Ray Tune; writes the genotype JSON and a report (PNG plots)."""
    from posenas.search import api
    from posenas.search.controller import ControllerConfig
    from posenas.search.enas import SearchConfig
    from posenas.platform.classification.cellnet import NetConfig

    sc = SearchConfig(
        epochs=epochs, workers=workers, gpus_per_worker=gpus_per_worker, seed=seed,
        net=NetConfig(channels=channels, cells_per_block=cells, num_nodes=nodes), controller=ControllerConfig(),
    )
    common = dict(format=format, protocol=protocol, search_config=sc, storage_path=storage_path, name=name,
                  method=method, address=address, resume=resume, hpo_samples=hpo_samples)
    if final_seeds > 0:
        result = api.search_and_train(dataset, train_config={"epochs": train_epochs}, seeds=final_seeds, **common)
    else:
        result = api.search_only(dataset, **common)[0]
    typer.echo(result.genotype.describe())
    typer.echo(f"shared-weight val acc of the derived child: {result.shared_val_acc:.3f} ({result.child_steps} child steps, {result.search_seconds:.0f}s)")
    for key, path in result.report.items():
        typer.echo(f"{key}: {path}")
    if result.test_accs:
        typer.echo(f"from scratch: val acc {result.val_acc:.3f}, test acc {result.test_acc:.3f} (seeds: {', '.join(f'{a:.3f}' for a in result.test_accs)})")
        typer.echo(f"best checkpoint: {result.best_checkpoint}")
    else:
        typer.echo(f"next: posenas train --genotype {result.genotype_path} --dataset {dataset}")


def train(
    genotype: Path = typer.Option(..., "--genotype", help="Genotype JSON written by `posenas search`."),
    dataset: Path = typer.Option(..., "--dataset"),
    format: str = typer.Option("msr_action3d", "--format"),
    protocol: str = typer.Option("cross_subject", "--protocol"),
    seeds: int = typer.Option(3, "--seeds", help="Independent trainings (parallel Tune trials)."),
    epochs: int = typer.Option(60, "--epochs"),
    channels: Optional[int] = typer.Option(None, "--channels", help="Default: the search's (from the JSON meta) or 16."),
    cells: Optional[int] = typer.Option(None, "--cells", help="Normal cells per block; default: the search's or 1."),
    storage_path: str = typer.Option("posenas_results", "--storage-path"),
    name: Optional[str] = typer.Option(None, "--name"),
    address: Optional[str] = typer.Option(None, "--address"),
    augment_train: int = typer.Option(4, "--augment-train"),
    val_fraction: float = typer.Option(0.2, "--val-fraction"),
) -> None:
    """Train a genotype from scratch (one Tune trial per seed) and report test accuracy per seed."""
    from posenas.search import api
    from posenas.search.data import DataSpec, load_splits
    from posenas.platform.classification.genotype import load_genotype
    from posenas.platform.classification.cellnet import NetConfig

    g, meta = load_genotype(genotype)
    net_meta = meta.get("search_config", {}).get("net", {}) if isinstance(meta.get("search_config"), dict) else {}
    net = NetConfig(**{**net_meta, "num_nodes": g.num_nodes})
    if channels is not None:
        net.channels = channels
    if cells is not None:
        net.cells_per_block = cells
    spec = DataSpec(str(dataset.expanduser().resolve()), format, protocol, augment_train, val_fraction)
    splits = load_splits(spec)
    outcome = api.train_genotype(g, splits, spec, net, {"epochs": epochs}, storage_path, name or f"train_{genotype.stem}", seeds, address)
    for r in outcome.per_seed:
        typer.echo(f"seed {r['seed']}: val acc {r['val_acc']:.3f}  test acc {r['test_acc']:.3f}  ({r['params']} params, {r['train_seconds']:.0f}s)")
    accs = outcome.test_accs
    mean = sum(accs) / len(accs)
    std = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
    typer.echo(f"test acc {mean:.3f} +- {std:.3f} over {len(accs)} seeds; best-val checkpoint: {outcome.best_checkpoint}")


def evaluate(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A training trial's checkpoint dir or its model.pt."),
    dataset: Optional[Path] = typer.Option(None, "--dataset", help="Dataset root (default: the one it was trained on)."),
    format: Optional[str] = typer.Option(None, "--format"),
    protocol: Optional[str] = typer.Option(None, "--protocol"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the full result as JSON."),
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
        json_out.write_text(json.dumps({k: (np.asarray(v).tolist() if k in ("per_class", "confusion") else v) for k, v in r.items()}, indent=1))
