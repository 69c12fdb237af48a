"""`posenas lift ...`: train and evaluate 2D->3D lifters, and `posenas lift VIDEO -o OUT/` for video.

The group dispatches a first argument that is not a sub-command name (a video path) to the video
command, so the common case needs no extra word. torch and the data loaders are imported inside the
commands to keep `posenas --help` fast.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Literal, Optional

import typer
from typer.core import TyperGroup

from posenas.errors import PosenasError, UnknownNameError
from posenas.cli import _checks

VIDEO_COMMAND = "video"
LIFTER_DATASETS = ("cmu", "msr", "h36m")  # what posenas.platform.lifting.data.load_source reads


def _known_dataset(name: str) -> None:
    if name not in LIFTER_DATASETS:
        raise UnknownNameError("lifter dataset", name, LIFTER_DATASETS)


_datasets = _checks.registry_name(_known_dataset)


class LiftGroup(TyperGroup):
    """A group whose unknown first argument (not an option) is treated as a video path for `video`."""

    def resolve_command(self, ctx, args: list[str]):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            cmd = self.commands.get(VIDEO_COMMAND)
            if cmd is None:
                raise PosenasError(
                    f"{args[0]!r} is not a lift sub-command ({', '.join(sorted(self.commands))}) and the video "
                    "command is unavailable (posenas.cli.lift.lift_video_command is missing)")
            return VIDEO_COMMAND, cmd, args
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LiftGroup,
    help="2D->3D lifting: `lift VIDEO -o OUT/` lifts a video; `lift train` / `lift eval` train and measure lifters.",
    no_args_is_help=True,
    add_completion=False,
)

def _layout_option(layout: str) -> Optional[str]:
    return None if layout == "native" else layout


def _known_layout_or_native(name: str) -> None:
    if name != "native":
        _checks.known_layout(name)


def lift_video_command(
    video: Path = typer.Argument(..., exists=True, dir_okay=False,
                                 help="Video file (mp4, avi, mov, ...) or a photo (jpg, png)."),
    out: Path = typer.Option(..., "-o", "--out", callback=_checks.output_dir, help="Output folder (created)."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", "-c", exists=True, dir_okay=False,
        help="Lifter checkpoint (.pt); default: the shipped CMU-trained lifter."),
    detector: Literal["mediapipe", "mediapipe_legacy", "precomputed"] = typer.Option(
        "mediapipe", "--detector", help="2D detector: mediapipe (several people), mediapipe_legacy (one), precomputed."),
    keypoints: Optional[Path] = typer.Option(
        None, "--keypoints", exists=True,
        help="Precomputed 2D keypoints (OpenPose JSON folder, COCO JSON, posenas npz/Parquet)."),
    layout: str = typer.Option(
        "h36m17", "--layout", callback=_checks.registry_name(_known_layout_or_native),
        help="Layout of the written 2D keypoints: h36m17 | coco17 | native (the detector's)."),
    no_render: bool = typer.Option(False, "--no-render", help="Skip the side-by-side mp4."),
) -> None:
    """Detect the person in a video, lift to 3D and write npz + Parquet (+ a rendered mp4)."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ info lines
    from posenas.platform.pipeline import lift_video

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = {}
    if detector == "precomputed":
        if keypoints is None:
            raise typer.BadParameter("--detector precomputed needs --keypoints FILE|DIR", param_hint="'--keypoints'")
        options["path"] = keypoints
    elif keypoints is not None:
        detector, options = "precomputed", {"path": keypoints}
    _checks.check_layout_for_detector(detector, _layout_option(layout))
    result = lift_video(video, out, detector=detector, lifter=checkpoint, render=not no_render,
                        keypoint_layout=_layout_option(layout), progress=True, detector_options=options)
    stats = result["stats"]
    typer.echo(f"{stats['frames']} frames, {stats['frames_without_person']} without a person"
               + (f", gaps filled (frames): {stats['gap_lengths']}" if stats["gap_lengths"] else ""))
    for kind, path in result["paths"].items():
        typer.echo(f"{kind:8s} {path}")
    if stats.get("render_error"):  # the pipeline kept the keypoint files and wrote the summary
        raise PosenasError(f"{video}: rendering failed ({stats['render_error']}); the keypoint files and "
                           f"{result['paths']['summary']} are written; --no-render skips the video")



app.command(VIDEO_COMMAND, help="Lift the people in a video to 3D (same as `posenas lift VIDEO`).")(lift_video_command)


