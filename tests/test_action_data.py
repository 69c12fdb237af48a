"""Action-image datasets: protocol splits on real MSR Action3D / UTKinect, label remapping, cache, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenas.datasets.sequence import SkeletonDataset, SkeletonSequence, Split
from posenas.errors import PosenasError
from posenas.platform.encoding.action_data import (
    ActionImages,
    augment_joints,
    build_action_images,
    protocol_split,
    protocol_split_sequences,
    split_sequences,
)
from posenas.platform.encoding.spmf import EncodingConfig

CFG = EncodingConfig(size=16)


@pytest.fixture(scope="module")
def msr(msr_root: Path) -> SkeletonDataset:
    from posenas.datasets.registry import load_dataset

    return load_dataset(msr_root, "msr_action3d", subset="cvpr12")


def _subjects(part: ActionImages | None) -> set[int]:
    return set() if part is None else set(part.subjects.tolist())


@pytest.mark.realdata
@pytest.mark.parametrize("protocol,aug", [("cross_subject", 0), ("AS2", 1)])
def test_msr_split_is_subject_disjoint(msr, protocol, aug, tmp_path):
    train, val, test = protocol_split(msr, protocol, CFG, augment_train=aug, cache_dir=tmp_path)
    tr, va, te = _subjects(train), _subjects(val), _subjects(test)
    assert te == {2, 4, 6, 8, 10}
    assert not (tr & te) and not (va & te) and not (tr & va)
    assert tr | va == {1, 3, 5, 7, 9} and len(va) == 1
    base = {s.split("#")[0] for s in train.seq_ids}
    assert not base & set(test.seq_ids) and not base & set(val.seq_ids)
    # `aug` augmented copies per training sequence, none for val/test
    assert len(train) == (1 + aug) * len(base)
    assert not any("#" in s for s in val.seq_ids + test.seq_ids)
    n_classes = 20 if protocol == "cross_subject" else 8
    assert train.num_classes == test.num_classes == n_classes
    assert set(test.labels.tolist()) == set(range(n_classes))
    assert train.images.shape[1:] == (16, 16, 3) and train.images.dtype == np.uint8


@pytest.mark.realdata
def test_msr_subset_labels_follow_subset_classes(msr, tmp_path):
    from posenas.datasets.msr_action3d import subset_classes

    _, _, test = protocol_split(msr, "AS1", CFG, val_fraction=0.0, cache_dir=tmp_path)
    by_id = msr.by_id()
    for sid, label in zip(test.seq_ids, test.labels):
        assert subset_classes("AS1").index(by_id[sid].action) == label
    assert test.classes[0] == msr.classes[subset_classes("AS1")[0]]


@pytest.mark.realdata
def test_explicit_val_subjects_and_bad_ones(msr):
    parts = split_sequences(msr, "cross_subject", val_subjects=[3, 7])
    assert {s.subject for s in parts.val} == {3, 7}
    assert {s.subject for s in parts.train} == {1, 5, 9}
    with pytest.raises(PosenasError, match="not training subjects"):
        split_sequences(msr, "cross_subject", val_subjects=[2])


@pytest.mark.realdata
def test_cache_roundtrip_and_key(msr, tmp_path):
    seqs = msr.sequences[:12]
    a = build_action_images(msr, CFG, sequences=seqs, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    b = build_action_images(msr, CFG, sequences=seqs, cache_dir=tmp_path)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.seq_ids == b.seq_ids and a.classes == b.classes
    # different joints under the same ids must not hit the cache
    moved = [SkeletonSequence(s.joints * 1.5 + np.float32([0.3, 0, 0]), s.layout, s.fps, s.seq_id, s.subject,
                              s.action, s.action_name) for s in seqs]
    build_action_images(msr, CFG, sequences=moved, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    build_action_images(msr, EncodingConfig(encoding="spmf", size=16), sequences=seqs, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 3


@pytest.mark.realdata
def test_utkinect_cross_subject(utkinect_root, tmp_path):
    from posenas.datasets.registry import load_dataset

    ds = load_dataset(utkinect_root, "utkinect")
    train, val, test = protocol_split(ds, "cross_subject", CFG, cache_dir=tmp_path)
    assert train.num_classes == 10
    assert not (_subjects(train) | _subjects(val)) & _subjects(test)
    assert len(train) + len(val) + len(test) == len(ds)


@pytest.mark.realdata
def test_sequences_for_tcn_share_the_split(msr, tmp_path):
    train, val, test = protocol_split(msr, "AS3", CFG, cache_dir=tmp_path)
    s_train, s_val, s_test = protocol_split_sequences(msr, "AS3", frames=24)
    assert s_train.seq_ids == train.seq_ids and s_val.seq_ids == val.seq_ids and s_test.seq_ids == test.seq_ids
    np.testing.assert_array_equal(s_test.labels, test.labels)
    assert s_train.features.shape[1:] == (24, 17 * 3)  # the canonical pose space: one h36m17 person
    assert np.isfinite(s_train.features).all()


def _toy_dataset(n_frames=(12, 12, 1)) -> SkeletonDataset:
    rng = np.random.default_rng(0)
    seqs = [SkeletonSequence(rng.normal(size=(t, 2, 15, 3)), "sbu15", 15.0, f"q{i}", subject=i + 1, action=i % 2)
            for i, t in enumerate(n_frames)]
    return SkeletonDataset("toy", Path("/nonexistent"), "sbu15", seqs, classes=["a", "b"],
                           protocols={"p": Split("p", ("q0", "q2"), ("q1",))})


def test_two_person_toy_and_short_sequence_error(tmp_path):
    ds = _toy_dataset((12, 12, 9))
    imgs = build_action_images(ds, CFG, augment=2, cache_dir=tmp_path)
    assert len(imgs) == 9 and imgs.seq_ids[:3] == ["q0", "q0#aug1", "q0#aug2"]
    bad = _toy_dataset((12, 12, 1))
    with pytest.raises(PosenasError, match="q2"):
        build_action_images(bad, CFG, use_cache=False)


def test_augment_copies_differ_but_keep_length_bounds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1, 20, 3)).astype(np.float32)
    y = augment_joints(x, np.random.default_rng(1))
    assert 40 <= y.shape[0] <= 50 and y.shape[1:] == x.shape[1:]
    assert not np.allclose(y, x[: y.shape[0]])
