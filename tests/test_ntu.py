"""NTU RGB+D `.skeleton` loader on files written in the exact Kinect v2 text format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenas.datasets import load_dataset
from posenas.datasets.ntu import (
    ACTION_NAMES,
    XSUB_TRAIN_SUBJECTS,
    load,
    load_sequence,
    parse_name,
    read_ntu_skeleton,
)
from posenas.datasets.registry import detect_format
from posenas.errors import DataFormatError


def _body(rng, bid, frames, amplitude, offset=0.0, state=2):
    base = rng.uniform(-0.4, 0.4, (25, 3)) + np.array([offset, 0.0, 3.0])
    out = []
    for t in range(frames):
        xyz = base + amplitude * np.sin(t / 3.0 + np.arange(25))[:, None]
        out.append({"id": bid, "xyz": xyz, "state": np.full(25, state)})
    return out


def _file(writers, path: Path, rng, frames=10, extra_still=False):
    a = _body(rng, "72057594037931101", frames, 0.05)
    b = _body(rng, "72057594037931102", frames, 0.20, offset=1.0)
    a[0]["state"] = np.array([2] * 20 + [1] * 3 + [0] * 2)
    per_frame = [[a[t], b[t]] for t in range(frames)]
    if frames > 4:
        per_frame[4] = [b[4]]  # body a not seen in frame 5
    if extra_still:  # a third, nearly static body (noise) in some frames
        still = _body(rng, "72057594037931999", frames, 0.0, offset=-1.5)
        for t in range(0, frames, 2):
            per_frame[t].append(still[t])
    writers.write_ntu_skeleton(path, per_frame)
    return a, b


def test_parse_name():
    n = parse_name("S017C003P020R002A060.skeleton")
    assert (n.setup, n.camera, n.subject, n.replication, n.action) == (17, 3, 20, 2, 60)
    with pytest.raises(DataFormatError, match="SsssCcccPpppRrrrAaaa"):
        parse_name("foo.skeleton")


def test_read_values_and_confidence(writers, tmp_path: Path):
    rng = np.random.default_rng(0)
    a, b = _file(writers, tmp_path / "S001C001P001R001A001.skeleton", rng)
    s = load_sequence(tmp_path / "S001C001P001R001A001.skeleton")
    assert s.layout == "ntu25" and s.fps == 30.0 and s.meta["units"] == "m"
    assert s.joints.shape == (10, 2, 25, 3) and s.action == 0 and s.action_name == "drink water" and s.subject == 1
    # slot 0 = the body with more motion (b)
    np.testing.assert_allclose(s.joints[:, 0], np.stack([f["xyz"] for f in b]), atol=1e-5)
    np.testing.assert_allclose(s.joints[0, 1], a[0]["xyz"], atol=1e-5)
    np.testing.assert_array_equal(s.confidence[0, 1], [1.0] * 20 + [0.5] * 3 + [0.0] * 2)
    # frame 5: body a absent -> zeros with confidence 0
    assert (s.joints[4, 1] == 0).all() and (s.confidence[4, 1] == 0).all()
    assert s.meta["body_ids"] == ["72057594037931102", "72057594037931101"]


def test_body_selection_drops_static_noise(writers, tmp_path: Path):
    rng = np.random.default_rng(1)
    a, b = _file(writers, tmp_path / "S001C002P003R001A050.skeleton", rng, extra_still=True)
    raw = read_ntu_skeleton(tmp_path / "S001C002P003R001A050.skeleton")
    assert len(raw.bodies) == 3
    s = load_sequence(tmp_path / "S001C002P003R001A050.skeleton")
    assert s.num_persons == 2 and "72057594037931999" not in s.meta["body_ids"]
    assert s.meta["bodies_in_file"] == 3
    one = load_sequence(tmp_path / "S001C002P003R001A050.skeleton", max_bodies=1)
    assert one.num_persons == 1 and one.meta["body_ids"] == ["72057594037931102"]


def test_single_body_file(writers, tmp_path: Path):
    rng = np.random.default_rng(2)
    writers.write_ntu_skeleton(tmp_path / "S001C001P001R001A010.skeleton", [[f] for f in _body(rng, "7", 5, 0.1)])
    s = load_sequence(tmp_path / "S001C001P001R001A010.skeleton")
    assert s.joints.shape == (5, 1, 25, 3) and (s.confidence == 1).all()


@pytest.fixture()
def ntu_folder(writers, tmp_path: Path):
    rng = np.random.default_rng(3)
    names = []
    for setup, cam, subj, action in [(1, 1, 1, 1), (1, 2, 3, 2), (2, 3, 2, 3), (3, 1, 38, 4), (4, 2, 45, 61),
                                     (5, 3, 103, 120)]:
        name = f"S{setup:03d}C{cam:03d}P{subj:03d}R001A{action:03d}"
        _file(writers, tmp_path / f"{name}.skeleton", rng, frames=4)
        names.append(name)
    (tmp_path / "S001C001P001R002A001.skeleton").write_text("0\r\n")  # zero frames
    writers.write_ntu_skeleton(tmp_path / "S001C001P001R002A002.skeleton", [[], [], []])  # frames but no body
    return tmp_path, names


def test_folder_protocols_and_faults(ntu_folder):
    root, names = ntu_folder
    assert detect_format(root) == "ntu"
    ds = load_dataset(root)
    assert len(ds) == 6 and len(ds.faults) == 2 and all(f.dropped for f in ds.faults)
    assert {f.seq_id for f in ds.faults} == {"S001C001P001R002A001", "S001C001P001R002A002"}
    assert len(ds.classes) == 120  # files with A061+ present
    train, test = ds.split("xsub")
    assert {s.subject for s in train} == {1, 2, 38} and {s.subject for s in test} == {3, 45, 103}
    assert all(s.subject in XSUB_TRAIN_SUBJECTS for s in train)
    train, test = ds.split("xview")
    assert {s.meta["camera"] for s in train} == {2, 3} and {s.meta["camera"] for s in test} == {1}
    train, test = ds.split("xsub120")
    assert {s.subject for s in train} == {1, 2, 38, 45, 103}
    train, test = ds.split("xset120")
    assert {s.meta["setup"] for s in train} == {2, 4}
    assert ds.by_id()["S005C003P103R001A120"].action_name == ACTION_NAMES[119]


def test_empty_file_alone_raises(ntu_folder):
    root, _ = ntu_folder
    with pytest.raises(DataFormatError, match="no skeleton"):
        load(root / "S001C001P001R002A001.skeleton")


def test_malformed_lines(writers, tmp_path: Path):
    rng = np.random.default_rng(4)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    _file(writers, path, rng, frames=3)
    lines = path.read_text().splitlines()
    # line 1 frame count, 2 body count, 3 body info, 4 joint count, 5..29 joints of body 1
    cases = {
        "joint line must have 12 values, got 11": (7, lambda s: s.rsplit(" ", 1)[0]),
        "not a number": (9, lambda s: s.replace(s.split()[1], "nan?", 1)),
        "body info line must have 10 values": (3, lambda s: s + " 1"),
        r"expected 25 joints, got 24": (4, lambda s: "24"),
        "expected the body count of frame 1": (2, lambda s: "x"),
    }
    for message, (lineno, edit) in cases.items():
        bad = list(lines)
        bad[lineno - 1] = edit(bad[lineno - 1])
        path.write_text("\r\n".join(bad) + "\r\n")
        with pytest.raises(DataFormatError, match=rf"S001C001P001R001A001\.skeleton:{lineno}: .*{message}"):
            read_ntu_skeleton(path)
    bad = list(lines)
    bad[5] = bad[5].rsplit(" ", 1)[0] + " 3"
    path.write_text("\r\n".join(bad) + "\r\n")
    with pytest.raises(DataFormatError, match=r"\[trackingState\]: .*must be 0, 1 or 2"):
        read_ntu_skeleton(path)
    path.write_text("\r\n".join(lines[:40]) + "\r\n")
    with pytest.raises(DataFormatError, match="file ends where a joint line was expected"):
        read_ntu_skeleton(path)


def test_bad_file_in_folder_is_a_fault_unless_strict(writers, tmp_path: Path):
    rng = np.random.default_rng(5)
    _file(writers, tmp_path / "S001C001P001R001A001.skeleton", rng, frames=3)
    (tmp_path / "S001C001P002R001A001.skeleton").write_text("2\r\n1\r\n")
    ds = load(tmp_path)
    assert len(ds) == 1 and ds.faults[0].line == 3
    with pytest.raises(DataFormatError):
        load(tmp_path, strict=True)
