"""The Gradio web demo, mounted on the ingress's FastAPI app at /ui (Ray's gradio integration is broken
with Gradio 6). It calls the same `Scorer` as the HTTP API, so the page shows what /v1/score/video answers.

Upload a video (or pick the example), watch the progress, then see: the video with the 2D overlay and
the 3D pose (H.264, plays in the browser), an interactive 3D view with a frame slider, the action label
with a bar plot of class probabilities per person, and npz / Parquet / JSON downloads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from posenas.serve.config import ServeConfig
from posenas.serve.validate import RequestError

log = logging.getLogger(__name__)

COLOURS = ["#e4572e", "#2e86ab", "#76b041", "#f3a712", "#a23b72", "#3b1f2b"]
RESULT_MAX_AGE_S = 3600  # result files older than this are removed at the next run


def default_examples() -> list[str]:
    """The project's sample clip (../shared/data beside the repository, or POSENAS_DATA) when present."""
    root = Path(os.environ.get("POSENAS_DATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")
    clip = root / "pose2sim_multiperson" / "videos" / "cam01.mp4"
    return [str(clip)] if clip.is_file() else []


def pose_figure(pose: np.ndarray | None, frame: int = 0):
    """Plotly 3D skeletons of every person at one frame; camera axes shown as x right, z forward, y up."""
    import plotly.graph_objects as go

    from posenas.core.skeleton import get_layout

    fig = go.Figure()
    if pose is None or pose.size == 0:
        return fig
    lay = get_layout("h36m17")
    t = int(np.clip(frame, 0, pose.shape[0] - 1))
    finite = pose[np.isfinite(pose).all(-1)]
    span = float(np.abs(finite).max()) if finite.size else 1.0
    n = pose.shape[1]
    spacing = 2.2 * span  # root-relative poses all stand at the origin: show the persons side by side
    for p in range(n):
        j = pose[t, p].copy()
        if not np.isfinite(j).all():
            continue
        j[:, 0] += (p - (n - 1) / 2) * spacing
        xs, ys, zs = [], [], []
        for c, par in lay.bones:
            xs += [j[c, 0], j[par, 0], None]
            ys += [j[c, 2], j[par, 2], None]
            zs += [-j[c, 1], -j[par, 1], None]
        col = COLOURS[p % len(COLOURS)]
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line={"width": 6, "color": col},
                                   name=f"person {p}"))
        fig.add_trace(go.Scatter3d(x=j[:, 0], y=j[:, 2], z=-j[:, 1], mode="markers", marker={"size": 3, "color": col},
                                   text=list(lay.joints), showlegend=False, hoverinfo="text"))
    rng = [-span, span]
    half = span + (n - 1) / 2 * spacing
    fig.update_layout(
        title=f"frame {t}" + (" (persons side by side)" if n > 1 else ""), height=460,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        scene={"xaxis": {"range": [-half, half], "title": "x (m)"}, "yaxis": {"range": rng, "title": "z forward (m)"},
               "zaxis": {"range": rng, "title": "up (m)"}, "aspectmode": "manual",
               "aspectratio": {"x": half / span, "y": 1, "z": 1},
               "camera": {"eye": {"x": 1.4, "y": -2.0, "z": 0.9}}})
    return fig


