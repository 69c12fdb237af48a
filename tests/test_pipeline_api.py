"""The shared Pipeline: validated config, entry points for keypoints / poses / video, batching, checks that
name the field, and the end-to-end paths 2D -> 3D -> image -> class on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenas.errors import DataFormatError, PosenasError
from posenas.platform.pipeline import KeypointClip, Pipeline
from posenas.platform.pipeline_config import PipelineConfig, load_pipeline_config


@pytest.fixture(scope="module")
def pipe(tiny_action_model) -> Pipeline:
    return Pipeline.from_config({"classifier": {"checkpoint": str(tiny_action_model), "top_k": 3}})


def _clip(frames: int = 40, persons: int = 1, seed: int = 0) -> np.ndarray:
    """h36m17 2D pixels of a plausible person (from the canonical walker) moving in a 640x480 image."""
    rng = np.random.default_rng(seed)
    base = np.array([[320, 300], [300, 300], [300, 380], [300, 450], [340, 300], [340, 380], [340, 450],
                     [320, 250], [320, 200], [320, 185], [320, 165], [355, 205], [365, 250], [370, 290],
                     [285, 205], [275, 250], [270, 290]], np.float32)
    t = np.arange(frames)[:, None, None, None]
    kp = base[None, None] + 10 * np.sin(t / 5.0) + rng.normal(0, 1, (frames, persons, 17, 2))
    kp[:, 1:] += 150  # other persons stand elsewhere
    return kp.astype(np.float32)


# --- config -------------------------------------------------------------------------------------
def test_config_defaults_work_offline_and_round_trip_yaml(tmp_path):
    cfg = PipelineConfig()
    assert cfg.detector.name == "mediapipe" and cfg.lifter.checkpoint is None and cfg.classifier.top_k == 5
    p = tmp_path / "pipe.yaml"
    p.write_text(cfg.to_yaml())
    assert load_pipeline_config(p) == cfg


@pytest.mark.parametrize("text,field", [
    ("classifier: {top_k: 0}\n", "classifier.top_k"),
    ("lifter: {chekpoint: x.pt}\n", "lifter.chekpoint"),
    ("detector: [1, 2]\n", "detector"),
])
def test_config_errors_name_the_field(tmp_path, text, field):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(DataFormatError) as e:
        load_pipeline_config(p)
    assert e.value.field == field and "bad.yaml" in str(e.value)


def test_config_yaml_syntax_error_names_the_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("detector:\n  name: mediapipe\n lifter: [\n")
    with pytest.raises(DataFormatError, match="broken.yaml:3"):
        load_pipeline_config(p)


# --- keypoints and poses --------------------------------------------------------------------------
def test_run_keypoints_keeps_the_persons_axis(pipe):
    res = pipe.run_keypoints(_clip(persons=2), None, "h36m17", 640, 480, fps=30)
    assert res.pose_3d.shape == (40, 2, 17, 3) and res.keypoints_2d.shape == (40, 2, 17, 2)
    assert [a.person for a in res.actions] == [0, 1]
    a = res.actions[0]
    assert a.label in pipe.classes and len(a.top_k) == 3 and abs(sum(a.probabilities) - 1) < 1e-4
    assert a.top_k[0] == (a.label, a.probability) and a.top_k[0][1] >= a.top_k[1][1] >= a.top_k[2][1]
    assert set(res.timings) >= {"lift", "encode", "classify"}
    d = json.loads(json.dumps(res.to_dict()))
    assert d["models"]["classifier"] == "tiny_action" and len(d["pose_3d"]) == 40


def test_batched_calls_give_what_single_calls_give(pipe):
    clips = [KeypointClip(_clip(seed=s, frames=30 + 5 * s), None, "h36m17", 640, 480) for s in range(3)]
    lifted = pipe.lift_batch(clips)
    singles = [pipe.run_keypoints(c.keypoints, None, "h36m17", 640, 480) for c in clips]
    for l, s in zip(lifted, singles):
        np.testing.assert_allclose(l, s.pose_3d, atol=1e-5)
    batched = pipe.classify_batch(lifted)
    for b, s in zip(batched, singles):
        np.testing.assert_allclose(b[0].probabilities, s.actions[0].probabilities, atol=1e-5)


def test_a_person_missing_from_every_frame_gets_no_action(pipe):
    kp = _clip(persons=2)
    kp[:, 1] = np.nan
    res = pipe.run_keypoints(kp, None, "h36m17", 640, 480)
    assert [a.person for a in res.actions] == [0] and np.isnan(res.pose_3d[:, 1]).all()


@pytest.mark.parametrize("change,field", [
    (dict(layout="no_such_layout"), "layout"),
    (dict(keypoints=np.zeros((10, 1, 16, 2), np.float32)), "keypoints"),
    (dict(keypoints=np.full((10, 1, 17, 2), np.inf, np.float32)), "keypoints"),
    (dict(scores=np.full((10, 1, 17), 2.0, np.float32)), "scores"),
    (dict(scores=np.ones((9, 1, 17), np.float32)), "scores"),
    (dict(width=0), "width"),
])
def test_bad_keypoint_clips_name_the_field(pipe, change, field):
    args = dict(keypoints=_clip(10), scores=None, layout="h36m17", width=640, height=480)
    args.update(change)
    with pytest.raises(DataFormatError) as e:
        pipe.run_keypoints(**args, clip_id="clips[3]")
    assert e.value.field == field and "clips[3]" in str(e.value)


def test_run_poses_accepts_other_layouts_and_refuses_an_empty_clip(pipe):
    from posenas.core.skeleton import get_layout

    kinect = np.random.default_rng(0).normal(0, 0.3, (20, 1, get_layout("kinect20").num_joints, 3))
    res = pipe.run_poses(kinect, "kinect20")
    assert res.pose_3d.shape == (20, 1, 17, 3) and len(res.actions) == 1
    assert len(pipe.run_poses(kinect[:1], "kinect20").actions) == 1  # one frame: a still pose
    with pytest.raises(DataFormatError, match="at least 1 frame"):
        pipe.run_poses(kinect[:0], "kinect20")


def test_a_classifier_trained_in_another_pose_space_fails_loudly(tmp_path, tiny_action_model):
    import torch

    payload = torch.load(tiny_action_model, weights_only=True)
    payload["space"] = {"name": "native", "layout": "msr20"}
    torch.save(payload, tmp_path / "native.pt")
    p = Pipeline.from_config({"classifier": {"checkpoint": str(tmp_path / "native.pt")}})
    with pytest.raises(PosenasError, match="pose space 'native'"):
        p.run_keypoints(_clip(), None, "h36m17", 640, 480)


# --- real video and photo -------------------------------------------------------------------------
@pytest.mark.realdata
def test_posenas_run_on_a_real_video_writes_labels_and_a_browser_playable_video(real_clip, tiny_action_model, tmp_path):
    import av
    from typer.testing import CliRunner

    from posenas.cli import app

    r = CliRunner().invoke(app, ["run", str(real_clip), "-o", str(tmp_path), "--action-model", str(tiny_action_model)])
    assert r.exit_code == 0, r.output
    actions = json.loads((tmp_path / "cam01_24.actions.json").read_text())
    assert len(actions["actions"]) >= 2  # two people move on the force plate in front
    for a in actions["actions"]:
        assert a["label"] in ["wave", "kick", "clap", "bend"] and 0 < a["probability"] <= 1
    assert "person" in r.output and "%" in r.output
    with av.open(str(tmp_path / "cam01_24_lifted.mp4")) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.pix_fmt == "yuv420p"
        assert sum(1 for _ in c.decode(video=0)) == 24
    summary = json.loads((tmp_path / "cam01_24.json").read_text())
    assert summary["models"]["classifier"] == "tiny_action" and summary["actions"] == actions["actions"]


def test_posenas_run_on_a_real_photo(tiny_action_model, tmp_path):
    import cv2
    from skimage import data
    from typer.testing import CliRunner

    from posenas.cli import app

    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    r = CliRunner().invoke(app, ["run", str(photo), "-o", str(tmp_path / "out"), "--action-model", str(tiny_action_model)])
    assert r.exit_code == 0, r.output
    actions = json.loads((tmp_path / "out" / "astronaut.actions.json").read_text())
    assert len(actions["actions"]) == 1 and (tmp_path / "out" / "astronaut_lifted.png").is_file()


# --- the shipped action model, end to end on real data ----------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> Pipeline:
    from posenas.platform.classification.inference import DEFAULT_CHECKPOINT

    assert DEFAULT_CHECKPOINT.is_file(), f"the shipped action model {DEFAULT_CHECKPOINT} is missing"
    return Pipeline.from_config()


@pytest.mark.realdata
@pytest.mark.slow
def test_shipped_model_from_real_2d_screen_joints_of_test_subjects(shipped, msr_root):
    """2D (real Kinect screen joints) -> lifter -> Enhanced-SPMF -> cell network, on held-out subjects."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "bench_pipeline_accuracy.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.evaluate(shipped, msr_root, max_sequences=80)
    chance = 1 / len(shipped.classes)
    assert res["sequences"] == 80
    assert res["kinect_3d"]["accuracy"] > 3 * chance  # trained on lifted poses: Kinect 3D is another domain
    assert res["lifted_2d"]["accuracy"] > 6 * chance


@pytest.mark.realdata
def test_shipped_model_labels_a_real_video(shipped, real_clip, tmp_path):
    from posenas.platform.pipeline import run_to_files

    out = run_to_files(shipped, real_clip, tmp_path, render=False)
    res = out["result"]
    assert res.actions and all(a.label in shipped.classes for a in res.actions)
    assert json.loads(out["paths"]["actions"].read_text())["actions"][0]["label"] == res.actions[0].label
