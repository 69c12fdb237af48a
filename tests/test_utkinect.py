"""UTKinect-Action3D loader: real-data segments, the NaN label, protocols, and strict handling of bad files."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from posenas.datasets import load_dataset
from posenas.datasets.registry import detect_format
from posenas.datasets.utkinect import ACTIONS, load, read_joints, read_labels
from posenas.errors import DataFormatError, PosenasError, UnknownNameError
from posenas.core.skeleton import convert_to_h36m, get_layout


def _load_quiet(path: Path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load(path, **kw)


@pytest.fixture(scope="module")
def utk(utkinect_root: Path):
    return _load_quiet(utkinect_root)


# --- real data -------------------------------------------------------------------------------


@pytest.mark.realdata
def test_199_segments_from_20_recordings(utk):
    assert len(utk) == 199
    assert len({s.meta["recording"] for s in utk}) == 20
    counts = Counter(s.action_name for s in utk)
    assert counts == {a: (19 if a == "carry" else 20) for a in ACTIONS}
    assert utk.classes == list(ACTIONS)
    s = utk.by_id()["s01_e01_walk"]
    assert (s.layout, s.fps, s.subject, s.action) == ("kinect20", 30.0, 1, 0)
    assert s.joints.shape[1:] == (1, 20, 3) and s.meta["units"] == "m" and s.confidence is None
    fn = s.meta["frame_numbers"]
    assert len(fn) == s.num_frames and fn[0] >= 252 and fn[-1] <= 390 and np.all(np.diff(fn) >= 0)
    assert 1.0 < np.median(s.joints[..., 2]) < 5.0


@pytest.mark.realdata
def test_nan_segment_is_reported_and_warned(utkinect_root: Path):
    with pytest.warns(UserWarning, match="s10_e02 carry"):
        ds = load(utkinect_root)
    assert [f.seq_id for f in ds.faults] == ["s10_e02_carry"]
    f = ds.faults[0]
    assert f.dropped and f.line == 215 and f.source.endswith("actionLabel.txt")
    assert "s10_e02_carry" not in ds.by_id()


@pytest.mark.realdata
def test_protocols(utk):
    by_id = utk.by_id()
    cs = utk.protocols["cross_subject"]
    assert set(cs.train) | set(cs.test) == set(by_id) and not set(cs.train) & set(cs.test)
    assert {by_id[i].subject for i in cs.train} == {1, 3, 5, 7, 9}
    loso = {k: v for k, v in utk.protocols.items() if k.startswith("loso/")}
    assert len(loso) == 20
    for name, sp in loso.items():
        rec = name.split("/", 1)[1]
        assert {by_id[i].meta["recording"] for i in sp.test} == {rec}
        assert len(sp.test) == (9 if rec == "s10_e02" else 10)
        assert len(sp.train) + len(sp.test) == 199
    # every segment is tested exactly once across the LOSO folds
    assert sorted(i for sp in loso.values() for i in sp.test) == sorted(by_id)


@pytest.mark.realdata
def test_modified_labels_move_seven_boundaries(utk, utkinect_root: Path):
    mod = _load_quiet(utkinect_root, labels="modified")
    assert len(mod) == 199
    a, b = utk.by_id(), mod.by_id()
    changed = [k for k in a if (a[k].meta["start_frame"], a[k].meta["end_frame"])
               != (b[k].meta["start_frame"], b[k].meta["end_frame"])]
    assert len(changed) == 7
    assert b["s01_e02_walk"].meta["end_frame"] == 270 and b["s01_e02_walk"].num_frames > a["s01_e02_walk"].num_frames


@pytest.mark.realdata
def test_duplicate_frame_numbers_keep_or_first(utk, utkinect_root: Path):
    first = _load_quiet(utkinect_root, duplicates="first")
    total_dups = sum(s.meta["duplicate_frame_numbers"] for s in utk)
    assert total_dups > 0
    assert sum(s.num_frames for s in utk) - sum(s.num_frames for s in first) == total_dups
    for s in first:
        assert np.all(np.diff(s.meta["frame_numbers"]) > 0)


@pytest.mark.realdata
def test_left_right_bones_match_after_h36m_conversion(utk):
    joints = np.concatenate([s.joints[:, 0] for s in utk])
    h36m = get_layout("h36m17")
    med = np.median(h36m.bone_lengths(convert_to_h36m(joints, "kinect20")), axis=0)
    lengths = {(h36m.joints[c], h36m.joints[p]): med[k] for k, (c, p) in enumerate(h36m.bones)}
    pairs = [(v, lengths[(c.replace("left_", "right_"), p.replace("left_", "right_"))])
             for (c, p), v in lengths.items() if c.startswith("left_")]
    assert len(pairs) == 6
    assert max(abs(x - y) / ((x + y) / 2) for x, y in pairs) < 0.05


@pytest.mark.realdata
def test_coordinate_convention_is_kinect_sdk(utk):
    """Kinect SDK skeleton space: +x to the sensor's left, so a person facing it has the left shoulder
    at smaller x (the mirror of MSR Real3D); y up."""
    lay = get_layout("kinect20")
    j = np.concatenate([s.joints[:, 0] for s in utk])
    assert np.mean(j[:, lay.index("left_shoulder"), 0] < j[:, lay.index("right_shoulder"), 0]) > 0.95
    assert np.mean(j[:, lay.index("head"), 1] > j[:, lay.index("hip_center"), 1]) > 0.95


@pytest.mark.realdata
def test_detect_and_single_file(utkinect_root: Path):
    assert detect_format(utkinect_root) == "utkinect"
    assert detect_format(utkinect_root / "joints") == "utkinect"
    ds = load_dataset(utkinect_root / "joints" / "joints_s03_e01.txt")
    assert len(ds) == 10 and {s.meta["recording"] for s in ds} == {"s03_e01"}


# --- synthetic files ---------------------------------------------------------------------------


def _joint_rows(frames: list[int], seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"{f} " + " ".join(f"{v:.6f}" for v in rng.uniform(-1, 1, 60) + np.tile([0, 0, 3], 20))
            for f in frames]


LABELS = """s01_e01
walk: 10 20
sitDown: 22 30
"""


def _dataset(tmp_path: Path, labels: str = LABELS, rows: list[str] | None = None) -> Path:
    d = tmp_path / "joints"
    d.mkdir(parents=True, exist_ok=True)
    (d / "actionLabel.txt").write_text(labels)
    (d / "joints_s01_e01.txt").write_text("\n".join(rows or _joint_rows(list(range(10, 32, 2)))) + "\n")
    return tmp_path


def test_segments_use_frame_numbers_inclusive(tmp_path: Path):
    ds = load(_dataset(tmp_path))
    walk, sit = ds.by_id()["s01_e01_walk"], ds.by_id()["s01_e01_sitDown"]
    assert list(walk.meta["frame_numbers"]) == [10, 12, 14, 16, 18, 20]
    assert list(sit.meta["frame_numbers"]) == [22, 24, 26, 28, 30]
    frames, joints = read_joints(tmp_path / "joints" / "joints_s01_e01.txt")
    np.testing.assert_array_equal(walk.joints[:, 0], joints[:6])
    assert walk.meta["effective_fps"] == pytest.approx(5 / (10 / 30))


def test_bad_joints_rows_name_file_and_line(tmp_path: Path):
    rows = _joint_rows(list(range(10, 32, 2)))
    rows[4] = rows[4].rsplit(" ", 1)[0]  # 60 numbers instead of 61
    root = _dataset(tmp_path, rows=rows)
    f = root / "joints" / "joints_s01_e01.txt"
    with pytest.raises(DataFormatError) as e:
        load(f)
    assert e.value.line == 5 and "expected 61 numbers per row, found 60" in str(e.value)
    ds = load(root)  # in a folder load the broken file is a reported fault
    assert len(ds) == 0 and ds.faults[0].line == 5 and ds.faults[0].source == str(f)


@pytest.mark.parametrize(
    "frames, needle, line",
    [
        ([10, 12, 11, 14], "frames must not go back", 3),
        ([10, 12.5, 14], "not a non-negative integer", 2),
    ],
)
def test_bad_frame_numbers(tmp_path: Path, frames, needle, line):
    rows = _joint_rows([0] * len(frames))
    rows = [f"{fr} " + r.split(" ", 1)[1] for fr, r in zip(frames, rows)]
    root = _dataset(tmp_path, rows=rows)
    with pytest.raises(DataFormatError, match=needle) as e:
        read_joints(root / "joints" / "joints_s01_e01.txt")
    assert e.value.line == line


def test_nan_in_joints_is_an_error(tmp_path: Path):
    rows = _joint_rows(list(range(10, 32, 2)))
    parts = rows[2].split()
    parts[7] = "NaN"
    rows[2] = " ".join(parts)
    with pytest.raises(DataFormatError, match="not finite") as e:
        load(_dataset(tmp_path, rows=rows) / "joints" / "joints_s01_e01.txt")
    assert e.value.line == 3


@pytest.mark.parametrize(
    "labels, needle, line",
    [
        ("s01_e01\nrun: 1 2\n", "unknown action 'run'", 2),
        ("walk: 1 2\n", "before any 'sNN_eNN' header", 1),
        ("s01_e01\nwalk: 1 x\n", "not numbers", 2),
        ("s01_e01\nwalk: 1\n", "expected 'start end'", 2),
        ("s01_e01\nwalk: 5 2\n", "bad frame range", 2),
        ("s01_e01\nwalk: 1 2\nwalk: 3 4\n", "appears twice", 3),
        ("s01_e01\nhello\n", "expected 'sNN_eNN'", 2),
    ],
)
def test_bad_label_files(tmp_path: Path, labels: str, needle: str, line: int):
    root = _dataset(tmp_path, labels=labels)
    with pytest.raises(DataFormatError, match=needle) as e:
        load(root)
    assert e.value.line == line and e.value.path.endswith("actionLabel.txt")


def test_nan_label_and_empty_segment_are_faults(tmp_path: Path):
    labels = "s01_e01\nwalk: 10 20\ncarry: NaN NaN\nthrow: 100 120\n"
    with pytest.warns(UserWarning, match="carry"):
        ds = load(_dataset(tmp_path, labels=labels))
    assert [s.seq_id for s in ds] == ["s01_e01_walk"]
    msgs = {f.seq_id: f for f in ds.faults}
    assert msgs["s01_e01_carry"].line == 3
    assert "no skeleton rows" in msgs["s01_e01_throw"].message and msgs["s01_e01_throw"].line == 4


def test_missing_pieces(tmp_path: Path):
    (tmp_path / "joints").mkdir()
    (tmp_path / "joints" / "actionLabel.txt").write_text(LABELS)
    with pytest.raises(DataFormatError, match="no UTKinect joints files"):
        load(tmp_path)
    root = _dataset(tmp_path / "b")
    (root / "joints" / "actionLabel.txt").unlink()
    with pytest.raises(PosenasError, match="actionLabel.txt: not found"):
        load(root)
    with pytest.raises(UnknownNameError):
        load(_dataset(tmp_path / "c"), labels="fixed")
    with pytest.raises(UnknownNameError):
        load(_dataset(tmp_path / "d"), duplicates="last")
    root = _dataset(tmp_path / "e")
    (root / "joints" / "joints_s02_e01.txt").write_text("\n".join(_joint_rows([1, 2])) + "\n")
    ds = load(root)  # a recording without labels is reported, not silently skipped
    assert any(f.seq_id == "s02_e01" and "no segments" in f.message for f in ds.faults)


def test_empty_label_file(tmp_path: Path):
    with pytest.raises(DataFormatError, match="no action segments"):
        read_labels(_dataset(tmp_path, labels="\n") / "joints" / "actionLabel.txt")
