"""SBU Kinect Interaction loader on files written in the dataset's exact layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenas.datasets import load_dataset
from posenas.datasets.registry import detect_format
from posenas.datasets.sbu import CLASS_NAMES, FOLDS, load, read_sbu_file, to_original_units
from posenas.errors import DataFormatError
from posenas.core.skeleton import convert_to_h36m

ALL_PAIRS = [p for fold in FOLDS.values() for p in fold]


def _take(rng, frames=12):
    j = np.empty((frames, 2, 15, 3))
    j[..., :2] = rng.uniform(0.1, 0.9, (frames, 2, 15, 2))
    j[..., 2] = rng.uniform(1.0, 4.0, (frames, 2, 15))
    return j


@pytest.fixture(scope="module")
def sbu_root(writers, tmp_path_factory):
    """One take of class (i % 8) + 1 for every pair of the 21 official pair folders, plus a second take for s01s02."""
    root = tmp_path_factory.mktemp("sbu") / "SBU-Kinect-Interaction"
    rng = np.random.default_rng(0)
    written = {}
    for i, pair in enumerate(ALL_PAIRS):
        cls = i % 8 + 1
        written[f"{pair}/{cls:02d}/001"] = _take(rng)
        writers.write_sbu_take(root, pair, cls, 1, written[f"{pair}/{cls:02d}/001"])
    written["s01s02/03/002"] = _take(rng, 20)
    writers.write_sbu_take(root, "s01s02", 3, 2, written["s01s02/03/002"])
    return root, written


def test_detect_and_load(sbu_root):
    root, written = sbu_root
    assert detect_format(root) == "sbu"
    ds = load_dataset(root)
    assert ds.name == "sbu" and ds.layout == "sbu15" and len(ds) == len(written) and not ds.faults
    assert ds.classes == list(CLASS_NAMES) and len(ds.classes) == 8
    seqs = ds.by_id()
    for seq_id, joints in written.items():
        s = seqs[seq_id]
        assert s.joints.shape == (len(joints), 2, 15, 3) and s.fps == 15.0
        # the default is metres (the file keeps 6 decimals: 2560 * 5e-7 m = 1.3 mm at most)
        np.testing.assert_allclose(s.joints, to_original_units(joints) / 1000.0, atol=2e-3)
        assert s.meta["units"] == "m" and s.confidence is None and s.group == s.meta["pair"]
    assert ds.meta["units"] == "m"
    raw = load(root, units="normalized").by_id()
    for seq_id, joints in written.items():
        np.testing.assert_allclose(raw[seq_id].joints, joints, atol=1e-6)
        assert raw[seq_id].meta["units"] == "normalized"
    s = seqs["s01s02/03/002"]
    assert s.action == 2 and s.action_name == "kicking" and s.subject == 1 and s.meta["subjects"] == (1, 2)
    np.testing.assert_array_equal(s.meta["frames"], np.arange(1, 21))


def test_person_order_and_h36m_conversion(sbu_root):
    root, written = sbu_root
    s = load(root / "s01s02", units="normalized").by_id()["s01s02/03/002"]
    # PA is the first 45 values of the row, PB the next 45
    np.testing.assert_allclose(s.joints[:, 1], written["s01s02/03/002"][:, 1], atol=1e-6)
    h = convert_to_h36m(s.joints, "sbu15")
    assert h.shape == (20, 2, 17, 3)


def test_original_units_known_values():
    x = np.array([[0.5, 0.5, 7.8125], [0.0, 1.0, 0.0], [1.0, 0.0, 3.90625]], dtype=np.float32)
    out = to_original_units(x)
    np.testing.assert_allclose(out[0], (0.0, 0.0, 10000.0))  # x = 0.5 -> X = 0
    np.testing.assert_allclose(out[1], (1280.0, -960.0, 0.0))
    np.testing.assert_allclose(out[2], (-1280.0, 960.0, 5000.0))


def test_units_option(sbu_root):
    root, written = sbu_root
    ds = load(root, units="original")
    s = ds.by_id()["s01s02/03/002"]
    assert s.meta["units"] == "mm" and ds.meta["units"] == "mm"
    np.testing.assert_allclose(s.joints[..., 0], 1280 - 2560 * written["s01s02/03/002"][..., 0], atol=1e-2)
    np.testing.assert_allclose(s.joints[..., 2], written["s01s02/03/002"][..., 2] * 1280.0, atol=1e-2)


def test_official_folds(sbu_root):
    root, written = sbu_root
    ds = load(root)
    assert sorted(ds.protocols) == ["fold1", "fold2", "fold3", "fold4", "fold5"]
    tests_seen = []
    for name, pairs in FOLDS.items():
        train, test = ds.split(name)
        assert {s.meta["pair"] for s in test} == set(pairs)
        assert not {s.meta["pair"] for s in train} & set(pairs)
        assert len(train) + len(test) == len(ds)
        tests_seen += [s.seq_id for s in test]
    assert sorted(tests_seen) == sorted(written)  # every take is tested exactly once
    _, test1 = ds.split("fold1")
    assert "s01s02/03/002" in {s.seq_id for s in test1}
    assert {s.meta["pair"] for s in ds.split("fold5")[1]} == {"s04s02", "s04s03", "s04s06", "s06s02", "s06s03"}


def test_malformed_rows(writers, tmp_path: Path):
    rng = np.random.default_rng(1)
    path = writers.write_sbu_take(tmp_path, "s01s02", 1, 1, _take(rng, 3))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0], lines[2]]) + "\n")
    with pytest.raises(DataFormatError, match=r"skeleton_pos\.txt:2: expected 91 comma-separated values .* got 90"):
        read_sbu_file(path)
    path.write_text("\n".join([lines[0], lines[1], lines[2].replace(",", ",abc,", 1).rsplit(",", 1)[0]]) + "\n")
    with pytest.raises(DataFormatError, match=r":3: value 2 is not a number: 'abc'"):
        read_sbu_file(path)
    path.write_text("\n".join([lines[0], "", lines[1], lines[2].replace(",", ",nan,", 1).rsplit(",", 1)[0]]) + "\n")
    with pytest.raises(DataFormatError, match=r":4: non-finite coordinate"):  # line numbers count blank lines
        read_sbu_file(path)
    path.write_text("")
    with pytest.raises(DataFormatError, match="no frames"):
        read_sbu_file(path)


def test_bad_file_in_folder_is_a_fault(writers, tmp_path: Path):
    rng = np.random.default_rng(2)
    writers.write_sbu_take(tmp_path, "s01s02", 1, 1, _take(rng, 3))
    bad = writers.write_sbu_take(tmp_path, "s03s04", 2, 1, _take(rng, 3))
    bad.write_text("1,2,3\n")
    ds = load(tmp_path)
    assert len(ds) == 1 and len(ds.faults) == 1
    assert ds.faults[0].line == 1 and "s03s04" in ds.faults[0].source
    with pytest.raises(DataFormatError, match=r"s03s04/02/001/skeleton_pos\.txt:1"):
        load(tmp_path, strict=True)


def test_bad_folder_layout(writers, tmp_path: Path):
    rng = np.random.default_rng(3)
    path = writers.write_sbu_take(tmp_path, "s01s02", 9, 1, _take(rng, 2))  # class 09 does not exist
    with pytest.raises(DataFormatError, match="sXXsYY/AA/NNN"):
        load(path)
