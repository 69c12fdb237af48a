"""The accuracy levers of the action benchmark: mirror/speed/noise augmentation, the trajectory-keeping pose
space and test-time augmentation (copies of a sequence averaged into one prediction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posenas.core.skeleton import get_layout
from posenas.datasets.sequence import SkeletonDataset, SkeletonSequence
from posenas.errors import ConfigError, PosenasError
from posenas.platform.classification.train import copy_groups, evaluate_classifier
from posenas.platform.encoding.action_data import (ActionImages, AugmentConfig, augment_joints, mirror_joints,
                                                   protocol_split)
from posenas.platform.encoding.pose_space import body_pose, canonical_pose, space_layout, to_pose_space
from posenas.platform.encoding.spmf import EncodingConfig


def _walker(t: int = 30, seed: int = 0) -> np.ndarray:
    """(T, 1, 17, 3) h36m17 joints: a standing body (left on +x) drifting forward with moving arms."""
    rng = np.random.default_rng(seed)
    base = np.zeros((17, 3))
    base[1:4, 0], base[4:7, 0] = -0.15, 0.15  # right leg at -x, left leg at +x
    base[[2, 5], 1], base[[3, 6], 1] = -0.45, -0.9
    base[7:11, 1] = [0.25, 0.5, 0.6, 0.7]
    base[11:14, 0], base[14:17, 0] = [0.2, 0.45, 0.65], [-0.2, -0.45, -0.65]
    base[11:17, 1] = 0.5
    x = np.repeat(base[None], t, axis=0) + rng.normal(0, 0.01, (t, 17, 3))
    x[:, 13, 1] += np.sin(np.linspace(0, 3, t)) * 0.3  # left wrist waves
    x += np.linspace(0, 1, t)[:, None, None] * np.array([0.0, 0.0, 1.0])  # walks forward 1 m
    return x[:, None].astype(np.float32)


def test_mirror_swaps_sides_negates_x_and_is_an_involution():
    x = _walker()
    m = mirror_joints(x)
    perm = get_layout("h36m17").flip_permutation
    assert np.allclose(m[..., 0], -x[..., perm, 0]) and np.allclose(m[..., 1:], x[..., perm, 1:])
    assert np.allclose(mirror_joints(m), x)
    # the waving wrist (left, 13) is now the right wrist (16), on the body's right (-x) side
    assert np.std(m[:, 0, 16, 1]) > 5 * np.std(m[:, 0, 13, 1])
    with pytest.raises(PosenasError, match="h36m17"):
        mirror_joints(np.zeros((4, 1, 20, 3)))


def test_speed_and_noise_change_the_copy_as_configured():
    x = _walker(40)
    rng = np.random.default_rng(0)
    fast = augment_joints(x, rng, AugmentConfig(speed=(2.0, 2.0), crop=(1.0, 1.0), rotate_deg=0, scale=(1, 1)))
    assert fast.shape[0] == 20
    clean = augment_joints(x, np.random.default_rng(1), AugmentConfig(crop=(1.0, 1.0), rotate_deg=0, scale=(1, 1)))
    assert np.allclose(clean, x, atol=1e-5)
    noisy = augment_joints(x, np.random.default_rng(1), AugmentConfig(crop=(1.0, 1.0), rotate_deg=0, scale=(1, 1),
                                                                      joint_noise=0.02))
    assert 0.015 < float(np.std(noisy - x)) < 0.025
    always = augment_joints(x, np.random.default_rng(2), AugmentConfig(mirror=1.0, crop=(1, 1), rotate_deg=0, scale=(1, 1)))
    assert np.allclose(always, mirror_joints(x), atol=1e-5)


@pytest.mark.parametrize("field,value", [("mirror", 1.5), ("speed", (1.2, 0.8)), ("joint_noise", -0.1)])
def test_bad_augment_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        AugmentConfig(**{field: value})


def test_canonical_traj_keeps_the_path_and_canonical_removes_it():
    x = _walker()
    per_frame = canonical_pose(x, "h36m17")
    traj = canonical_pose(x, "h36m17", keep_trajectory=True)
    assert np.abs(per_frame[:, 0, 0]).max() < 1e-6  # pelvis at the origin in every frame
    path = np.linalg.norm(traj[-1, 0, 0] - traj[0, 0, 0])
    assert path == pytest.approx(1.0, abs=0.05)  # the 1 m walk survives the rotation
    assert np.abs(traj[:, 0, 0].mean(axis=0)).max() < 1e-5  # centred on the clip's mean pelvis
    # same body frame: pose relative to the pelvis is identical
    assert np.allclose(traj - traj[:, :, :1], per_frame, atol=1e-5)


def _turn(deg: float, axis: int) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    p, q = [i for i in range(3) if i != axis]
    r = np.eye(3)
    r[p, p], r[p, q], r[q, p], r[q, q] = c, -s, s, c
    return r


@pytest.mark.parametrize("space", ["body", "body3d"])
def test_body_spaces_keep_the_joints_and_remove_place_turn_and_size(space):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (25, 1, 20, 3)) + np.array([0.0, 1.0, 3.0])  # kinect20, any shape of body
    x[:, 0, 2, 1] += 0.6  # kinect20 joint 2 (the shoulder centre) above the hip centre: y is up
    # body3d undoes any rotation; body only a turn about the vertical (y)
    rot = _turn(70.0, 1) if space == "body" else _turn(70.0, 1) @ _turn(20.0, 0)
    moved = 2.5 * x @ rot.T + np.array([1.0, -2.0, 0.5])  # another place, view and unit
    ref = to_pose_space(x, "kinect20", space)
    assert ref.shape == x.shape and space_layout(space, "kinect20") == "kinect20"  # no joint dropped
    assert np.allclose(to_pose_space(moved, "kinect20", space), ref, atol=1e-4)
    # a left-handed recording of the same scene (x mirrored) lands in the same right-handed body frame
    assert np.allclose(to_pose_space(x * np.array([-1.0, 1, 1]), "kinect20", space, left_handed=True), ref, atol=1e-5)
    # and a mirrored scene read as right-handed does not: the frame is not reflection-invariant
    assert not np.allclose(to_pose_space(x * np.array([-1.0, 1, 1]), "kinect20", space), ref, atol=1e-2)
    # the walker: its left hip on +x, its thorax up, a mean torso of length 1, the mean pelvis at 0
    w = to_pose_space(_walker().astype(np.float64) * 3.0, "h36m17", space)
    assert w[:, 0, 4, 0].mean() > 0.1 and w[:, 0, 1, 0].mean() < -0.1
    assert np.linalg.norm(w[:, 0, 8] - w[:, 0, 0], axis=-1).mean() == pytest.approx(1.0, abs=1e-5)
    assert np.abs(w[:, 0, 0].mean(axis=0)).max() < 1e-5 and (w[:, 0, 8, 1] > w[:, 0, 0, 1]).all()


def test_body_keeps_gravity_and_body3d_straightens_a_bend():
    # a walker bent forward by 40 degrees for the whole clip, in camera axes (y down) like the lifter's output
    bent = _walker().astype(np.float64) @ _turn(40.0, 0).T * np.array([1.0, -1.0, -1.0])
    up = lambda w: w[:, 0, 8] - w[:, 0, 0]  # noqa: E731  pelvis -> thorax
    for_body = up(body_pose(bent, "h36m17"))
    tilt = np.degrees(np.arccos(for_body[:, 1] / np.linalg.norm(for_body, axis=-1))).mean()
    assert tilt == pytest.approx(40.0, abs=3.0)  # the bend is kept, with y turned up
    straight = up(body_pose(bent, "h36m17", tilt=True))
    assert np.abs(straight[:, [0, 2]]).mean() < 0.05 * np.abs(straight[:, 1]).mean()


class _Fixed(torch.nn.Module):
    """Returns the logits stored in the image's first pixel, so predictions are chosen by the test."""

    def forward(self, x):
        return x[:, :2, 0, 0]


