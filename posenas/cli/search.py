"""`posenas search`: an ENAS (or random-baseline) search hosted on Ray Tune.

Every option is checked while the command line is parsed (ranges, names, the output folder), so a bad
value fails in one line before the data loads or Ray starts. Heavy imports (torch, ray) happen inside
the command so `posenas --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from posenas.cli import _checks
from posenas.search.data import DEFAULT_COPIES, DEFAULT_EPOCHS, DEFAULT_IMAGE, DEFAULT_ROTATE_DEG

STORAGE_HELP = "Results folder or cloud URI (s3://, gs://); -o/--out are the same option."
SPACE_HELP = ("Pose space of the action images: canonical (body frame, per-frame pelvis root: what the "
              "Pipeline feeds), canonical_traj (body frame, the body's path kept), native (the dataset's axes), "
              "body (the dataset's own joints, body-centred, unit torso, turned about the vertical to face +z), "
              "body3d (the same, fully rotated to the body frame like canonical_traj). "
              "Default: canonical for --poses lifted, else posenas.search.data.DEFAULT_DATASET_SPACE.")
ENCODING_HELP = ("Action image: enhanced_spmf (joint-pair distances and orientations of pose and motion, then "
                 "CLAHE: the paper's), spmf (the same without CLAHE), joints (joint coordinates x frames as RGB).")
JOINT_SCALE_HELP = ("Joint image only: per_axis (each of x, y, z min-max normalised on its own, as Du et al.) or "
                    "isotropic (one scale for all three axes, so a narrow depth range is not stretched).")
JOINT_ROWS_HELP = ("Joint image only: index (one row per joint, the layout's order) or tree (the walk of the kinematic "
                   "tree that comes back along every bone: neighbouring rows are joined by a bone).")
JOINT_MOTION_HELP = "Joint image only: add per-frame velocity rows under the position rows."
COPIES_HELP = "Random copies of each training sequence (rotation, scale, time crop)."
ROTATE_DEG_HELP = "Rotation range of the training copies about the up axis, +- degrees."
ENDPOINT_HELP = "S3-compatible store for an s3:// storage path (MinIO, Ceph, ...): http(s)://host:port."


def search(
    dataset: Path = typer.Option(..., "--dataset", exists=True, help="Dataset root (e.g. .../msr_action3d)."),
    format: str = typer.Option("msr_action3d", "--format", callback=_checks.registry_name(_checks.known_format),
                               help="Loader name (see `posenas data formats`)."),
    protocol: str = typer.Option("cross_subject", "--protocol", help="cross_subject, AS1, AS2, AS3, ..."),
    option: list[str] = typer.Option([], "--option", "-O", callback=_checks.loader_options,
                                      help=_checks.LOADER_OPTION_HELP),
    epochs: int = typer.Option(8, "--epochs", min=1, help="Search epochs (shared-weight + controller phases)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Child-worker actors per search trial (0: train in the trial)."),
    gpus_per_worker: float = typer.Option(0.0, "--gpus-per-worker", min=0.0, help="GPUs per child worker (cluster: 1)."),
    channels: int = typer.Option(16, "--channels", min=1, help="Initial channels of the cell network."),
    cells: int = typer.Option(1, "--cells", min=1, help="Normal cells per block (N)."),
    nodes: int = typer.Option(4, "--nodes", min=1, help="Nodes per cell (B)."),
    method: Literal["enas", "random"] = typer.Option(
        "enas", "--method", help="enas, or random (random search with weight sharing)."),
    storage_path: str = typer.Option("posenas_results", "--storage-path", "--out", "-o",
                                     callback=_checks.output_dir, help=STORAGE_HELP),
    name: Optional[str] = typer.Option(None, "--name", help="Experiment name (default: <method>_<dataset>_<protocol>)."),
    storage_endpoint: Optional[str] = typer.Option(None, "--storage-endpoint", help=ENDPOINT_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted search from its last checkpoint."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address, e.g. auto."),
    hpo_samples: int = typer.Option(1, "--hpo-samples", min=1, help=">1: ASHA over controller lr, entropy weight, child lr."),
    final_seeds: int = typer.Option(0, "--final-seeds", min=0, help="Also retrain the result from scratch with this many seeds."),
    train_epochs: int = typer.Option(DEFAULT_EPOCHS, "--train-epochs", min=1,
                                     help="Epochs of the from-scratch training (with --final-seeds)."),
    augment_train: int = typer.Option(
        DEFAULT_COPIES, "--augment-train", min=0,
        help=COPIES_HELP + " For the search's child training and, with --final-seeds, the from-scratch training."),
    rotate_deg: float = typer.Option(DEFAULT_ROTATE_DEG, "--rotate-deg", min=0.0, max=180.0, help=ROTATE_DEG_HELP),
    val_fraction: float = typer.Option(
        0.2, "--val-fraction", callback=_checks.fraction_open,
        help="Share of the training subjects held out to rank children on (never the test split); a larger share "
             "ranks on more sequences and trains the shared weights on fewer."),
    train_on_val: bool = typer.Option(
        True, "--train-on-val/--select-on-val",
        help="With --final-seeds: train on train+val for exactly --train-epochs, last epoch kept (default, as "
             "`posenas train`), or keep the best-validation epoch."),
    seed: int = typer.Option(0, "--seed"),
    reward: Literal["val_acc", "val_likelihood"] = typer.Option(
        "val_acc", "--reward", help="The ENAS controller's reward on a validation minibatch: val_acc (its accuracy, "
                                    "as in ENAS) or val_likelihood (exp(-cross-entropy): no ties between children)."),
    warmup_epochs: int = typer.Option(
        0, "--warmup-epochs", min=0,
        help="First search epochs that train the shared weights on uniformly drawn children, with no controller "
             "steps (ENAS; must be < --epochs): convolutions get trained before the controller compares them."),
    max_param_free: int = typer.Option(
        4, "--max-param-free", min=0,
        help="At most this many parameter-free ops (pooling, identity) per cell of 2 x --nodes ops, in every child "
             "the search samples (ENAS and random); 2 x --nodes or more: no cap."),
    poses: Literal["dataset", "lifted"] = typer.Option(
        "dataset", "--poses", help="dataset: the dataset's own 3D; lifted: its real 2D lifted by the pipeline's "
                                   "lifter, the poses `posenas run` feeds the model (MSR: the screen files)."),
    space: Optional[Literal["canonical", "canonical_traj", "native", "body", "body3d"]] = typer.Option(None, "--space", help=SPACE_HELP),
    encoding: Literal["enhanced_spmf", "spmf", "joints"] = typer.Option(
        DEFAULT_IMAGE["encoding"], "--encoding", help=ENCODING_HELP),
    joint_scale: Optional[Literal["per_axis", "isotropic"]] = typer.Option(
        None, "--joint-scale", help=JOINT_SCALE_HELP + f" Default: {DEFAULT_IMAGE['joint_scale']}."),
    joint_rows: Optional[Literal["index", "tree"]] = typer.Option(
        None, "--joint-rows", help=JOINT_ROWS_HELP + f" Default: {DEFAULT_IMAGE['joint_rows']}."),
    joint_motion: Optional[bool] = typer.Option(
        None, "--joint-motion/--no-joint-motion",
        help=JOINT_MOTION_HELP + f" Default: {'on' if DEFAULT_IMAGE['joint_motion'] else 'off'}."),
) -> None:
    """Run an ENAS search hosted on Ray Tune; writes the genotype JSON and a report (PNG plots)."""
    from posenas.search import api
    from posenas.search.controller import ControllerConfig
    from posenas.search.data import augment_options, default_image, image_options
    from posenas.search.enas import SearchConfig
    from posenas.search.tune_search import validate_search
    from posenas.platform.classification.cellnet import NetConfig

    sc = SearchConfig(
        epochs=epochs, workers=workers, gpus_per_worker=gpus_per_worker, seed=seed, reward=reward,
        warmup_epochs=warmup_epochs, max_param_free=max_param_free,
        net=NetConfig(channels=channels, cells_per_block=cells, num_nodes=nodes), controller=ControllerConfig(),
    )
    validate_search(sc, method, hpo_samples)
    image = default_image(image_options(encoding, joint_scale, joint_rows, joint_motion))  # a bad mix fails here
    options = _checks.parse_loader_options(format, option)  # likewise an option the loader does not take
    common = dict(format=format, protocol=protocol, search_config=sc, storage_path=storage_path, name=name,
                  method=method, address=address, resume=resume, hpo_samples=hpo_samples,
                  storage_endpoint=storage_endpoint, space=space, poses=poses,
                  encoding=image, loader_options=options, augment_train=augment_train,
                  augment=augment_options(rotate_deg), val_fraction=val_fraction)
    if final_seeds > 0:
        result = api.search_and_train(dataset, train_config={"epochs": train_epochs}, seeds=final_seeds,
                                      train_on_val=train_on_val, **common)
    else:
        result = api.search_only(dataset, **common)[0]
    typer.echo(result.genotype.describe())
    typer.echo(f"shared-weight val acc of the derived child: {result.shared_val_acc:.3f} ({result.child_steps} child steps, {result.search_seconds:.0f}s)")
    for key, path in result.report.items():
        typer.echo(f"{key}: {path}")
    if result.test_accs:
        val = "- (trained on train+val)" if result.val_acc is None else f"{result.val_acc:.3f}"
        typer.echo(f"from scratch: val acc {val}, test acc {result.test_acc:.3f} (seeds: {', '.join(f'{a:.3f}' for a in result.test_accs)})")
        typer.echo(f"best checkpoint: {result.best_checkpoint}")
    else:
        typer.echo(f"next: posenas train --genotype {result.genotype_path} --dataset {dataset}")