def _load_data(datasets: list[str], paths: list[Path], path_2d: Optional[Path], fps: float,
               max_sequences: Optional[int], extrinsics: Optional[Path] = None):
    from posenas.platform.lifting.data import LifterData, load_source

    if not datasets:
        raise PosenasError("give at least one --dataset with its --path")
    if len(datasets) != len(paths):
        raise PosenasError(f"{len(datasets)} --dataset but {len(paths)} --path options; give one --path per --dataset")
    data = LifterData()
    for name, path in zip(datasets, paths):
        opts: dict = {"max_sequences": max_sequences}
        if name == "cmu":
            opts["fps"] = fps
        if name == "h36m":
            opts["path_2d"], opts["extrinsics"] = path_2d, extrinsics
        typer.echo(f"loading {name} from {path} ...", err=True)
        data.extend(load_source(name, path, **opts))
    return data


def _widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise PosenasError(f"--filter-widths: expected comma-separated odd integers like 3,3,3, got {text!r}") from None


@app.command("train")
def train_command(
    dataset: list[str] = typer.Option(..., "--dataset", "-d", callback=_datasets,
                                      help="cmu | msr | h36m (repeat with --path to mix)."),
    path: list[Path] = typer.Option(..., "--path", "-p", exists=True, help="Dataset root, one per --dataset."),
    out: Path = typer.Option(..., "--out", "-o", callback=_checks.output_file, help="Checkpoint file to write (.pt)."),
    arch: Literal["two_stream", "pose", "motion"] = typer.Option(
        "two_stream", help="two_stream | pose (Martinez) | motion (VideoPose3D)."),
    path_2d: Optional[Path] = typer.Option(None, "--path-2d", exists=True, help="Human3.6M 2D keypoints npz (h36m only)."),
    extrinsics: Optional[Path] = typer.Option(None, "--extrinsics", exists=True,
                                              help="Human3.6M camera extrinsics JSON (else PnP)."),
    epochs: int = typer.Option(20, min=1, help="Passes over the training data (fresh virtual cameras each)."),
    batch_size: int = typer.Option(64, min=1, help="Training samples per step."),
    chunk: int = typer.Option(16, min=1, help="Output frames per training sample."),
    lr: float = typer.Option(1e-3, min=0.0, help="Adam learning rate."),
    lr_decay: float = typer.Option(0.95, min=0.0, help="Learning-rate factor per epoch."),
    filter_widths: str = typer.Option("3,3,3", help="Motion-stream kernel widths: 3,3,3 = 27 frames, 3,3,3,3 = 81."),
    causal: bool = typer.Option(False, help="Motion stream sees only past frames (live video)."),
    pose_hidden: int = typer.Option(512, min=1, help="Pose-stream width."),
    pose_blocks: int = typer.Option(2, min=0, help="Pose-stream residual blocks."),
    motion_channels: int = typer.Option(256, min=1, help="Motion-stream channels."),
    dropout: float = typer.Option(0.25, min=0.0, max=1.0),
    fusion: Literal["gated", "sum"] = typer.Option("gated", help="gated | sum"),
    input_norm: Literal["centered", "screen"] = typer.Option(
        "centered", help="centered (pose shape + position + size) | screen (raw)."),
    views: int = typer.Option(4, min=1, help="Virtual cameras per motion segment and epoch (3D-only data)."),
    noise_px: float = typer.Option(3.0, min=0.0, help="2D Gaussian noise (pixels) on synthetic inputs."),
    outlier_prob: float = typer.Option(0.02, min=0.0, max=1.0, help="Share of 2D joints moved far away."),
    drop_prob: float = typer.Option(0.03, min=0.0, max=1.0, help="Share of 2D joints dropped (zero, confidence 0)."),
    joint_offsets: float = typer.Option(
        0.0, min=0.0, help="Joint-definition augmentation: scale of JointOffsetConfig's default per-clip offsets of "
                           "hips, shoulders, nose, head, knees, ankles in the 2D input (0 = off, 1 = default ranges)."),
    weight_bone: float = typer.Option(0.0, min=0.0, help="Bone-length loss weight."),
    weight_velocity: float = typer.Option(0.0, min=0.0, help="Velocity loss weight."),
    fps: float = typer.Option(30.0, min=1.0, help="Frame rate the CMU mocap is resampled to."),
    max_sequences: Optional[int] = typer.Option(None, min=1, help="Use only this many training sequences (smoke runs)."),
    max_minutes: Optional[float] = typer.Option(None, min=0.0, help="Stop after the epoch that passes this time."),
    val_every: int = typer.Option(0, min=0, help="Evaluate every N epochs (0: at the end only)."),
    half: bool = typer.Option(False, help="Store weights as float16 (half the file size)."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, min=1, help="torch threads (1 is fastest on a busy 2-core machine)."),
) -> None:
    """Train a lifter and save a checkpoint with its config, data record and held-out metrics."""
    from posenas.platform.lifting.config import JointOffsetConfig, LifterConfig, LifterTrainConfig, NoiseConfig
    from posenas.platform.lifting.evaluate import format_results
    from posenas.platform.lifting.train import save_result, train_lifter

    cfg = LifterConfig(arch=arch, filter_widths=_widths(filter_widths), causal=causal, pose_hidden=pose_hidden,
                       pose_blocks=pose_blocks, motion_channels=motion_channels, dropout=dropout, fusion=fusion,
                       input_norm=input_norm)
    noise = NoiseConfig(sigma_px=noise_px, outlier_prob=outlier_prob, drop_prob=drop_prob,
                        joint_offsets=JointOffsetConfig(scale=joint_offsets) if joint_offsets > 0 else None)
    tcfg = LifterTrainConfig(epochs=epochs, batch_size=batch_size, chunk=chunk, lr=lr, lr_decay=lr_decay,
                             weight_bone=weight_bone, weight_velocity=weight_velocity, views_per_sequence=views,
                             noise=noise, seed=seed, max_minutes=max_minutes, threads=threads)
    data = _load_data(dataset, path, path_2d, fps, max_sequences, extrinsics)
    typer.echo(f"arch={arch} receptive_field={cfg.receptive_field} epochs={epochs}", err=True)
    result = train_lifter(cfg, tcfg, data, progress=True, val_every=val_every,
                          log=lambda line: typer.echo(line, err=True))
    command = "posenas " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    save_result(out, result, data, command=command, half=half)
    typer.echo(format_results(result.metrics))
    typer.echo(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB, {result.parameters} parameters, "
               f"{result.seconds / 60:.1f} min)")