def _images(values, labels, ids):
    imgs = np.zeros((len(values), 2, 2, 3), np.uint8)
    imgs[:, 0, 0, :2] = np.asarray(values, np.uint8)
    return ActionImages(imgs, np.asarray(labels), ids, np.zeros(len(ids)), ["a", "b"])


def test_test_time_augmentation_averages_copies_per_sequence():
    ids = ["s1", "s1#aug1", "s1#aug2", "s2"]
    assert copy_groups(ids)[0].tolist() == [0, 0, 0, 1]
    # s1: the plain image says class 1 weakly, two copies say class 0 clearly -> 0 on average; s2 says 1
    data = _images([[120, 140], [200, 60], [200, 60], [0, 255]], [0, 0, 0, 1], ids)
    ev = evaluate_classifier(_Fixed(), data)
    assert ev["num_samples"] == 2 and ev["predictions"].tolist() == [0, 1] and ev["accuracy"] == 1.0
    # per source sequence, what a late fusion averages: its id, label and mean softmax over its copies
    assert ev["sequences"] == ["s1", "s2"] and ev["labels"].tolist() == [0, 1]
    assert ev["probabilities"].shape == (2, 2) and np.allclose(ev["probabilities"].sum(1), 1.0)
    assert ev["probabilities"][0, 0] > 0.5 > ev["probabilities"][1, 0]
    # without grouping the first row alone would be wrong: the same rows as separate sequences give 3/4
    alone = _images([[120, 140], [200, 60], [200, 60], [0, 255]], [0, 0, 0, 1], ["a", "b", "c", "d"])
    assert evaluate_classifier(_Fixed(), alone)["accuracy"] == 0.75