def probability_figure(res: Any, classes: list[str]):
    """Grouped bars: every class's probability, one colour per person."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for a in res.actions:
        fig.add_trace(go.Bar(x=list(classes), y=[float(p) for p in a.probabilities], name=f"person {a.person}",
                             marker_color=COLOURS[a.person % len(COLOURS)]))
    fig.update_layout(barmode="group", height=320, margin={"l": 40, "r": 10, "t": 30, "b": 90},
                      yaxis={"range": [0, 1], "title": "probability"}, xaxis={"tickangle": -45},
                      title="class probabilities per person", legend={"orientation": "h", "y": 1.12})
    return fig


def _clean_old(results: Path) -> None:
    now = time.time()
    for d in results.iterdir():
        try:
            if now - d.stat().st_mtime > RESULT_MAX_AGE_S:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def build_ui(scorer: Any, config: ServeConfig):
    """The demo's Blocks; `scorer` is the ingress's `posenas.serve.app.Scorer`."""
    import gradio as gr

    from posenas.platform.pipeline import write_outputs

    import atexit

    results_root = Path(tempfile.mkdtemp(prefix="posenas-ui-"))  # private (0700), one folder per run
    atexit.register(shutil.rmtree, results_root, ignore_errors=True)
    examples = config.ui.examples if config.ui.examples is not None else default_examples()

    async def run(video: str | None, progress=gr.Progress()):
        if not video:
            raise gr.Error("Upload a video first (or pick the example below).")
        _clean_old(results_root)
        src = Path(video)
        progress(0.05, desc="Decoding the video and detecting 2D poses")
        try:
            det = await scorer.detect_video(src, 0, src.name)
            progress(0.5, desc="Lifting to 3D and classifying the action")
            res = await scorer.score_video(det)
        except RequestError as e:
            raise gr.Error(f"Cannot process this upload: {e.message}") from None
        classes = await scorer.classes()
        progress(0.8, desc="Rendering the overlay video")
        out = Path(tempfile.mkdtemp(dir=results_root))
        paths = await asyncio.to_thread(write_outputs, res, src, out)
        (out / f"{res.clip_id}.result.json").write_text(json.dumps(scorer.to_json(res, 0, arrays=True)))
        acts = res.actions
        label = {n: float(p) for n, p in acts[0].top_k} if acts else {"nobody detected": 1.0}
        summary = "\n".join(f"- person {a.person}: **{a.label}** ({a.probability:.0%})" for a in acts)
        progress(1.0, desc="Done")
        pose = res.pose_3d
        downloads = [str(paths[k]) for k in ("npz", "parquet") if k in paths] + [str(out / f"{res.clip_id}.result.json")]
        return (str(paths["video"]) if "video" in paths else None, label, probability_figure(res, classes),
                pose_figure(pose, 0), gr.update(maximum=max(1, pose.shape[0] - 1), value=0, interactive=True), pose,
                downloads, summary or "Nobody was detected in this video.")

    with gr.Blocks(title="posenas demo", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# posenas: video → 3D pose → action\nUpload a video of people moving; the server "
                    "detects 2D keypoints, lifts them to 3D and classifies each person's action.")
        pose_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                video_in = gr.Video(label="Input video", sources=["upload"], include_audio=True, height=360,
                                    elem_id="video-in")
                run_btn = gr.Button("Run", variant="primary", elem_id="run")
                if examples:
                    gr.Examples(examples=[[e] for e in examples], inputs=[video_in], label="Example clip")
            with gr.Column(scale=1):
                video_out = gr.Video(label="2D overlay and 3D pose", interactive=False, height=360, autoplay=True,
                                     loop=True, elem_id="video-out")
        with gr.Row():
            with gr.Column(scale=1):
                label = gr.Label(label="Action (person 0)", num_top_classes=5, elem_id="action-label")
                persons = gr.Markdown(elem_id="persons")
            with gr.Column(scale=2):
                bars = gr.Plot(label="Class probabilities", elem_id="probabilities")
        with gr.Row():
            with gr.Column(scale=2):
                view3d = gr.Plot(label="3D skeleton", elem_id="pose-3d")
                frame = gr.Slider(0, 1, value=0, step=1, label="Frame", interactive=False, elem_id="frame")
            with gr.Column(scale=1):
                downloads = gr.File(label="Downloads (npz, Parquet, JSON)", file_count="multiple",
                                    elem_id="downloads")
        run_btn.click(run, inputs=[video_in],
                      outputs=[video_out, label, bars, view3d, frame, pose_state, downloads, persons])
        frame.change(lambda t, pose: pose_figure(pose, int(t)), inputs=[frame, pose_state], outputs=[view3d],
                     show_progress="hidden")
    return demo


def example_dirs(config: ServeConfig) -> list[str]:
    """Folders Gradio may serve the example clips from (its `allowed_paths`)."""
    examples = config.ui.examples if config.ui.examples is not None else default_examples()
    return sorted({str(Path(e).resolve().parent) for e in examples})
