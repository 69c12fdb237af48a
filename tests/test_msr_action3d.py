"""MSR Action3D loader: real-data counts, faults, protocols, 2D/3D pairs, and strict handling of bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenas.datasets import load_dataset
from posenas.datasets.msr_action3d import (
    ACTION_NAMES,
    AS_SUBSETS,
    load,
    load_msr_pairs,
    parse_numeric_table,
    project_kinect,
    read_real3d,
    read_screen,
    subset_classes,
)
from posenas.datasets.registry import detect_format
from posenas.errors import DataFormatError, PosenasError, UnknownNameError
from posenas.core.skeleton import convert_to_h36m, get_layout

KNOWN_ZERO = "a13_s09_e02"
KNOWN_MISMATCH = "a13_s09_e03"


# --- real data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real3d(msr_root: Path):
    return load(msr_root)


@pytest.fixture(scope="module")
def screen(msr_root: Path):
    return load(msr_root, version="screen")


@pytest.fixture(scope="module")
def pairs_all(msr_root: Path):
    return load_msr_pairs(msr_root, subset="all")


@pytest.mark.realdata
def test_all_567_real3d_files_load_or_are_reported(real3d, msr_root: Path):
    ids = {s.seq_id for s in real3d}
    dropped = {f.seq_id for f in real3d.faults if f.dropped}
    assert len(ids) == 566 and dropped == {KNOWN_ZERO}
    assert len(ids | dropped) == 567
    # The dropped file holds 38 all-zero frames: together the Real3D files hold 23,478 frames.
    zero_xyz, _ = read_real3d(msr_root / "MSRAction3DSkeletonReal3D" / f"{KNOWN_ZERO}_skeleton3D.txt")
    assert not zero_xyz.any()
    assert real3d.summary()["frames"] + len(zero_xyz) == 23478
    s = real3d.by_id()["a01_s01_e01"]
    assert s.joints.shape[1:] == (1, 20, 3) and s.joints.dtype == np.float32
    assert (s.layout, s.fps, s.subject, s.action, s.action_name) == ("msr20", 15.0, 1, 0, "high arm wave")
    assert s.meta["units"] == "m" and 1.5 < np.median(s.joints[..., 2]) < 4.0  # metres from the camera
    assert real3d.classes == list(ACTION_NAMES) and len(real3d.classes) == 20


@pytest.mark.realdata
def test_untracked_frames_are_kept_with_zero_confidence_and_reported(real3d):
    s = real3d.by_id()[KNOWN_MISMATCH]
    zero = ~s.joints[:, 0].reshape(s.num_frames, -1).any(1)
    assert s.num_frames == 936 and zero.sum() == 740 == s.meta["untracked_frames"]
    assert not s.confidence[zero].any()
    kept = [f for f in real3d.faults if not f.dropped]
    assert any(f.seq_id == KNOWN_MISMATCH and "740 of 936" in f.message for f in kept)
    # Every sequence with an untracked frame is reported, and no other.
    with_zeros = {x.seq_id for x in real3d if x.meta["untracked_frames"]}
    assert with_zeros == {f.seq_id for f in kept}


@pytest.mark.realdata
def test_cvpr12_subset_is_the_557_listed(msr_root: Path):
    ds = load(msr_root, subset="cvpr12")
    listed = (msr_root / "files_used_in_cvpr12_paper.txt").read_text().split()
    assert len(ds) == 557 and {s.seq_id for s in ds} == set(listed)
    assert len(ds.meta["excluded_by_subset"]) == 10
    assert {KNOWN_ZERO, KNOWN_MISMATCH} <= set(ds.meta["excluded_by_subset"])
    assert not [f for f in ds.faults if f.dropped]


@pytest.mark.realdata
def test_protocols_are_disjoint_cross_subject_splits(real3d):
    by_id = real3d.by_id()
    cs = real3d.protocols["cross_subject"]
    assert set(cs.train) | set(cs.test) == set(by_id)
    assert {by_id[i].subject for i in cs.train} == {1, 3, 5, 7, 9}
    assert {by_id[i].subject for i in cs.test} == {2, 4, 6, 8, 10}
    for name, actions in AS_SUBSETS.items():
        sp = real3d.protocols[name]
        assert not set(sp.train) & set(sp.test)
        classes = subset_classes(name)
        assert classes == sorted(a - 1 for a in actions) and len(classes) == 8
        members = [by_id[i] for i in sp.train + sp.test]
        assert {s.action for s in members} == set(classes)
        # every sequence of those 8 actions is in the split, and nothing else
        assert len(members) == sum(s.action in classes for s in real3d)
        assert all(by_id[i].subject % 2 == 1 for i in sp.train)
        assert 90 < len(sp.train) < 130 and 90 < len(sp.test) < 130
    assert real3d.meta["protocol_classes"]["AS2"] == [0, 3, 6, 7, 8, 10, 11, 13]
    with pytest.raises(UnknownNameError):
        subset_classes("AS4")


@pytest.mark.realdata
def test_pairs_join_both_versions_and_report_the_mismatch(pairs_all):
    pairs, faults = pairs_all
    assert len(pairs) == 565
    reported = {f.seq_id: f for f in faults}
    assert set(reported) == {KNOWN_ZERO, KNOWN_MISMATCH}
    assert "936" in reported[KNOWN_MISMATCH].message and "255" in reported[KNOWN_MISMATCH].message
    for p in pairs:
        assert p.uv.shape == (p.num_frames, 20, 2) and p.xyz.shape == (p.num_frames, 20, 3)
        assert p.conf.shape == p.valid.shape == (p.num_frames, 20)
    # Real pairs: the pixels are the Kinect projection of the 3D joints (rounded to whole pixels),
    # including the 85 sentinel values that were recomputed.
    uv = np.concatenate([p.uv[p.valid] for p in pairs])
    xyz = np.concatenate([p.xyz[p.valid] for p in pairs])
    err = np.linalg.norm(project_kinect(xyz) - uv, axis=-1)
    assert len(uv) > 400_000 and err.max() < 1.0 and err.mean() < 0.5
    assert np.abs(uv).max() < 1000


@pytest.mark.realdata
def test_pairs_cvpr12_default(msr_root: Path):
    pairs, faults = load_msr_pairs(msr_root)
    assert len(pairs) == 557 and faults == []
    assert {p.action for p in pairs} == set(range(20))


@pytest.mark.realdata
def test_screen_version_pixels_and_sentinels(screen):
    assert len(screen) == 566 and screen.meta["units"] == "px"
    s = screen.by_id()["a01_s01_e01"]
    assert s.joints.shape[1:] == (1, 20, 2) and s.meta["depth"].shape == (s.num_frames, 20)
    assert np.isclose(s.joints[0, 0, 0], [120.0, 80.0]).all()
    assert max(float(np.abs(x.joints).max()) for x in screen) < 1000
    sentinel_faults = [f for f in screen.faults if "sentinel" in f.message]
    assert sum(x.meta["sentinel_joints"] for x in screen) == 85
    assert len(sentinel_faults) == sum(x.meta["sentinel_joints"] > 0 for x in screen)
    assert screen.by_id()[KNOWN_MISMATCH].num_frames == 255


def _left_right_bone_ratio(ds, layout: str) -> np.ndarray:
    """|left - right| / mean for each mirrored h36m17 bone, from median lengths over tracked frames."""
    joints = np.concatenate([s.joints[:, 0][s.joints[:, 0].reshape(s.num_frames, -1).any(1)] for s in ds])
    h36m = get_layout("h36m17")
    med = np.median(h36m.bone_lengths(convert_to_h36m(joints, layout)), axis=0)
    lengths = {(h36m.joints[c], h36m.joints[p]): med[k] for k, (c, p) in enumerate(h36m.bones)}
    ratios = []
    for (c, p), length in lengths.items():
        if c.startswith("left_"):
            other = lengths[(c.replace("left_", "right_"), p.replace("left_", "right_"))]
            ratios.append(abs(length - other) / ((length + other) / 2))
    return np.array(ratios)


@pytest.mark.realdata
def test_left_right_bones_match_after_h36m_conversion(real3d):
    ratios = _left_right_bone_ratio(real3d, "msr20")
    assert len(ratios) == 6 and ratios.max() < 0.05
    # The same data read with the wrong joint table (Kinect SDK order) is far from symmetric.
    assert _left_right_bone_ratio(real3d, "kinect20").max() > 0.3


@pytest.mark.realdata
def test_coordinate_convention(real3d):
    """MSR Real3D: x grows to image-right (u = fx x/z + cx), so a person facing the camera has the left
    shoulder at larger x; y is up (head above hips)."""
    lay = get_layout("msr20")
    j = np.concatenate([s.joints[:, 0] for s in real3d if s.num_frames])
    j = j[j.reshape(len(j), -1).any(1)]
    assert np.mean(j[:, lay.index("left_shoulder"), 0] > j[:, lay.index("right_shoulder"), 0]) > 0.95
    assert np.mean(j[:, lay.index("head"), 1] > j[:, lay.index("hip_center"), 1]) > 0.95


@pytest.mark.realdata
def test_registry_detects_root_folder_and_file(msr_root: Path):
    assert detect_format(msr_root) == "msr_action3d"
    assert detect_format(msr_root / "MSRAction3DSkeleton20joints") == "msr_action3d"
    one = msr_root / "MSRAction3DSkeleton20joints" / "a02_s03_e01_skeleton.txt"
    ds = load_dataset(one)
    assert len(ds) == 1 and ds.sequences[0].dims == 2 and ds.sequences[0].action == 1


# --- synthetic files: strict validation --------------------------------------------------------


def _rows(frames: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-1, 1, (frames * 20, 3)) + [0, 0, 3]
    conf = rng.uniform(0, 1, frames * 20)
    return [f"{x:.6f} {y:.6f} {z:.6f} {c:.6f}" for (x, y, z), c in zip(xyz, conf)]


def _write(folder: Path, name: str, lines: list[str], newline: str = "\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_bytes((newline.join(lines) + newline).encode())
    return p


GOOD = "a01_s01_e01_skeleton3D.txt"


def test_clean_synthetic_file_round_trips(tmp_path: Path):
    lines = _rows(3)
    p = _write(tmp_path, GOOD, lines + ["", ""])  # trailing blank lines are fine
    xyz, conf = read_real3d(p)
    expect = np.array([[float(v) for v in ln.split()] for ln in lines], dtype=np.float32).reshape(3, 20, 4)
    np.testing.assert_array_equal(xyz, expect[..., :3])
    np.testing.assert_array_equal(conf, expect[..., 3])


def test_crlf_screen_file_parses(tmp_path: Path):
    lines = [f"  {100 + i:.7e}  {50 + i:.7e}  {600:.7e}  {1:.7e}" for i in range(40)]
    uv, depth, conf, sentinel = read_screen(_write(tmp_path, "a01_s01_e01_skeleton.txt", lines, "\r\n"))
    assert uv.shape == (2, 20, 2) and uv[1, 0, 0] == 120 and depth.max() == 600 and not sentinel.any()


@pytest.mark.parametrize(
    "bad_line, needle",
    [
        ("0.1 0.2 0.3", "expected 4 numbers per row, found 3"),
        ("0.1 0.2 0.3 1.0 7", "expected 4 numbers per row, found 5"),
        ("0.1 abc 0.3 1.0", "'abc' is not a number"),
        ("0.1 nan 0.3 1.0", "not finite"),
        ("0.1 0.2 inf 1.0", "not finite"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path: Path, bad_line: str, needle: str):
    lines = _rows(2)
    lines[27] = bad_line  # line 28
    p = _write(tmp_path, GOOD, lines)
    with pytest.raises(DataFormatError) as e:
        load(p)
    assert e.value.line == 28 and e.value.path == str(p)
    assert needle in str(e.value) and f"{p}:28" in str(e.value)


def test_short_row_balanced_by_long_row_is_still_caught(tmp_path: Path):
    lines = _rows(1)
    lines[3] = "0.1 0.2 0.3"
    lines[4] = "0.1 0.2 0.3 0.4 0.5"  # same total count of numbers: a naive reshape would accept it
    with pytest.raises(DataFormatError) as e:
        read_real3d(_write(tmp_path, GOOD, lines))
    assert e.value.line == 4


def test_truncated_file_row_count(tmp_path: Path):
    p = _write(tmp_path, GOOD, _rows(2)[:-3])
    with pytest.raises(DataFormatError, match="37 rows is not a multiple of 20"):
        load(p)


def test_empty_and_all_zero_single_files_raise(tmp_path: Path):
    empty = tmp_path / GOOD
    empty.write_text("\n  \n")
    with pytest.raises(DataFormatError, match="empty file"):
        load(empty)
    zeros = _write(tmp_path / "z", "a02_s01_e01_skeleton3D.txt", ["0 0 0 0"] * 40)
    with pytest.raises(DataFormatError, match="all 2 frames are zeros"):
        load(zeros)


def test_empty_folder_raises(tmp_path: Path):
    (tmp_path / "MSRAction3DSkeletonReal3D").mkdir()
    with pytest.raises(DataFormatError, match="no MSR Action3D real3d files"):
        load(tmp_path)


def test_bad_file_in_folder_becomes_fault_and_rest_load(tmp_path: Path):
    folder = tmp_path / "MSRAction3DSkeletonReal3D"
    _write(folder, GOOD, _rows(2))
    _write(folder, "a02_s02_e01_skeleton3D.txt", _rows(3, seed=1))
    bad = _rows(2)
    bad[5] = "1 2 x 4"
    bad_path = _write(folder, "a03_s01_e02_skeleton3D.txt", bad)
    _write(folder, "notes.txt", ["hello"])
    ds = load(tmp_path)
    assert sorted(s.seq_id for s in ds) == ["a01_s01_e01", "a02_s02_e01"]
    f_bad = next(f for f in ds.faults if f.seq_id == "a03_s01_e02")
    assert f_bad.dropped and f_bad.line == 6 and f_bad.source == str(bad_path) and "'x'" in f_bad.message
    assert any(f.source.endswith("notes.txt") for f in ds.faults)
    assert ds.protocols["cross_subject"].test == ("a02_s02_e01",)


def test_options_and_names_are_checked(tmp_path: Path):
    p = _write(tmp_path / "MSRAction3DSkeletonReal3D", GOOD, _rows(1))
    with pytest.raises(UnknownNameError):
        load(tmp_path, version="depth")
    with pytest.raises(UnknownNameError):
        load(tmp_path, subset="some")
    with pytest.raises(PosenasError, match="real3d data but version='screen'"):
        load(p, version="screen")
    with pytest.raises(PosenasError, match="files_used_in_cvpr12_paper.txt"):
        load(tmp_path, subset="cvpr12")
    with pytest.raises(UnknownNameError):
        load_dataset(tmp_path, format="no_such_format")
    with pytest.raises(UnknownNameError):
        convert_to_h36m(np.zeros((1, 20, 3), np.float32), "no_such_layout")
    odd = _write(tmp_path, "a21_s01_e01_skeleton3D.txt", _rows(1))
    with pytest.raises(DataFormatError):
        load(odd)


def test_sentinel_without_real3d_gets_zero_confidence(tmp_path: Path):
    lines = [f"{100:.7e} {50:.7e} {600:.7e} {1:.7e}"] * 20
    lines[7] = f"{100:.7e} {2147483647:.7e} {600:.7e} {1:.7e}"
    folder = tmp_path / "MSRAction3DSkeleton20joints"
    _write(folder, "a01_s01_e01_skeleton.txt", lines, "\r\n")
    ds = load(tmp_path, version="screen")
    s = ds.sequences[0]
    assert s.confidence[0, 0, 7] == 0 and np.abs(s.joints).max() < 1000
    assert any("sentinel" in f.message and not f.dropped for f in ds.faults)


def test_parse_numeric_table_counts_lines_not_tokens():
    t = parse_numeric_table(b"1 2\n\n3 4\r\n", "mem", 2)
    np.testing.assert_array_equal(t, [[1, 2], [3, 4]])
    with pytest.raises(DataFormatError) as e:
        parse_numeric_table(b"1 2\n\n3\n", "mem", 2)
    assert e.value.line == 3
