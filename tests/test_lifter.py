"""The 2D->3D lifters: shapes and receptive fields, causality, training on real data, checkpoints,
the inference API (`posenas.platform.lifting.inference`) and the `posenas lift` command group."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenas.errors import ConfigError, DataFormatError, PosenasError
from posenas.platform.lifting.checkpoint import load_checkpoint, save_checkpoint
from posenas.platform.lifting.config import ARCHS, LifterConfig, LifterTrainConfig, NoiseConfig
from posenas.platform.lifting.data import Clip, Motion, WindowBank, fixed_views, flip_batch
from posenas.platform.lifting.models import LIFTERS, build_model
from posenas.platform.lifting.inference import DEFAULT_CHECKPOINT, Lifter, load_lifter

torch.set_num_threads(1)
SMALL = dict(pose_hidden=32, motion_channels=32)


def test_every_config_arch_has_a_model():
    assert LIFTERS.names() == sorted(ARCHS)


@pytest.mark.parametrize("arch", LIFTERS.names())
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("widths,rf", [((3, 3, 3), 27), ((3, 3, 3, 3), 81)])
def test_model_shapes_and_receptive_field(arch, causal, widths, rf):
    cfg = LifterConfig(arch=arch, causal=causal, filter_widths=widths, **SMALL)
    expect_rf = 1 if arch == "pose" else rf
    assert cfg.receptive_field == expect_rf
    left, right = cfg.pad
    assert left + right == expect_rf - 1 and (right == 0 if causal else left == right)
    model = build_model(cfg).eval()
    x, c = torch.randn(2, expect_rf + 9, 17, 2), torch.rand(2, expect_rf + 9, 17)
    y = model(x, c)
    assert y.shape == (2, 10, 17, 3) and torch.isfinite(y).all()


@pytest.mark.parametrize("arch", LIFTERS.names())
def test_every_arch_learns_a_fixed_2d_to_3d_mapping(arch):
    """A few Adam steps on one batch whose 3D targets are a fixed function of the 2D input must cut the
    error well below the start: fails if gradients do not reach the weights or an arch ignores its input."""
    from posenas.platform.lifting.train import masked_mpjpe

    torch.manual_seed(0)
    cfg = LifterConfig(arch=arch, filter_widths=(3, 3), dropout=0.0, **SMALL)
    model = build_model(cfg).train()
    rf = cfg.receptive_field
    x = torch.randn(16, rf + 3, 17, 2)
    mix = torch.randn(34, 51) * 0.05
    target = (x[:, cfg.pad[0] : cfg.pad[0] + 4].reshape(16, 4, 34) @ mix).reshape(16, 4, 17, 3)
    target = target - target[..., :1, :]  # root-relative, as the models predict
    valid = torch.ones(16, 4, dtype=torch.bool)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    errors = []
    for _ in range(60):
        loss = masked_mpjpe(model(x), target, valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
        errors.append(float(loss.detach()))
    assert errors[-1] < 0.5 * errors[0]


@pytest.mark.parametrize("causal", [False, True])
def test_motion_stream_sees_exactly_its_window(causal):
    cfg = LifterConfig(arch="two_stream", causal=causal, **SMALL)
    model = build_model(cfg).eval()
    rf, (left, right) = cfg.receptive_field, cfg.pad
    x = torch.randn(1, rf + 4, 17, 2)
    base = model(x)
    # output 0 belongs to input frame `left`; frame rf (beyond its window) must not change it
    x2 = x.clone()
    x2[:, rf] += 1.0
    assert torch.allclose(model(x2)[:, 0], base[:, 0], atol=1e-6)
    # the newest frame in its window must change it; for a causal model that is its own frame
    x3 = x.clone()
    x3[:, rf - 1] += 1.0
    assert not torch.allclose(model(x3)[:, 0], base[:, 0])
    if causal:
        assert left == rf - 1 and right == 0


def test_config_validation_and_roundtrip():
    import json

    cfg = LifterConfig(arch="motion", filter_widths=(3, 5), causal=True)
    assert LifterConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # JSON lists -> tuple field
    assert LifterConfig(filter_widths=[3, 3]).filter_widths == (3, 3)
    for bad, field in [({"arch": "transformer"}, "arch"), ({"filter_widths": (2, 3)}, "filter_widths"),
                       ({"pose_hidden": "wide"}, "pose_hidden"), ({"dropout": [0.1]}, "dropout"),
                       ({"filter_width": (3,)}, "filter_width")]:
        with pytest.raises(ConfigError, match=f"LifterConfig.{field}") as e:
            LifterConfig(**bad)
        assert e.value.field == field and isinstance(e.value, PosenasError)
    assert LifterConfig.from_dict({"arch": "pose"}).input_norm == "screen"  # checkpoints from before input_norm
    t = LifterTrainConfig(epochs=3, noise=NoiseConfig(sigma_px=5.0))
    assert LifterTrainConfig.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ConfigError, match=r"LifterTrainConfig.noise.sigma_px"):
        LifterTrainConfig.from_dict({"noise": {"sigma_px": "loud"}})


def test_checkpoint_roundtrip_keeps_config_data_metrics(tmp_path):
    cfg = LifterConfig(arch="two_stream", causal=True, **SMALL)
    model = build_model(cfg).eval()
    data = {"sources": [{"dataset": "cmu", "path": "/x", "protocol": "cross_subject", "train_subjects": [3, 5]}]}
    metrics = {"cmu_exact": {"mpjpe": 0.05, "p_mpjpe": 0.04}}
    p = save_checkpoint(tmp_path / "m.pt", model, cfg, data=data, metrics=metrics, train={"epochs": 2})
    ck = load_checkpoint(p)
    assert ck.config == cfg and ck.data == data and ck.metrics == metrics and ck.train == {"epochs": 2}
    x = torch.randn(1, 40, 17, 2)
    assert torch.allclose(ck.model(x), model(x))
    half = load_checkpoint(save_checkpoint(tmp_path / "h.pt", model, cfg, half=True))
    assert (tmp_path / "h.pt").stat().st_size < 0.7 * p.stat().st_size
    assert torch.allclose(half.model(x), model(x), atol=2e-3)


def test_bad_checkpoint_files_raise_clear_errors(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataFormatError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(DataFormatError, match="format"):
        load_checkpoint(tmp_path / "other.pt")


def _lifter(arch="two_stream", causal=False) -> Lifter:
    cfg = LifterConfig(arch=arch, causal=causal, **SMALL)
    return Lifter(model=build_model(cfg).eval(), config=cfg, info={})


@pytest.mark.parametrize("t", [1, 5, 60])
def test_lift_gives_one_pose_per_frame_whatever_the_resolution(t):
    rng = np.random.default_rng(0)
    kp = rng.uniform(100, 500, (t, 17, 2)).astype(np.float32)
    lifter = _lifter()
    out = lifter.lift(kp, None, 640, 480)
    assert out.shape == (t, 17, 3) and out.dtype == np.float32 and np.isfinite(out).all()
    # the same picture at twice the resolution is the same input: pixels are normalised by the image size
    np.testing.assert_allclose(lifter.lift(2 * kp, None, 1280, 960), out, atol=1e-5)
    assert np.abs(lifter.lift(kp, None, 480, 640) - out).max() > 1e-3  # and the size is really used


def test_lift_handles_missing_joints_and_splits_long_clips():
    rng = np.random.default_rng(1)
    kp = rng.uniform(100, 500, (50, 17, 2)).astype(np.float32)
    conf = rng.uniform(0.5, 1, (50, 17)).astype(np.float32)
    kp[3, 5] = np.nan
    lifter = _lifter(causal=True)
    whole = lifter.lift(kp, conf, 640, 480)
    assert np.isfinite(whole).all()
    lifter.max_frames_per_pass = 7  # several passes must give the same poses as one
    np.testing.assert_allclose(lifter.lift(kp, conf, 640, 480), whole, atol=1e-5)
    with pytest.raises(ValueError, match="conf"):
        lifter.lift(kp, conf[:10], 640, 480)
    with pytest.raises(ValueError, match="kp2d"):
        lifter.lift(kp[..., :1], None, 640, 480)


def test_shipped_checkpoint_loads_and_lifts():
    assert DEFAULT_CHECKPOINT.is_file(), "posenas/assets/lifter/ must ship the default lifter"
    lifter = load_lifter()
    assert lifter.config.arch == "two_stream" and lifter.receptive_field > 1
    src = lifter.info["data"]["sources"][0]
    assert src["dataset"] == "cmu" and src["test_subjects"] and not set(src["test_subjects"]) & set(src["train_subjects"])
    assert DEFAULT_CHECKPOINT.stat().st_size < 10e6
    # a standing figure facing the camera: head above pelvis (y down in camera axes), feet below
    from posenas.core.camera import random_camera, synthesize_pairs

    pose = np.zeros((17, 3))
    pose[[1, 2, 3], 0], pose[[4, 5, 6], 0] = -0.12, 0.12
    pose[[2, 5], 1], pose[[3, 6], 1] = -0.45, -0.9
    pose[7:11, 1] = [0.25, 0.5, 0.6, 0.7]
    pose[[11, 12, 13], 0], pose[[14, 15, 16], 0] = 0.18, -0.18
    pose[[11, 14], 1], pose[[12, 15], 1], pose[[13, 16], 1] = 0.5, 0.25, 0.0
    pose[:, 1] += 1.0
    cam = random_camera(np.random.default_rng(0), pose[0], azimuth_deg=180.0, elevation_deg=5.0, distance=4.0,
                        focal=1000.0)
    kp, _ = synthesize_pairs(np.repeat(pose[None], 10, 0), cam)
    out = lifter.lift(kp, None, cam.width, cam.height)
    assert out[5, 10, 1] < -0.4 and out[5, 3, 1] > 0.6 and out[5, 6, 1] > 0.6


@pytest.mark.realdata
def test_shipped_lifter_error_measured_on_held_out_cmu_subjects(cmu_root):
    """Lift the held-out subjects' fixed evaluation views again and measure MPJPE (not the stored number);
    it must be good in absolute terms and reproduce what the checkpoint recorded."""
    from posenas.platform.lifting.data import load_cmu
    from posenas.platform.lifting.evaluate import evaluate_split

    lifter = load_lifter()
    src = lifter.info["data"]["sources"][0]
    data = load_cmu(cmu_root, fps=src["fps"], val_views=src["val_views"], val_seed=src["val_seed"])
    assert data.info["sources"][0]["test_subjects"] == src["test_subjects"]
    measured = evaluate_split(lifter.model, lifter.config, data.val["cmu_exact"])
    assert measured["mpjpe"] < 0.08  # metres, camera frame, root-relative, exact 2D
    assert measured["mpjpe"] == pytest.approx(lifter.info["metrics"]["cmu_exact"]["mpjpe"], abs=2e-3)


def test_window_bank_and_flip():
    rng = np.random.default_rng(0)
    clips = [Clip(x=rng.normal(size=(t, 17, 2)).astype(np.float32), conf=np.ones((t, 17), np.float32),
                  y=rng.normal(size=(t, 17, 3)).astype(np.float32), seq_id=str(t)) for t in (5, 30)]
    bank = WindowBank.build(clips, rf=27, pad=(13, 13), chunk=8)
    assert len(bank.starts) == 1 + 23
    x, c, y, v = bank.batch(bank.starts[[0, 5]])
    assert x.shape == (2, 34, 17, 2) and y.shape == (2, 8, 17, 3)
    assert v[0].sum() == 5 and v[1].all()  # the short clip's repeated tail is never a target
    np.testing.assert_array_equal(y[1], clips[1].y[4:12])
    np.testing.assert_array_equal(x[1, 13], clips[1].x[4])
    fx, fc, fy = flip_batch(x, c, y)
    bx, _, by = flip_batch(fx, fc, fy)
    np.testing.assert_array_equal(bx, x)
    np.testing.assert_array_equal(by, y)
    assert np.allclose(fy[..., 1, 0], -y[..., 4, 0])  # right hip <- mirrored left hip


def test_fixed_views_share_cameras_between_exact_and_noisy():
    t = np.linspace(0, 2 * np.pi, 40)
    joints = np.zeros((40, 17, 3), np.float32)
    joints[:, :, 1] = np.linspace(0.1, 1.7, 17)[None]
    joints[:, :, 0] = 0.1 * np.sin(t)[:, None] * np.arange(17)[None] / 17
    m = [Motion(joints, "m", 1, "wave")]
    exact = fixed_views(m, seed=3, views=2, noise=None)
    noisy = fixed_views(m, seed=3, views=2, noise=NoiseConfig(sigma_px=3.0, drop_prob=0.1))
    assert len(exact) == len(noisy) == 2
    for e, n in zip(exact, noisy):
        np.testing.assert_array_equal(e.y, n.y)
        kept = n.conf > 0
        assert 0 < np.abs(e.x - n.x)[kept].mean() < 0.05
        assert (n.x[~kept] == 0).all() and (~kept).any()


@pytest.mark.realdata
def test_msr_pairs_become_camera_axis_clips(msr_root):
    from posenas.platform.lifting.data import load_msr

    d = load_msr(msr_root, max_sequences=6)
    assert d.real_train and d.val["msr_xsub"]
    assert {c.subject % 2 for c in d.real_train} == {1} and {c.subject % 2 for c in d.val["msr_xsub"]} == {0}
    c = d.real_train[0]
    ok = c.valid
    assert (c.y[ok, 10, 1] < c.y[ok, 0, 1]).mean() > 0.9  # head above pelvis: camera y points down
    assert (c.x[ok, 10, 1] < c.x[ok, 0, 1]).mean() > 0.9  # and higher in the image


@pytest.mark.realdata
def test_training_on_real_subset_lowers_the_loss(msr_root):
    from posenas.platform.lifting.data import load_msr
    from posenas.platform.lifting.train import train_lifter

    data = load_msr(msr_root, max_sequences=24)
    cfg = LifterConfig(arch="two_stream", pose_hidden=64, motion_channels=64)
    res = train_lifter(cfg, LifterTrainConfig(epochs=6, batch_size=32, lr=3e-3), data, progress=False)
    losses = [h["train_mpjpe"] for h in res.history]
    assert losses[-1] < 0.7 * losses[0]
    assert set(res.metrics) == {"msr_xsub"} and res.metrics["msr_xsub"]["mpjpe"] < losses[0]


# --- CLI --------------------------------------------------------------------------------------------
def _cli(args):
    from typer.testing import CliRunner

    from posenas.cli import app

    return CliRunner().invoke(app, args)


def test_lift_group_help_and_train_help():
    r = _cli(["lift", "--help"])
    assert r.exit_code == 0 and "train" in r.output and "eval" in r.output
    r = _cli(["lift", "train", "--help"])
    assert r.exit_code == 0 and "--arch" in r.output and "--dataset" in r.output


def test_lift_routes_a_path_to_the_video_command(tmp_path):
    r = _cli(["lift", "video", "--help"])
    assert r.exit_code == 0
    help_text = r.output
    r = _cli(["lift", "--help-me-not-an-option"])
    assert r.exit_code != 0
    # a path as first argument reaches the video command: its own help, and its own error for a missing file
    r = _cli(["lift", str(tmp_path / "some.mp4"), "--help"])
    assert r.exit_code == 0 and r.output == help_text
    r = _cli(["lift", str(tmp_path / "some.mp4"), "-o", str(tmp_path / "out")])
    assert r.exit_code != 0
    text = r.output + (str(r.exception) if r.exception else "")
    assert "some.mp4" in text


@pytest.mark.realdata
def test_train_then_eval_commands(msr_root, tmp_path):
    ck = tmp_path / "msr.pt"
    r = _cli(["lift", "train", "--dataset", "msr", "--path", str(msr_root), "--arch", "pose", "--epochs", "1",
              "--pose-hidden", "32", "--max-sequences", "6", "--out", str(ck)])
    assert r.exit_code == 0, r.output
    assert "msr_xsub" in r.output and ck.is_file()
    assert load_checkpoint(ck).data["sources"][0]["dataset"] == "msr"
    r = _cli(["lift", "eval", "--checkpoint", str(ck), "--dataset", "msr", "--path", str(msr_root), "--by-group",
              "--json", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    assert "P-MPJPE" in r.output and "high arm wave" in r.output and (tmp_path / "m.json").is_file()
    r = _cli(["lift", "train", "--dataset", "msr", "--dataset", "cmu", "--path", str(msr_root), "--out", str(ck)])
    assert r.exit_code != 0


def test_h36m_pairs_become_clips(writers, tmp_path):
    """Human3.6M npz files (written in VideoPose3D's format) -> S1 train clips and an S9 test split."""
    import json

    from posenas.datasets.h36m import INTRINSICS
    from posenas.platform.lifting.data import load_h36m
    from posenas.core.normalize import normalize_screen

    keep = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
    eyes = ((4.5, 3.0, 1.5), (4.0, -3.8, 1.6), (-4.2, 3.5, 1.5), (-3.5, -4.0, 1.4))
    rng = np.random.default_rng(0)
    pos3d, pos2d, ext, rts = {}, {}, {}, {}
    for s in ("S1", "S9"):
        rts[s] = [writers.look_at_rt(eye, (0.0, 0.0, 1.0)) for eye in eyes]
        ext[s] = [writers.videopose_extrinsics(R, t) for R, t in rts[s]]
        world = writers.smooth_motion(rng, 20, 32, centre=(0.0, 0.0, 1.0)).astype(np.float32)
        pos3d[s] = {"Walking 1": world}
        pos2d[s] = {"Walking 1": [writers.project_opencv(world[:, keep].astype(np.float64), R, t, INTRINSICS[c]).astype(np.float32)
                                  for c, (R, t) in enumerate(rts[s])]}
    writers.write_h36m_3d(tmp_path / "d3.npz", pos3d)
    writers.write_h36m_2d(tmp_path / "d2.npz", pos2d)
    (tmp_path / "ext.json").write_text(json.dumps(ext))
    d = load_h36m(tmp_path / "d3.npz", tmp_path / "d2.npz", extrinsics=tmp_path / "ext.json")
    assert len(d.real_train) == 4 and len(d.val["h36m"]) == 4
    assert {c.subject for c in d.real_train} == {1} and {c.subject for c in d.val["h36m"]} == {9}
    c = d.val["h36m"][2]
    R, t = rts["S9"][2]
    cam = pos3d["S9"]["Walking 1"][:, keep] @ R.T + t
    np.testing.assert_allclose(c.y, cam - cam[:, :1], atol=1e-4)
    np.testing.assert_allclose(c.x, normalize_screen(pos2d["S9"]["Walking 1"][2], INTRINSICS[2]["res_w"],
                                                     INTRINSICS[2]["res_h"]), atol=1e-5)
    with pytest.raises(PosenasError, match="2D"):
        load_h36m(tmp_path / "d3.npz", None)


def test_shipped_causal_checkpoint_has_no_look_ahead():
    from posenas.platform.lifting.inference import CAUSAL_CHECKPOINT

    lifter = load_lifter(CAUSAL_CHECKPOINT)
    assert lifter.config.causal and lifter.config.pad == (lifter.receptive_field - 1, 0)
    rng = np.random.default_rng(0)
    kp = rng.uniform(300, 700, (40, 17, 2)).astype(np.float32)
    out = lifter.lift(kp, None, 1000, 1000)
    later = kp.copy()
    later[25:] += 30.0  # changing the future must not change the past
    np.testing.assert_allclose(lifter.lift(later, None, 1000, 1000)[:25], out[:25], atol=1e-5)