def test_protocol_split_adds_test_copies_only_when_asked(tmp_path):
    from posenas.datasets.sequence import Split

    seqs = [SkeletonSequence(_walker(20, seed=i + 10 * a + 100 * s), layout="h36m17", fps=30,
                             seq_id=f"a{a}_s{s}_e{i}", subject=s, action=a)
            for a in range(2) for s in range(1, 5) for i in range(2)]
    train = tuple(s.seq_id for s in seqs if s.subject in (1, 3))
    test = tuple(s.seq_id for s in seqs if s.subject in (2, 4))
    ds = SkeletonDataset("toy", tmp_path, "h36m17", seqs, classes=["x", "y"],
                         protocols={"cs": Split("cs", train, test)})
    enc = EncodingConfig(size=8)
    tr, va, te = protocol_split(ds, "cs", enc, augment_train=2, val_fraction=0.5, cache_dir=tmp_path)
    assert len(te) == len(test) and va is not None and len(va) == 4
    tr2, va2, te2 = protocol_split(ds, "cs", enc, augment_train=2, val_fraction=0.5, cache_dir=tmp_path,
                                   augment_test=3)
    assert len(te2) == 4 * len(test) and len(va2) == 16 and len(tr2) == len(tr)
    assert copy_groups(te2.seq_ids)[1] == len(test)
    assert np.array_equal(te2.images[::4], te.images)  # the plain image is still each sequence's first row


def test_mirror_in_the_native_space_uses_the_dataset_layout(tmp_path):
    """MSR's msr20 layout: the mirror swaps its own left/right joints, and a native-space split accepts it."""
    from posenas.datasets.sequence import Split

    lay = get_layout("msr20")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 1, lay.num_joints, 3))
    m = mirror_joints(x, "msr20")
    left, right = lay.lr_pairs[0]
    assert np.allclose(m[..., left, 0], -x[..., right, 0]) and np.allclose(m[..., left, 1:], x[..., right, 1:])
    assert np.allclose(mirror_joints(m, "msr20"), x)
    with pytest.raises(PosenasError, match="msr20"):
        mirror_joints(_walker(), "msr20")
    still = AugmentConfig(mirror=1.0, crop=(1, 1), rotate_deg=0, scale=(1, 1))
    assert np.allclose(augment_joints(x, np.random.default_rng(0), still, "msr20"), m, atol=1e-5)

    seqs = [SkeletonSequence(rng.normal(size=(15, 1, lay.num_joints, 3)) + [0, 0, 3], layout="msr20", fps=15,
                             seq_id=f"a{a}_s{s}", subject=s, action=a) for a in range(2) for s in range(1, 5)]
    ds = SkeletonDataset("toy", tmp_path, "msr20", seqs, classes=["x", "y"],
                         protocols={"cs": Split("cs", tuple(s.seq_id for s in seqs if s.subject in (1, 3)),
                                                tuple(s.seq_id for s in seqs if s.subject in (2, 4)))})
    train, _, _ = protocol_split(ds, "cs", EncodingConfig(size=8), augment_train=1, val_fraction=0.5, use_cache=False,
                                 space="native", augment_config=still)
    assert len(train) == 4 and train.seq_ids[1].endswith("#aug1")


