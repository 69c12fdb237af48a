"""Action accuracy of the shipped (or a given) action model through the shared Pipeline on MSR Action3D's
cross-subject test subjects, from two inputs of the same sequences:

* Kinect 3D (the Real3D files, `Pipeline.run_poses(..., left_handed=True)`), what the model was trained on;
* 3D lifted from the real Kinect 2D joints (the screen files, 320x240 pixels: `Pipeline.run_keypoints`,
  2D -> lifter -> encoder -> classifier), the RGB path a video takes after detection.

Both go through exactly the code `posenas run` and the server use. The test split is never used for any
choice: the model and its epoch were picked on a validation subject carved out of the training subjects.

    .venv/bin/python benchmarks/bench_pipeline_accuracy.py [--checkpoint C] [--data ../shared/data]
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

REPO = Path(__file__).resolve().parents[1]


def _data_root(data: Optional[Path]) -> Path:
    return data or Path(os.environ.get("POSENAS_DATA", REPO.parent / "shared" / "data"))


def evaluate(pipeline, msr_root: Path, max_sequences: int | None = None, seed: int = 0) -> dict:
    """Accuracy from Kinect 3D and from lifted real 2D on the same test sequences (even subjects)."""
    from posenas.datasets.msr_action3d import load_msr_pairs

    pairs = [p for p in load_msr_pairs(msr_root)[0] if p.subject % 2 == 0]
    if max_sequences is not None and max_sequences < len(pairs):
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), max_sequences, replace=False))]
    classes = pipeline.classes
    rows = {"kinect_3d": [], "lifted_2d": []}
    t0 = time.perf_counter()
    for p in pairs:
        v = p.valid.all(axis=1)  # frames the Kinect tracked
        truth = classes.index(_name(p.action))
        r3 = pipeline.run_poses(p.xyz[v][:, None], "msr20", left_handed=True, clip_id=p.seq_id)
        r2 = pipeline.run_keypoints(p.uv[v][:, None], p.conf[v][:, None], "msr20", 320, 240, fps=15.0, clip_id=p.seq_id)
        for key, res in (("kinect_3d", r3), ("lifted_2d", r2)):
            rows[key].append((truth, classes.index(res.actions[0].label) if res.actions else -1))
    seconds = time.perf_counter() - t0
    out = {"sequences": len(pairs), "seconds": seconds, "classes": classes}
    for key, pairs_ in rows.items():
        y = np.array(pairs_)
        per_class = {classes[c]: float((y[y[:, 0] == c, 1] == c).mean()) for c in sorted(set(y[:, 0]))}
        out[key] = {"accuracy": float((y[:, 0] == y[:, 1]).mean()), "per_class": per_class}
    return out


def _name(action_index: int) -> str:
    from posenas.datasets.msr_action3d import ACTION_NAMES

    return ACTION_NAMES[action_index]


def main(
    checkpoint: Optional[Path] = typer.Option(None, help="Action model (default: the shipped one)."),
    data: Optional[Path] = typer.Option(None, help="Folder with msr_action3d/ (default $POSENAS_DATA or ../shared/data)."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "pipeline_accuracy", help="Report path (.md/.json)."),
) -> None:
    from posenas.platform.pipeline import Pipeline

    pipe = Pipeline.from_config({"classifier": {"checkpoint": None if checkpoint is None else str(checkpoint)}})
    res = evaluate(pipe, _data_root(data) / "msr_action3d")
    res["model"] = pipe.model_ids(with_detector=False)
    chance = 1 / len(res["classes"])
    lines = [
        "# Action model through the Pipeline, MSR Action3D cross-subject test subjects (2, 4, 6, 8, 10)",
        "",
        f"Model: `{res['model']['classifier']}`, lifter `{res['model']['lifter']}`; {res['sequences']} test sequences "
        f"(the cvpr12 list's 2D/3D pairs); chance {chance:.1%}. Command: `python benchmarks/bench_pipeline_accuracy.py`.",
        "",
        "| input | accuracy |",
        "| --- | --- |",
        f"| Kinect 3D (Real3D, mirrored into a right-handed frame) | {res['kinect_3d']['accuracy']:.1%} |",
        f"| 3D lifted from the real Kinect 2D joints (RGB path) | {res['lifted_2d']['accuracy']:.1%} |",
        "",
        "| class | Kinect 3D | lifted 2D |",
        "| --- | --- | --- |",
        *[f"| {c} | {res['kinect_3d']['per_class'].get(c, float('nan')):.0%} | {res['lifted_2d']['per_class'].get(c, float('nan')):.0%} |"
          for c in res["classes"]],
        "",
        f"{res['seconds']:.0f} s for both inputs of every sequence.",
    ]
    text = "\n".join(lines) + "\n"
    typer.echo(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    typer.run(main)