@app.command("eval")
def eval_command(
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", exists=True, dir_okay=False,
                                              help="Checkpoint (default: the shipped one)."),
    dataset: list[str] = typer.Option(..., "--dataset", "-d", callback=_datasets, help="cmu | msr | h36m (repeat with --path)."),
    path: list[Path] = typer.Option(..., "--path", "-p", exists=True, help="Dataset root, one per --dataset."),
    path_2d: Optional[Path] = typer.Option(None, "--path-2d", exists=True, help="Human3.6M 2D keypoints npz (h36m only)."),
    extrinsics: Optional[Path] = typer.Option(None, "--extrinsics", exists=True,
                                              help="Human3.6M camera extrinsics JSON (else PnP)."),
    fps: float = typer.Option(30.0, min=1.0, help="Frame rate the CMU mocap is resampled to."),
    by_group: bool = typer.Option(False, "--by-group", help="Also print a table per action / motion type."),
    json_out: Optional[Path] = typer.Option(None, "--json", "--out", "-o", callback=_checks.output_file,
                                            help="Write the metrics here as JSON (-o/--out are the same)."),
    threads: int = typer.Option(1, min=1, help="torch threads."),
) -> None:
    """Evaluate a checkpoint on the held-out split(s) of the given datasets (MPJPE, P-MPJPE in mm)."""
    import torch

    from posenas.platform.lifting.evaluate import evaluate, format_results
    from posenas.platform.lifting.inference import load_lifter
    from posenas.core.metrics import format_pose_table

    torch.set_num_threads(threads)
    lifter = load_lifter(checkpoint)
    data = _load_data(dataset, path, path_2d, fps, None, extrinsics)
    results = evaluate(lifter.model, lifter.config, data.val, by_group=by_group, progress=True)
    typer.echo(f"checkpoint: {lifter.path} (arch={lifter.config.arch}, receptive field {lifter.receptive_field})")
    typer.echo(format_results(results))
    if by_group:
        for name, r in results.items():
            typer.echo(f"\n{name}\n{format_pose_table(r['table'])}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"checkpoint": str(lifter.path), "results": results}, indent=2))