def test_pair_order_follows_the_space_layout_in_splits_and_the_pipeline_encoder(tmp_path):
    """native keeps the dataset's layout (msr20), the canonical spaces are h36m17: the order uses the right one."""
    from posenas.datasets.sequence import Split
    from posenas.platform.encoding.encoder import ActionEncoder
    from posenas.platform.encoding.spmf import encode_sequence

    lay = get_layout("msr20")
    rng = np.random.default_rng(5)
    seqs = [SkeletonSequence(rng.normal(size=(15, 1, lay.num_joints, 3)) + [0, 0, 3], layout="msr20", fps=15,
                             seq_id=f"a{a}_s{s}", subject=s, action=a) for a in range(2) for s in range(1, 5)]
    ds = SkeletonDataset("toy", tmp_path, "msr20", seqs, classes=["x", "y"],
                         protocols={"cs": Split("cs", tuple(s.seq_id for s in seqs if s.subject in (1, 3)),
                                                tuple(s.seq_id for s in seqs if s.subject in (2, 4)))})
    # "parts", not "chain": h36m17's file order already is its chain order, so "chain" changes nothing there
    assert get_layout("h36m17").chain_order == tuple(range(17))
    # the joint image's tree-walk rows need the layout the same way
    for chain, plain_cfg in ((EncodingConfig(size=8, pair_order="parts"), EncodingConfig(size=8)),
                             (EncodingConfig(encoding="joints", size=8, joint_rows="tree"),
                              EncodingConfig(encoding="joints", size=8))):
        for space in ("native", "canonical"):
            _, _, test = protocol_split(ds, "cs", chain, val_fraction=0.5, use_cache=False, space=space)
            _, _, plain = protocol_split(ds, "cs", plain_cfg, val_fraction=0.5, use_cache=False, space=space)
            assert len(test) == 4 and not np.array_equal(test.images, plain.images)
            enc = ActionEncoder(chain, space)
            joints = enc.person_joints(seqs[1].joints, "msr20")[0]
            layout = "msr20" if space == "native" else "h36m17"
            assert np.array_equal(enc.encode(joints, layout="msr20"), encode_sequence(joints, config=chain, layout=layout))


def _literal_choices(command, option: str) -> set:
    """The values a CLI option's Literal (or Optional[Literal]) type hint allows."""
    import typing

    hint = typing.get_type_hints(command)[option]
    if typing.get_origin(hint) is not typing.Literal:  # Optional[Literal[...]]
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return set(typing.get_args(hint))


def test_cli_space_choices_are_the_pose_spaces():
    # the CLI's --space lists are typed literals; they must not drift from pose_space.POSE_SPACES
    from posenas.cli.search import search
    from posenas.cli.train import train
    from posenas.platform.encoding.pose_space import POSE_SPACES

    for command in (search, train):
        assert _literal_choices(command, "space") == set(POSE_SPACES), command.__name__


def test_cli_encoding_choices_are_the_encodings():
    # --encoding is a typed literal on search and train; it must not drift from spmf.ENCODINGS
    from posenas.cli.search import search
    from posenas.cli.train import train
    from posenas.platform.encoding.spmf import ENCODINGS

    for command in (search, train):
        assert _literal_choices(command, "encoding") == set(ENCODINGS), command.__name__


def test_a_genotype_trains_on_the_images_it_was_searched_on():
    from posenas.search.data import DEFAULT_DATASET_SPACE, searched_images

    meta = {"data_spec": {"poses": "dataset", "space": "body", "encoding": {"encoding": "joints", "size": 24}}}
    assert searched_images(meta, "dataset", None, None) == ("body", {"encoding": "joints", "size": 24})
    # options given win, field by field: the search's size stays with another encoding
    assert searched_images(meta, "dataset", "native", {"encoding": "spmf"}) == ("native", {"encoding": "spmf", "size": 24})
    # lifted poses train in canonical whatever the search used; a genotype without a record gets the defaults
    assert searched_images(meta, "lifted", None, None)[0] == "canonical"
    assert searched_images({}, "dataset", None, None) == (DEFAULT_DATASET_SPACE, {})
    with pytest.raises(PosenasError, match="canonical"):
        searched_images({}, "lifted", "native", None)


def test_joint_image_options_follow_the_search_and_leave_with_the_joint_image():
    from posenas.errors import ConfigError
    from posenas.search.data import image_options, searched_images

    meta = {"data_spec": {"space": "native", "encoding": {"encoding": "joints", "joint_rows": "tree"}}}
    assert searched_images(meta, "dataset", None, image_options()) == ("native", {"encoding": "joints", "joint_rows": "tree"})
    assert searched_images(meta, "dataset", None, image_options(joint_scale="isotropic"))[1] == {
        "encoding": "joints", "joint_rows": "tree", "joint_scale": "isotropic"}
    # a pair image has no joint rows: the search's joint-image fields are dropped, not passed on to fail
    assert searched_images(meta, "dataset", None, image_options("spmf"))[1] == {"encoding": "spmf"}
    assert image_options(None, joint_motion=False) == {"joint_motion": False}  # given, even when false
    with pytest.raises(ConfigError, match="--joint-rows applies to --encoding joints only"):
        image_options("enhanced_spmf", joint_rows="tree")


def test_cli_joint_image_choices_are_the_configs():
    from posenas.cli.search import search
    from posenas.cli.train import train
    from posenas.platform.encoding.spmf import JOINT_ROWS, JOINT_SCALES

    for command in (search, train):
        assert _literal_choices(command, "joint_scale") == set(JOINT_SCALES), command.__name__
        assert _literal_choices(command, "joint_rows") == set(JOINT_ROWS), command.__name__
