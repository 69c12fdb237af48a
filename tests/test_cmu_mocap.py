"""CMU mocap loader: h36m17 metres for the lifter, units, labels, protocol, faults (real data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from posenas.datasets.bvh import read_bvh
from posenas.datasets.cmu_mocap import ASF_UNIT, CM, REFERENCE_FRAMES, TEST_SUBJECTS, coarse_label
from posenas.datasets.registry import detect_format, load_dataset
from posenas.errors import DataFormatError, PosenasError
from posenas.core.skeleton import get_layout

pytestmark = pytest.mark.realdata
H36M = get_layout("h36m17")
J = {n: i for i, n in enumerate(H36M.joints)}


@pytest.fixture(scope="module")
def ds30(cmu_root: Path):
    return load_dataset(cmu_root, "cmu_mocap", fps=30)


@pytest.fixture(scope="module")
def ds_native(cmu_root: Path):
    return load_dataset(cmu_root, "cmu_mocap", layout="native", skip_reference=False, drop_implausible=False)


def test_lifter_contract(ds30, cmu_root: Path):
    """What the lifter relies on: 57 h36m17 (T,1,17,3) float32 sequences in metres at 30 fps."""
    assert detect_format(cmu_root) == "cmu_mocap"
    assert len(ds30) == 57 and ds30.layout == "h36m17" and ds30.meta["units"] == "m"
    for s in ds30:
        assert s.joints.shape[1:] == (1, 17, 3) and s.joints.dtype == np.float32
        assert s.layout == "h36m17" and s.fps == pytest.approx(30.0, abs=1e-2)
        assert s.meta["units"] == "m" and np.isfinite(s.joints).all()
    # 120 fps clips keep every 4th frame after the 5 reference frames; 30 fps clips are untouched.
    by = ds30.by_id()
    assert by["02_01"].num_frames == len(range(REFERENCE_FRAMES, 344, 4))
    assert by["16_01"].num_frames == 322 and by["16_01"].meta["stride"] == 1


def test_cross_subject_protocol_holds_out_whole_subjects(ds30):
    train, test = ds30.split("cross_subject")
    assert len(train) + len(test) == 57
    tr_subj, te_subj = {s.subject for s in train}, {s.subject for s in test}
    assert te_subj == set(TEST_SUBJECTS) and not tr_subj & te_subj
    assert {s.action_name for s in test} == {s.action_name for s in train} == {"walk", "run", "jump"}
    frac = sum(s.num_frames for s in test) / sum(s.num_frames for s in ds30)
    assert 0.15 < frac < 0.35


def test_frame_counts_and_reference_pose(cmu_root: Path, ds_native):
    assert sum(s.num_frames for s in ds_native) == 25_664
    default = load_dataset(cmu_root, "cmu_mocap")
    n_09_10 = ds_native.by_id()["09_10"].num_frames
    assert sum(s.num_frames for s in default) == 25_664 - 56 * REFERENCE_FRAMES - (n_09_10 - REFERENCE_FRAMES)
    # the dropped frame 0 is the rest T-pose: root rotation exactly zero, hands at shoulder height
    t0 = ds_native.by_id()["07_01"].joints[0, 0]
    lay = get_layout("cmu43")
    for side in "lr":
        assert abs(t0[lay.index(f"{side}Hand"), 1] - t0[lay.index(f"{side}Shldr"), 1]) < 0.03


def test_native_bones_rigid_and_limb_bones_rigid_after_mapping(ds_native, ds30):
    for s in ds_native:
        bl = get_layout(s.layout).bone_lengths(s.joints[:, 0].astype(np.float64))
        mean = bl.mean(0)
        ok = mean > 1e-4
        assert (bl.std(0)[ok] / mean[ok]).max() < 1e-5, s.seq_id
    limbs = [k for k, (c, _) in enumerate(H36M.bones)
             if H36M.joints[c].split("_")[-1] in ("hip", "knee", "ankle", "elbow", "wrist")]
    for s in ds30:
        bl = H36M.bone_lengths(s.joints[:, 0].astype(np.float64))[:, limbs]
        assert (bl.std(0) / bl.mean(0)).max() < 1e-5, s.seq_id


def test_left_right_bone_lengths_match_after_mapping(ds30):
    for s in ds30:
        bl = H36M.bone_lengths(s.joints[:, 0].astype(np.float64)).mean(0)
        lengths = {H36M.joints[c]: bl[k] for k, (c, _) in enumerate(H36M.bones)}
        # cmu43 is one symmetric generic skeleton; subject 16's calibrated ASF skeleton differs
        # by up to 2.8% between its tibias.
        tol = 1e-5 if s.meta["skeleton"] == "cmu43" else 0.03
        for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            left, right = lengths[f"left_{part}"], lengths[f"right_{part}"]
            assert abs(left - right) / right < tol, (s.seq_id, part, left, right)


def test_units_are_metres(ds30, ds_native):
    by = ds30.by_id()
    # walking and running speeds of the pelvis, which only come out right in metres
    for sid, lo, hi in (("07_01", 1.0, 1.8), ("08_03", 1.0, 1.8), ("09_01", 2.5, 5.0)):
        p = by[sid].joints[:, 0, J["pelvis"]][:, [0, 2]]
        v = np.linalg.norm(p[-1] - p[0]) / ((len(p) - 1) / by[sid].fps)
        assert lo < v < hi, (sid, v)
    # standing height: eye/head-top End Site down to the toe End Sites, frame after the reference pose
    for sid, scale in (("07_01", CM), ("02_01", CM), ("16_01", ASF_UNIT)):
        clip = read_bvh(ds30.by_id()[sid].meta["source"])
        p = clip.positions(scale=scale, end_sites=True)[REFERENCE_FRAMES]
        stature = p[:, 1].max() - p[:, 1].min()
        assert 1.45 < stature < 1.95, (sid, stature)
    # h36m17 skull centre to ankle of an upright subject, Y up
    for s in ds30:
        x = s.joints[:, 0]
        span = np.median(x[:, J["head"], 1] - x[:, [J["left_ankle"], J["right_ankle"]], 1].min(1))
        assert 1.2 < span < 1.6, (s.seq_id, span)
        assert np.median(x[:, J["pelvis"], 1]) > np.median(x[:, J["left_ankle"], 1]) + 0.5, s.seq_id


def test_broken_clip_09_10_is_dropped_with_a_fault(ds30, cmu_root: Path):
    assert "09_10" not in ds30.by_id()
    (fault,) = [f for f in ds30.faults if f.seq_id == "09_10" and f.dropped]
    assert "implausible" in fault.message
    kept = load_dataset(cmu_root, "cmu_mocap", fps=30, drop_implausible=False).by_id()
    assert kept["09_10"].meta["implausible"] and not kept["09_01"].meta["implausible"]
    assert sum(s.meta["implausible"] for s in kept.values()) == 1


def test_descriptions_and_labels(ds30):
    by = ds30.by_id()
    assert by["13_10"].meta["description"] == "jump up to grab, reach for, tiptoe"
    assert by["13_10"].action_name == "jump" and by["13_10"].meta["label_source"] == "index"
    assert by["02_03"].action_name == "run" and by["02_03"].meta["label_source"] == "subset_labels"
    assert ds30.classes == ["jump", "run", "walk"]
    assert all(s.action == ds30.classes.index(s.action_name) for s in ds30)
    assert coarse_label("run/jog") == "run" and coarse_label("walk on uneven terrain") == "walk"
    assert coarse_label("playground - climb") == "other"


def test_native_layouts_and_conversion_recipes(ds_native):
    by = ds_native.by_id()
    assert by["02_01"].layout == "cmu43" and by["02_01"].num_joints == 43
    assert by["16_01"].layout == "cmu31" and by["16_01"].num_joints == 31
    for name in ("cmu43", "cmu31"):
        lay = get_layout(name)
        assert lay.h36m_matrix.shape == (17, lay.num_joints) and lay.approximations


def test_single_file_fps_options_and_errors(cmu_root: Path):
    f = next(cmu_root.rglob("09_01.bvh"))
    assert detect_format(f) == "cmu_mocap"
    one = load_dataset(f, "cmu_mocap")
    assert len(one) == 1 and one.sequences[0].fps == pytest.approx(120.0)
    assert one.sequences[0].meta["description"] == "run"  # the index is found above the file
    odd = load_dataset(f, "cmu_mocap", fps=50).sequences[0]
    n120 = 149 - REFERENCE_FRAMES
    assert odd.meta["interpolated"] and odd.fps == 50 and odd.num_frames == int((n120 - 1) / 120 * 50) + 1
    with pytest.raises(PosenasError):
        load_dataset(f, "cmu_mocap", fps=240)


def test_broken_files_in_a_folder_become_faults(cmu_root: Path, tmp_path: Path):
    src = next(cmu_root.rglob("16_01.bvh"))
    shutil.copy(src, tmp_path / "16_01.bvh")
    lines = src.read_text().splitlines()
    (tmp_path / "16_09.bvh").write_text("\n".join(lines[:-1] + [lines[-1].rsplit(" ", 3)[0]]) + "\n")
    (tmp_path / "99_01.bvh").write_text(
        "HIERARCHY\nROOT x\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\n"
        "MOTION\nFrames: 1\nFrame Time: 0.1\n1 2 3\n"
    )
    ds = load_dataset(tmp_path, "cmu_mocap")
    assert [s.seq_id for s in ds] == ["16_01"]
    faults = {Path(f.source).name: f for f in ds.faults if f.dropped}
    assert faults["16_09.bvh"].line == len(lines) and "values" in faults["16_09.bvh"].message
    assert "not a known CMU skeleton" in faults["99_01.bvh"].message
    assert any("no index" in f.message or "cmu-mocap-index" in f.message for f in ds.faults)
    native = load_dataset(tmp_path / "99_01.bvh", "cmu_mocap", layout="native")
    assert native.sequences[0].meta["units"] == "file units"
    with pytest.raises(DataFormatError) as e:
        load_dataset(tmp_path / "16_09.bvh", "cmu_mocap")
    assert e.value.line == len(lines)
