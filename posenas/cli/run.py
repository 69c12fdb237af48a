"""`posenas run VIDEO -o OUT/`: the whole pipeline on one video or photo, video -> 2D -> 3D -> action.

Writes what `posenas lift` writes (npz, Parquet, summary JSON, the rendered H.264 mp4 or PNG) plus
`OUT/<name>.actions.json`, and draws each person's label and top probabilities into the rendered video.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import typer

from posenas.cli import _checks


def _config_file(value: Optional[Path]) -> Optional[Path]:
    """Validate --config while the command line is parsed, before any model loads."""
    if value is None:
        return None
    from posenas.errors import DataFormatError
    from posenas.platform.pipeline_config import load_pipeline_config

    try:
        load_pipeline_config(value)
    except DataFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    return value


def run_command(
    video: Optional[Path] = typer.Argument(None, help="Video file (mp4, avi, mov, ...) or a photo (jpg, png)."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", callback=_checks.output_dir,
                                       help="Output folder (created)."),
    config: Optional[Path] = typer.Option(None, "--config", callback=_config_file,
                                          help="Pipeline config YAML (see --print-config); default: offline defaults."),
    lifter: Optional[Path] = typer.Option(None, "--lifter", exists=True, dir_okay=False,
                                          help="Lifter checkpoint (.pt); overrides the config."),
    action_model: Optional[Path] = typer.Option(None, "--action-model", exists=True, dir_okay=False,
                                                help="Action classifier checkpoint (.pt); overrides the config."),
    top_k: int = typer.Option(5, "--top-k", min=1, max=100, help="Classes listed per person."),
    no_render: bool = typer.Option(False, "--no-render", help="Skip the rendered video."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the default pipeline config as YAML and exit."),
) -> None:
    """Detect, track, lift and classify the people in a video; print and write their action labels."""
    from posenas.platform.pipeline import Pipeline, run_to_files
    from posenas.platform.pipeline_config import load_pipeline_config

    if print_config:
        typer.echo(load_pipeline_config(config).to_yaml(), nl=False)
        return
    if video is None or out is None:
        raise typer.BadParameter("give a VIDEO and -o/--out (or --print-config)", param_hint="VIDEO / --out")
    from posenas.core.video import probe_video

    probe_video(video)  # a missing or corrupt file is one line, before any model loads
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ info lines
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_pipeline_config(config).model_dump()
    if lifter is not None:
        cfg["lifter"]["checkpoint"] = str(lifter)
    if action_model is not None:
        cfg["classifier"]["checkpoint"] = str(action_model)
    cfg["classifier"]["top_k"] = top_k
    pipe = Pipeline.from_config(cfg)
    _ = pipe.encoder  # load the action model and check its pose space before detection runs
    out_files = run_to_files(pipe, video, out, classify=True, render=not no_render, progress=True)
    res = out_files["result"]
    typer.echo(f"{res.num_frames} frames, {res.pose_3d.shape[1]} person track(s); models: "
               + ", ".join(f"{k} {v}" for k, v in res.models.items()))
    if not res.actions:
        typer.echo("no person was seen long enough to classify")
    for a in res.actions:
        who = a.track_id if a.track_id is not None else a.person
        typer.echo(f"person {who}: {a.label} ({a.probability:.1%}); "
                   + ", ".join(f"{c} {p:.1%}" for c, p in a.top_k[1:]))
    if "render_error" in res.stats:
        typer.secho(f"warning: rendering failed: {res.stats['render_error']}", err=True, fg=typer.colors.YELLOW)
    for kind, path in out_files["paths"].items():
        typer.echo(f"{kind:8s} {path}")
