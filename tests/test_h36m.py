"""Human3.6M (VideoPose3D npz) loader and lifter pairs, on files with exactly VideoPose3D's structure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenas.datasets import load_dataset
from posenas.datasets.h36m import (
    CAMERA_IDS,
    INTRINSICS,
    KEEP_17,
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    action_class,
    load,
    load_extrinsics,
    load_h36m_pairs,
    make_camera,
    read_positions_2d,
    read_positions_3d,
)
from posenas.datasets.registry import detect_format
from posenas.datasets.sequence import Fault
from posenas.errors import DataFormatError, PosenasError
from posenas.core.skeleton import convert_to_h36m

SUBJECTS = ("S1", "S5", "S9", "S11")
ACTIONS = ("Directions 1", "TakingPhoto")
EYES = ((4.5, 3.0, 1.5), (4.0, -3.8, 1.6), (-4.2, 3.5, 1.5), (-3.5, -4.0, 1.4))


@pytest.fixture(scope="module")
def h36m(writers, tmp_path_factory):
    """data_3d_h36m.npz, data_2d_h36m_gt.npz (projected with OpenCV) and a VideoPose3D-style extrinsics JSON."""
    root = tmp_path_factory.mktemp("h36m")
    rng = np.random.default_rng(0)
    pos3d, pos2d, ext, rts = {}, {}, {}, {}
    for si, s in enumerate(SUBJECTS):
        rts[s] = [writers.look_at_rt(np.add(eye, 0.05 * si), (0.0, 0.0, 1.0)) for eye in EYES]
        ext[s] = [writers.videopose_extrinsics(R, t) for R, t in rts[s]]
        pos3d[s], pos2d[s] = {}, {}
        for a in ACTIONS:
            world = writers.smooth_motion(rng, 30 + si, 32, centre=(0.2, -0.1, 1.0)).astype(np.float32)
            pos3d[s][a] = world
            pos2d[s][a] = [writers.project_opencv(world[:, KEEP_17].astype(np.float64), R, t, INTRINSICS[c]).astype(np.float32)
                           for c, (R, t) in enumerate(rts[s])]
    writers.write_h36m_3d(root / "data_3d_h36m.npz", pos3d)
    writers.write_h36m_2d(root / "data_2d_h36m_gt.npz", pos2d)
    (root / "extrinsics.json").write_text(json.dumps(ext))
    return root, pos3d, pos2d, rts


def test_files_have_videopose3d_structure(h36m):
    root, *_ = h36m
    with np.load(root / "data_3d_h36m.npz", allow_pickle=True) as d:
        assert d.files == ["positions_3d"] and d["positions_3d"].dtype == object and d["positions_3d"].shape == ()
    with np.load(root / "data_2d_h36m_gt.npz", allow_pickle=True) as d:
        assert sorted(d.files) == ["metadata", "positions_2d"]
        assert d["metadata"].item()["num_joints"] == 17


def test_reduce_32_to_17(writers, tmp_path: Path):
    marked = np.broadcast_to(np.arange(32, dtype=np.float32)[None, :, None], (3, 32, 3)).copy()
    writers.write_h36m_3d(tmp_path / "data_3d_h36m.npz", {"S1": {"Walking": marked}})
    out = read_positions_3d(tmp_path / "data_3d_h36m.npz")["S1"]["Walking"]
    assert out.shape == (3, 17, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])
    assert read_positions_3d(tmp_path / "data_3d_h36m.npz", reduce=False)["S1"]["Walking"].shape == (3, 32, 3)


def test_load_3d_dataset_and_protocols(h36m):
    root, pos3d, *_ = h36m
    assert detect_format(root) == "h36m" and detect_format(root / "data_3d_h36m.npz") == "h36m"
    ds = load_dataset(root)
    assert ds.layout == "h36m17" and len(ds) == len(SUBJECTS) * len(ACTIONS)
    s = ds.by_id()["S9/TakingPhoto"]
    assert s.fps == 50.0 and s.subject == 9 and s.action_name == "Photo" and s.meta["units"] == "m"
    np.testing.assert_array_equal(s.joints[:, 0], pos3d["S9"]["TakingPhoto"][:, KEEP_17])
    assert ds.by_id()["S1/Directions 1"].action_name == "Directions"
    assert set(ds.protocols) == {"p1", "p2"}
    for p in ("p1", "p2"):
        train, test = ds.split(p)
        assert {x.meta["subject_name"] for x in train} == {"S1", "S5"} <= set(TRAIN_SUBJECTS)
        assert {x.meta["subject_name"] for x in test} == set(TEST_SUBJECTS)
    assert ds.protocols["p1"].train == ds.protocols["p2"].train


def test_load_2d_dataset(h36m):
    root, _, pos2d, _ = h36m
    ds = load(root, keypoints="gt")
    assert len(ds) == len(SUBJECTS) * len(ACTIONS) * 4 and ds.layout == "h36m17"
    s = ds.by_id()[f"S11/Directions 1/{CAMERA_IDS[2]}"]
    assert s.meta["units"] == "pixels" and s.meta["camera"] == 2 and s.meta["height"] == 1000
    np.testing.assert_array_equal(s.joints[:, 0], pos2d["S11"]["Directions 1"][2])
    assert len(load_dataset(root / "data_2d_h36m_gt.npz")) == len(ds)
    assert len(load(root / "data_3d_h36m.npz", keypoints="gt")) == len(ds)
    with pytest.raises(PosenasError, match=r"data_2d_h36m_cpn\.npz: no such 2D keypoint file; found: \['data_2d"):
        load(root, keypoints="cpn")


def test_pairs_with_extrinsics_match_projection(h36m):
    root, pos3d, pos2d, rts = h36m
    pairs = load_h36m_pairs(root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz",
                            extrinsics=root / "extrinsics.json")
    assert len(pairs) == len(SUBJECTS) * len(ACTIONS) * 4
    for p in pairs:
        R, t = rts[p.subject][p.camera]
        world = pos3d[p.subject][p.action][:, KEEP_17].astype(np.float64)
        assert p.kp2d.shape == (len(world), 17, 2) and p.pose3d_cam.shape == (len(world), 17, 3)
        np.testing.assert_allclose(p.pose3d_cam, world @ R.T + t, atol=2e-5)
        assert (p.pose3d_cam[..., 2] > 2).all()  # in front of the camera
        # posenas' projection of the camera-frame pose reproduces the 2D written with OpenCV
        reproj = make_camera(p.camera).project_camera(p.pose3d_cam.astype(np.float64))
        np.testing.assert_allclose(reproj, p.kp2d, atol=0.01)
        np.testing.assert_array_equal(p.kp2d, pos2d[p.subject][p.action][p.camera])


def test_pairs_by_pnp_without_extrinsics(h36m):
    root, pos3d, _, rts = h36m
    faults: list[Fault] = []
    pairs = load_h36m_pairs(root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz", subjects=("S5",), faults=faults)
    assert {p.subject for p in pairs} == {"S5"} and len(pairs) == 8
    for p in pairs:
        R, t = rts["S5"][p.camera]
        truth = pos3d["S5"][p.action][:, KEEP_17].astype(np.float64) @ R.T + t
        np.testing.assert_allclose(p.pose3d_cam, truth, atol=1e-3)
    pnp = [f for f in faults if "PnP" in f.message]
    assert len(pnp) == 4 and not any(f.dropped for f in pnp)
    assert all(float(f.message.split("reprojection ")[1].split(" px")[0]) < 0.05 for f in pnp)


def test_pairs_trim_skip_and_convert(writers, tmp_path: Path, h36m):
    root, pos3d, pos2d, _ = h36m
    p3 = {"S1": {a: pos3d["S1"][a] for a in ACTIONS}}
    longer = [np.concatenate([k, k[:3]]) for k in pos2d["S1"]["Directions 1"]]
    shorter = [k[:-2] if c == 1 else k for c, k in enumerate(pos2d["S1"]["TakingPhoto"])]
    writers.write_h36m_3d(tmp_path / "data_3d_h36m.npz", {**p3, "S5": {"Walking": pos3d["S5"]["TakingPhoto"]}})
    writers.write_h36m_2d(tmp_path / "data_2d_h36m_x.npz", {"S1": {"Directions 1": longer, "TakingPhoto": shorter}})
    faults: list[Fault] = []
    pairs = load_h36m_pairs(tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_x.npz",
                            extrinsics=root / "extrinsics.json", faults=faults)
    assert len(pairs) == 7  # S1 camera 1 TakingPhoto too short, S5 has no 2D
    assert all(len(p.kp2d) == len(p.pose3d_cam) for p in pairs)
    messages = " | ".join(f"{f.seq_id}: {f.message}" for f in faults)
    assert "S1/TakingPhoto: camera 1" in messages and "subject S5 has no 2D" in messages
    # COCO-ordered 2D (Detectron) is converted to h36m17
    coco = [np.random.default_rng(c).uniform(0, 1000, (len(pos3d["S1"]["TakingPhoto"]), 17, 2)).astype(np.float32)
            for c in range(4)]
    writers.write_h36m_3d(tmp_path / "data_3d_h36m.npz", {"S1": {"TakingPhoto": pos3d["S1"]["TakingPhoto"]}})
    writers.write_h36m_2d(tmp_path / "data_2d_h36m_detectron_pt_coco.npz", {"S1": {"TakingPhoto": coco}}, layout_name="coco")
    pairs = load_h36m_pairs(tmp_path / "data_3d_h36m.npz", tmp_path / "data_2d_h36m_detectron_pt_coco.npz",
                            extrinsics=root / "extrinsics.json")
    np.testing.assert_allclose(pairs[0].kp2d, convert_to_h36m(coco[0], "coco17"))
    # without layout_name, the symmetry list tells COCO from H36M
    writers.write_h36m_2d(tmp_path / "data_2d_h36m_y.npz", {"S1": {"TakingPhoto": coco}}, layout_name=None)
    assert read_positions_2d(tmp_path / "data_2d_h36m_y.npz")[1] == "h36m17"


def test_extrinsics_formats(tmp_path: Path, h36m):
    root, _, _, rts = h36m
    ext = load_extrinsics(root / "extrinsics.json")
    for c in range(4):
        np.testing.assert_allclose(ext["S9"][c][0], rts["S9"][c][0], atol=1e-9)
        np.testing.assert_allclose(ext["S9"][c][1], rts["S9"][c][1], atol=1e-9)
    plain = {"S1": [{"R": R.tolist(), "t": t.tolist()} for R, t in rts["S1"]]}
    (tmp_path / "e.json").write_text(json.dumps(plain))
    np.testing.assert_allclose(load_extrinsics(tmp_path / "e.json")["S1"][3][0], rts["S1"][3][0])
    (tmp_path / "e.json").write_text(json.dumps({"S1": plain["S1"][:3]}))
    with pytest.raises(DataFormatError, match=r"e\.json \[S1\]: expected a list of 4 cameras"):
        load_extrinsics(tmp_path / "e.json")
    (tmp_path / "e.json").write_text(json.dumps({"S1": [{"R": [1, 2]}] * 4}))
    with pytest.raises(DataFormatError, match=r"\[S1\[0\]\]"):
        load_extrinsics(tmp_path / "e.json")


def test_action_class():
    assert action_class("Directions 1") == "Directions" and action_class("WalkingDog 1") == "WalkDog"
    assert action_class("Sitting") == "Sitting" and action_class("Dancing") is None


def test_malformed_files(writers, tmp_path: Path):
    f3 = tmp_path / "data_3d_h36m.npz"
    writers.write_h36m_3d(f3, {"S1": {"Walking": np.zeros((5, 17, 3), np.float32)}})
    with pytest.raises(DataFormatError, match=r"\[positions_3d\[S1\]\[Walking\]\]: expected \(T, 32, 3\)"):
        read_positions_3d(f3)
    np.savez(f3, poses=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"\[positions_3d\]: missing array"):
        read_positions_3d(f3)
    f3.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="not a readable"):
        read_positions_3d(f3)
    f2 = tmp_path / "data_2d_h36m_gt.npz"
    cams = [np.zeros((5, 17, 2), np.float32)] * 4
    writers.write_h36m_2d(f2, {"S1": {"Walking": cams[:3]}})
    with pytest.raises(DataFormatError, match=r"\[positions_2d\[S1\]\[Walking\]\]: expected a list of 4"):
        read_positions_2d(f2)
    writers.write_h36m_2d(f2, {"S1": {"Walking": [np.zeros((5, 16, 2))] * 4}})
    with pytest.raises(DataFormatError, match=r"\[positions_2d\[S1\]\[Walking\]\[0\]\]"):
        read_positions_2d(f2)
    np.savez_compressed(f2, positions_2d={"S1": {"Walking": cams}}, metadata={"num_joints": 25})
    with pytest.raises(DataFormatError, match=r"\[metadata\.num_joints\]"):
        read_positions_2d(f2)
