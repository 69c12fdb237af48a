"""`lift_video` end to end on a video made from a real photo, gap filling, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenas.errors import DataFormatError, PosenasError
from posenas.platform.pipeline import fill_gaps, lift_video

BLANK = (7, 8)  # frames without a person: must be reported as one 2-frame gap


@pytest.fixture(scope="module")
def video(make_person_video, tmp_path_factory):
    return make_person_video(tmp_path_factory.mktemp("video") / "astro.mp4", blank=BLANK)


@pytest.fixture(scope="module")
def checkpoint(small_lifter_checkpoint, tmp_path_factory):
    return small_lifter_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def result(video, checkpoint, tmp_path_factory):
    return lift_video(video, tmp_path_factory.mktemp("out"), lifter=checkpoint)


def test_outputs_exist_and_read_back(result):
    import pandas as pd

    from posenas.datasets.keypoints import read_keypoints
    from posenas.core.video import iter_frames, probe_video

    paths, stats = result["paths"], result["stats"]
    assert stats["frames"] == 16
    (seq,) = read_keypoints(paths["npz"])
    assert seq.seq_id == "astro" and seq.layout == "h36m17" and seq.joints.shape == (16, 1, 17, 2)
    pose = seq.meta["pose_3d"]
    assert pose.shape == (16, 1, 17, 3) and np.isfinite(pose).all()
    np.testing.assert_allclose(pose[:, 0, 0], 0, atol=1e-5)  # root-relative: pelvis at the origin

    df = pd.read_parquet(paths["parquet"])  # plain pandas, no posenas needed
    assert len(df) == 16 and set(df["video_id"]) == {"astro"}
    assert len(df["keypoints_2d"].iloc[0]) == 34 and len(df["pose_3d"].iloc[0]) == 51
    np.testing.assert_allclose(np.stack(df["pose_3d"].to_numpy()).reshape(16, 17, 3), pose[:, 0], atol=1e-6)

    # the written 2D keypoints are the raw detections: blank frames stay missing (score 0, NaN)
    for t in BLANK:
        assert (seq.confidence[t] == 0).all() and np.isnan(seq.joints[t]).all()
    assert (seq.confidence[0, 0, 8] > 0.5)  # thorax of a plainly visible person

    info = probe_video(paths["video"])
    assert info.num_frames == 16 and (info.width, info.height) == (352 + 288, 288)
    assert sum(1 for _ in iter_frames(paths["video"])) == 16


def test_gaps_are_filled_and_reported(result):
    stats = result["stats"]
    assert stats["frames_without_person"] == 2
    assert stats["gap_lengths"] == [2]
    summary = json.loads(result["paths"]["summary"].read_text())
    assert summary["gap_lengths"] == [2] and summary["frames"] == 16
    assert summary["lifter"].endswith("tiny.pt")


def test_detections_follow_the_moving_person(result):
    from posenas.datasets.keypoints import read_keypoints

    (seq,) = read_keypoints(result["paths"]["npz"])
    thorax_x = seq.joints[:, 0, 8, 0]
    seen = [t for t in range(16) if t not in BLANK]
    shift = np.polyfit(np.array(seen, float), thorax_x[seen], 1)[0]
    assert 2.0 < shift < 4.0  # the photo moves 3 px per frame


def test_fill_gaps_interpolates_linearly():
    kp = np.tile(np.arange(6, dtype=np.float32)[:, None, None], (1, 3, 2))  # x = y = t for each joint
    sc = np.ones((6, 3), np.float32)
    kp[2:4] = np.nan
    sc[2:4] = 0
    kp[:, 2] = np.nan  # a joint never seen
    sc[:, 2] = 0
    filled, conf, gaps = fill_gaps(kp, sc)
    np.testing.assert_allclose(filled[:, :2, 0], np.arange(6)[:, None].repeat(2, 1))
    assert gaps == [2]
    assert (conf[2:4, :2] == 0.5).all() and (conf[[0, 1, 4, 5], :2] == 1).all()
    assert np.isnan(filled[:, 2]).all() and (conf[:, 2] == 0).all()


def test_bad_inputs_fail_clearly(tmp_path, checkpoint):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 1000)
    with pytest.raises(DataFormatError, match="bad.mp4"):
        lift_video(bad, tmp_path / "o", lifter=checkpoint)
    with pytest.raises(PosenasError, match="missing.mp4: no such file"):
        lift_video(tmp_path / "missing.mp4", tmp_path / "o", lifter=checkpoint)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_precomputed_keypoints_and_no_render(video, checkpoint, result, tmp_path):
    """Bring-your-own keypoints (here: the mediapipe run's npz) give the same 3D, with no detector."""
    out = lift_video(video, tmp_path, detector="precomputed", lifter=checkpoint, render=False,
                     detector_options={"path": result["paths"]["npz"]})
    assert "video" not in out["paths"]
    from posenas.datasets.keypoints import read_keypoints

    (a,) = read_keypoints(result["paths"]["npz"])
    (b,) = read_keypoints(out["paths"]["npz"])
    np.testing.assert_allclose(b.meta["pose_3d"], a.meta["pose_3d"], atol=1e-4)


def test_cli_lift_video(video, checkpoint, tmp_path):
    from typer.testing import CliRunner

    from posenas.cli import app

    r = CliRunner().invoke(app, ["lift", str(video), "-o", str(tmp_path), "-c", str(checkpoint),
                                 "--no-render", "--layout", "coco17"])
    assert r.exit_code == 0, r.output
    assert "without a person" in r.output
    from posenas.datasets.keypoints import read_keypoints

    (seq,) = read_keypoints(tmp_path / "astro.parquet")
    assert seq.layout == "coco17" and seq.meta["pose_3d"].shape == (16, 1, 17, 3)


def test_shipped_lifter_gives_a_plausible_body(video, tmp_path):
    """With the shipped CMU-trained lifter, the 3D upper body has human proportions."""
    from posenas.platform.lifting.inference import DEFAULT_CHECKPOINT

    assert DEFAULT_CHECKPOINT.is_file(), f"the shipped lifter is missing: {DEFAULT_CHECKPOINT}"
    from posenas.datasets.keypoints import read_keypoints
    from posenas.core.skeleton import get_layout

    out = lift_video(video, tmp_path, render=False)
    (seq,) = read_keypoints(out["paths"]["npz"])
    pose = seq.meta["pose_3d"][:, 0]
    lay = get_layout("h36m17")
    shoulders = np.linalg.norm(pose[:, lay.index("left_shoulder")] - pose[:, lay.index("right_shoulder")], axis=-1)
    assert 0.2 < np.median(shoulders) < 0.6  # adult shoulder width, metres
    head_height = pose[:, lay.index("pelvis"), 1] - pose[:, lay.index("head"), 1]  # y points down
    assert 0.35 < np.median(head_height) < 0.8
    # facing the camera: her left shoulder is at +x (camera right), as in the image
    assert (pose[:, lay.index("left_shoulder"), 0] > pose[:, lay.index("right_shoulder"), 0]).mean() > 0.9


def _standing_pose() -> np.ndarray:
    from posenas.core.skeleton import get_layout

    xyz = {
        "pelvis": (0, 0, 0), "right_hip": (-0.12, 0, 0), "right_knee": (-0.12, 0.45, 0),
        "right_ankle": (-0.12, 0.88, 0), "left_hip": (0.12, 0, 0), "left_knee": (0.12, 0.45, 0),
        "left_ankle": (0.12, 0.88, 0), "spine": (0, -0.25, 0), "thorax": (0, -0.5, 0), "neck_nose": (0, -0.6, -0.05),
        "head": (0, -0.7, 0), "left_shoulder": (0.18, -0.48, 0), "left_elbow": (0.45, -0.48, 0),
        "left_wrist": (0.7, -0.48, 0), "right_shoulder": (-0.18, -0.48, 0), "right_elbow": (-0.2, -0.2, 0),
        "right_wrist": (-0.2, 0.05, -0.1),
    }
    return np.array([xyz[j] for j in get_layout("h36m17").joints], np.float32)


def test_render_3d_panel_and_overlay():
    from posenas.core.render import LEFT, RIGHT, compose_frame, draw_pose_3d

    def has(img, colour):
        return (np.abs(img.astype(int) - colour).sum(-1) < 30).sum()

    panel = draw_pose_3d(_standing_pose(), 240)
    blank = draw_pose_3d(np.full((17, 3), np.nan, np.float32), 240)
    assert panel.shape == (240, 240, 3) and panel.dtype == np.uint8
    assert has(panel, LEFT) > 50 and has(panel, RIGHT) > 50 and has(blank, LEFT) == 0
    # the raised left arm points to the panel's right, above the pelvis (the panel centre)
    ys, xs = np.nonzero(np.abs(panel.astype(int) - LEFT).sum(-1) < 30)
    assert xs.max() > 170 and ys[xs > 170].mean() < 120

    frame = np.zeros((120, 160, 3), np.uint8)
    kp = np.array([[[20, 20], [100, 100]] + [[np.nan, np.nan]] * 15], np.float32)  # pelvis -> right_hip only
    sc = np.ones((1, 17), np.float32)
    out = compose_frame(frame, kp, sc, "h36m17", None)
    assert out.shape == (120, 280, 3)
    assert has(out[:, :160], RIGHT) > 20 and has(out[:, :160], LEFT) == 0


def test_video_without_anyone(make_person_video, tmp_path, checkpoint, caplog):
    from posenas.datasets.keypoints import read_keypoints

    empty = make_person_video(tmp_path / "nobody.mp4", n=5, blank=range(5))
    import logging

    log = logging.getLogger("posenas.platform.pipeline")
    log.addHandler(caplog.handler)  # not through the root logger: other tests in a run may reconfigure it
    log.disabled = False  # a library's dictConfig(disable_existing_loggers=True) earlier in the run disables it
    try:
        with caplog.at_level("WARNING", logger=log.name):
            out = lift_video(empty, tmp_path / "o", lifter=checkpoint, render=False)
    finally:
        log.removeHandler(caplog.handler)
    assert "detected in any of 5 frames" in caplog.text
    assert out["stats"]["frames_without_person"] == 5
    (seq,) = read_keypoints(out["paths"]["parquet"])
    assert (seq.confidence == 0).all()
    pose = seq.meta.get("pose_3d")  # all-null pose_3d column: the reader reports no 3D at all
    assert pose is None or np.isnan(pose).all()
    (npz,) = read_keypoints(out["paths"]["npz"])
    assert np.isnan(npz.meta["pose_3d"]).all()
