"""`posenas train`: train a found genotype from scratch, one Ray Tune trial per seed.

Options are checked while parsing and the genotype file is read before Ray starts, so a bad value or
file fails in one line before any training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from posenas.cli import _checks
from posenas.cli.search import (COPIES_HELP, ENCODING_HELP, ENDPOINT_HELP, JOINT_MOTION_HELP, JOINT_ROWS_HELP,
                                JOINT_SCALE_HELP, ROTATE_DEG_HELP, SPACE_HELP, STORAGE_HELP)
from posenas.search.data import DEFAULT_COPIES, DEFAULT_EPOCHS, DEFAULT_ROTATE_DEG


SEARCHED = " Default: the genotype's search's."


def train(
    genotype: Path = typer.Option(..., "--genotype", exists=True, dir_okay=False,
                                  help="Genotype JSON written by `posenas search`."),
    dataset: Path = typer.Option(..., "--dataset", exists=True),
    format: str = typer.Option("msr_action3d", "--format", callback=_checks.registry_name(_checks.known_format)),
    protocol: str = typer.Option("cross_subject", "--protocol"),
    option: list[str] = typer.Option([], "--option", "-O", callback=_checks.loader_options,
                                      help=_checks.LOADER_OPTION_HELP + " Default: the search's, for the same --format."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Independent trainings (parallel Tune trials)."),
    epochs: int = typer.Option(DEFAULT_EPOCHS, "--epochs", min=1,
                               help="Training epochs (the action benchmark's budget)."),
    channels: Optional[int] = typer.Option(None, "--channels", min=1, help="Default: the search's (from the JSON meta) or 16."),
    cells: Optional[int] = typer.Option(None, "--cells", min=1, help="Normal cells per block; default: the search's or 1."),
    storage_path: str = typer.Option("posenas_results", "--storage-path", "--out", "-o",
                                     callback=_checks.output_dir, help=STORAGE_HELP),
    storage_endpoint: Optional[str] = typer.Option(None, "--storage-endpoint", help=ENDPOINT_HELP),
    name: Optional[str] = typer.Option(None, "--name"),
    address: Optional[str] = typer.Option(None, "--address"),
    augment_train: int = typer.Option(DEFAULT_COPIES, "--augment-train", min=0,
                                      help=COPIES_HELP + " Not taken from the search."),
    rotate_deg: float = typer.Option(
        DEFAULT_ROTATE_DEG, "--rotate-deg", min=0.0, max=180.0, help=ROTATE_DEG_HELP + " Not taken from the search."),
    val_fraction: Optional[float] = typer.Option(
        None, "--val-fraction", callback=_checks.fraction_open,
        help="With --select-on-val: share of the training subjects held out to pick the epoch (0 < f < 1; default 0.2)."),
    train_on_val: bool = typer.Option(
        True, "--train-on-val/--select-on-val",
        help="Default: train on every training subject, the search's validation subjects too, for exactly --epochs "
             "and keep the last epoch (the action benchmark's rows: it beat epoch selection on every model it was "
             "tried on). --select-on-val: hold out --val-fraction of them and keep the best-validation epoch."),
    poses: Literal["dataset", "lifted"] = typer.Option(
        "dataset", "--poses", help="dataset: the dataset's own 3D; lifted: its real 2D lifted by the pipeline's "
                                   "lifter, the poses `posenas run` feeds the model (MSR: the screen files)."),
    lifter: Optional[Path] = typer.Option(None, "--lifter", exists=True, dir_okay=False,
                                          help="Lifter checkpoint for --poses lifted (default: the shipped one)."),
    space: Optional[Literal["canonical", "canonical_traj", "native", "body", "body3d"]] = typer.Option(
        None, "--space", help=SPACE_HELP + " Given a genotype from `posenas search`: the search's space by default."),
    encoding: Optional[Literal["enhanced_spmf", "spmf", "joints"]] = typer.Option(
        None, "--encoding", help=ENCODING_HELP + " Default: the images the genotype was searched on (enhanced_spmf "
                                                 "if its JSON does not say)."),
    joint_scale: Optional[Literal["per_axis", "isotropic"]] = typer.Option(
        None, "--joint-scale", help=JOINT_SCALE_HELP + SEARCHED),
    joint_rows: Optional[Literal["index", "tree"]] = typer.Option(
        None, "--joint-rows", help=JOINT_ROWS_HELP + SEARCHED),
    joint_motion: Optional[bool] = typer.Option(
        None, "--joint-motion/--no-joint-motion", help=JOINT_MOTION_HELP + SEARCHED),
) -> None:
    """Train a genotype from scratch (one Tune trial per seed) and report test accuracy per seed."""
    from posenas.search import api
    from posenas.search.data import (DataSpec, augment_options, default_space, image_options, load_splits,
                                     searched_images, searched_loader_options)
    from posenas.platform.classification.genotype import load_genotype
    from posenas.platform.classification.cellnet import NetConfig
    from posenas.platform.encoding.spmf import EncodingConfig

    if train_on_val and val_fraction is not None:
        raise typer.BadParameter("--val-fraction needs --select-on-val (the default trains on train+val, "
                                 "nothing is held out)", param_hint="'--val-fraction'")
    default_space(poses, space)  # an option lifted poses cannot take fails before any file is read
    given = image_options(encoding, joint_scale, joint_rows, joint_motion)  # likewise a joint option on a pair image
    given_options = _checks.parse_loader_options(format, option)  # and an option the loader does not take
    g, meta = load_genotype(genotype)  # a small JSON: read before the dataset, so its errors come first
    space, encoding_fields = searched_images(meta, poses, space, given)
    options = searched_loader_options(meta, format, given_options)
    enc = EncodingConfig.from_dict(encoding_fields)  # the search's record and the options, checked together
    joint = "" if enc.encoding != "joints" else (f" (scale {enc.joint_scale}, rows {enc.joint_rows}, "
                                                 f"motion {'on' if enc.joint_motion else 'off'})")
    loader = "".join(f", {k}={v}" for k, v in options.items())
    typer.echo(f"images: space {space}, encoding {enc.encoding}{joint}{loader}")
    net_meta = meta.get("search_config", {}).get("net", {}) if isinstance(meta.get("search_config"), dict) else {}
    net = NetConfig(**{**net_meta, "num_nodes": g.num_nodes})
    if channels is not None:
        net.channels = channels
    if cells is not None:
        net.cells_per_block = cells
    held_out = 0.0 if train_on_val else val_fraction  # None: DataSpec's default share
    spec = DataSpec(str(dataset.expanduser().resolve()), format, protocol, augment_train,
                    **({} if held_out is None else {"val_fraction": held_out}),
                    encoding=encoding_fields, poses=poses, lifter=None if lifter is None else str(lifter.resolve()), space=space,
                    loader_options=options, augment=augment_options(rotate_deg))
    splits = load_splits(spec)
    outcome = api.train_genotype(g, splits, spec, net, {"epochs": epochs}, storage_path, name or f"train_{genotype.stem}", seeds, address,
                                 storage_endpoint=storage_endpoint)
    for r in outcome.per_seed:
        val = "-" if r["val_acc"] is None else f"{r['val_acc']:.3f}"
        typer.echo(f"seed {r['seed']}: val acc {val}  test acc {r['test_acc']:.3f}  ({r['params']} params, {r['train_seconds']:.0f}s)")
    accs = outcome.test_accs
    mean = sum(accs) / len(accs)
    std = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
    kept = "first seed's checkpoint (no validation split)" if train_on_val else "best-val checkpoint"
    typer.echo(f"test acc {mean:.3f} +- {std:.3f} over {len(accs)} seeds; {kept}: {outcome.best_checkpoint}")
