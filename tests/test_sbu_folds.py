"""SBU validation is carved out of whole training *pairs* (the unit of its folds); SBU's default units are metric.

Files are written in the dataset's exact layout (sXXsYY/AA/NNN/skeleton_pos.txt, normalised values): one
take of every class for each of the 21 official pair folders, so every one of the five folds is populated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenas.datasets.sbu import FOLDS, load, read_sbu_file
from posenas.datasets.sequence import SkeletonDataset, SkeletonSequence, Split
from posenas.errors import PosenasError
from posenas.platform.encoding.action_data import protocol_split_sequences, split_sequences

ALL_PAIRS = [p for fold in FOLDS.values() for p in fold]


def _to_normalized(mm: np.ndarray) -> np.ndarray:
    """Millimetres -> SBU normalised values: the inverse of the README's X = 1280 - 2560 x, ..."""
    out = np.empty_like(mm)
    out[..., 0] = (1280.0 - mm[..., 0]) / 2560.0
    out[..., 1] = (960.0 - mm[..., 1]) / 1920.0
    out[..., 2] = mm[..., 2] * 7.8125 / 10000.0
    return out


@pytest.fixture(scope="module")
def sbu(writers, tmp_path_factory) -> SkeletonDataset:
    root = tmp_path_factory.mktemp("sbu_folds") / "SBU"
    rng = np.random.default_rng(0)
    for pair in ALL_PAIRS:
        for cls in range(1, 9):
            j = np.empty((4, 2, 15, 3))
            j[..., :2] = rng.uniform(0.2, 0.8, (4, 2, 15, 2))
            j[..., 2] = rng.uniform(1.5, 3.0, (4, 2, 15))
            writers.write_sbu_take(root, pair, cls, 1, j)
    ds = load(root)
    assert len(ds) == 21 * 8 and not ds.faults
    return ds


def _pairs(seqs: list[SkeletonSequence]) -> set[str]:
    return {s.meta["pair"] for s in seqs}


def _persons(seqs: list[SkeletonSequence]) -> set[int]:
    return {p for s in seqs for p in s.meta["subjects"]}


@pytest.mark.parametrize("fold", sorted(FOLDS))
def test_every_official_fold_carves_val_from_training_pairs(sbu, fold):
    train_all, test_all = sbu.split(fold)
    assert _persons(train_all) & _persons(test_all)  # persons recur across folds: subject-wise val must fail
    parts = split_sequences(sbu, fold, val_fraction=0.2)
    tr, va, te = _pairs(parts.train), _pairs(parts.val), _pairs(parts.test)
    assert te == set(FOLDS[fold])
    assert parts.val and va <= _pairs(train_all)
    assert not va & te and not tr & te and not tr & va
    n_train_pairs = 21 - len(FOLDS[fold])
    assert len(va) == round(0.2 * n_train_pairs) and tr | va == _pairs(train_all)
    assert parts.val_groups == sorted(va)
    assert parts.val_subjects == sorted({s.subject for s in parts.val})
    assert sorted(s.seq_id for s in parts.train + parts.val + parts.test) == sorted(s.seq_id for s in sbu)
    assert parts.classes == sbu.classes and parts.label_map == {a: a for a in range(8)}
    for part in (parts.train, parts.val, parts.test):
        assert {parts.label_map[s.action] for s in part} == set(range(8))


def test_seed_changes_the_val_pairs_not_their_count(sbu):
    drawn = {tuple(split_sequences(sbu, "fold1", seed=seed).val_groups) for seed in range(6)}
    assert len(drawn) > 1 and {len(d) for d in drawn} == {3}


def test_explicit_val_groups_and_bad_ones(sbu):
    parts = split_sequences(sbu, "fold2", val_groups=["s01s02", "s06s04"])
    assert _pairs(parts.val) == {"s01s02", "s06s04"} and parts.val_subjects == [1, 6]
    with pytest.raises(PosenasError, match=r"val groups \['s02s03'\] are not training groups"):
        split_sequences(sbu, "fold2", val_groups=["s02s03"])  # a test pair of fold2
    with pytest.raises(PosenasError, match="name the validation part with val_groups"):
        split_sequences(sbu, "fold2", val_subjects=[1])


def test_sequences_for_tcn_on_an_sbu_fold(sbu):
    train, val, test = protocol_split_sequences(sbu, "fold3", frames=8)
    assert val is not None and len(train) + len(val) + len(test) == len(sbu)
    assert not {i.split("/")[0] for i in val.seq_ids} & set(FOLDS["fold3"])
    assert train.features.shape[1:] == (8, 2 * 17 * 3) and np.isfinite(train.features).all()


# --- units -------------------------------------------------------------------------------------
def test_default_units_are_isotropic_metres(writers, tmp_path: Path):
    """A 0.25 m step along X, Y and Z from a known point is 0.25 m in the default units, whatever the axis."""
    start = np.array([100.0, -200.0, 2500.0])  # mm
    steps = np.array([[0, 0, 0], [250, 0, 0], [0, 250, 0], [0, 0, 250]], dtype=np.float64)
    mm = np.zeros((4, 2, 15, 3))
    mm[:] = start
    mm[:, 0, 0] = start + steps  # person 1, HEAD moves one axis at a time
    path = writers.write_sbu_take(tmp_path, "s01s02", 1, 1, _to_normalized(mm))
    metres, _ = read_sbu_file(path)
    lengths = np.linalg.norm(metres[1:, 0, 0] - metres[0, 0, 0], axis=-1)
    np.testing.assert_allclose(lengths, 0.25, atol=2e-3)  # 6 stored decimals: at most 1.3 mm off
    np.testing.assert_allclose(metres, mm / 1000.0, atol=2e-3)
    raw, _ = read_sbu_file(path, units="normalized")
    raw_lengths = np.linalg.norm(raw[1:, 0, 0] - raw[0, 0, 0], axis=-1)
    assert raw_lengths.max() / raw_lengths.min() > 1.9  # the stored values are anisotropic (2560 vs 1280 mm/unit)
    millimetres, _ = read_sbu_file(path, units="mm")
    np.testing.assert_allclose(millimetres / 1000.0, metres, rtol=1e-6)
    ds = load(tmp_path, units="normalized")
    assert ds.meta["units"] == ds.sequences[0].meta["units"] == "normalized"
    assert load(tmp_path).meta["units"] == "m" and load(tmp_path, units="original").meta["units"] == "mm"


def test_bad_units_option_is_one_clear_error(writers, tmp_path: Path):
    writers.write_sbu_take(tmp_path, "s01s02", 1, 1, np.full((2, 2, 15, 3), 0.5))
    with pytest.raises(PosenasError, match="units must be one of m, mm, original, normalized, got 'cm'"):
        load(tmp_path, units="cm")


# --- subject datasets keep the subject-wise carve-out --------------------------------------------
def _subject_dataset() -> SkeletonDataset:
    """MSR/UTKinect-style: 6 subjects x 2 actions x 2 takes; a cross-subject and a leave-one-take-out protocol."""
    rng = np.random.default_rng(1)
    seqs = [SkeletonSequence(rng.normal(size=(4, 1, 15, 3)), "sbu15", 15.0, f"a{a}_s{s}_e{e}", subject=s, action=a)
            for s in range(1, 7) for a in range(2) for e in range(2)]
    ids = [q.seq_id for q in seqs]
    protocols = {
        "cross_subject": Split("cross_subject", tuple(i for i, q in zip(ids, seqs) if q.subject % 2),
                               tuple(i for i, q in zip(ids, seqs) if not q.subject % 2)),
        "loso/s2_e0": Split("loso/s2_e0", tuple(i for i in ids if not i.endswith("_s2_e0")),
                            tuple(i for i in ids if i.endswith("_s2_e0"))),
    }
    return SkeletonDataset("toy", Path("/nonexistent"), "sbu15", seqs, classes=["a", "b"], protocols=protocols)


def test_subject_datasets_hold_out_whole_training_subjects():
    ds = _subject_dataset()
    parts = split_sequences(ds, "cross_subject", val_fraction=0.34)
    va = {s.subject for s in parts.val}
    assert len(va) == 1 and va <= {1, 3, 5} and not va & {s.subject for s in parts.train}
    assert parts.val_subjects == parts.val_groups == sorted(va)
    assert split_sequences(ds, "cross_subject", val_subjects=[3, 5]).val_groups == [3, 5]
    with pytest.raises(PosenasError, match="not training subjects"):
        split_sequences(ds, "cross_subject", val_subjects=[2])


def test_subject_shared_with_the_test_split_is_never_drawn_and_cannot_be_named():
    ds = _subject_dataset()  # loso: subject 2 is in the test split and (other takes) in training
    for seed in range(10):
        parts = split_sequences(ds, "loso/s2_e0", val_fraction=0.2, seed=seed)
        assert parts.val and 2 not in {s.subject for s in parts.val}
    with pytest.raises(PosenasError, match=r"validation subjects \[2\] overlap the test split"):
        split_sequences(ds, "loso/s2_e0", val_subjects=[2])
