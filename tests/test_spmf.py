"""SPMF / Enhanced-SPMF / joint images on hand-built skeletons whose distances and orientations are known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from posenas.errors import ConfigError, PosenasError
from posenas.platform.encoding.spmf import (
    EncodingConfig,
    clahe,
    denoise,
    encode_sequence,
    interleave,
    joints_raw,
    motion_features,
    pair_indices,
    pose_features,
    spmf_raw,
)


def two_joints(frames: int = 3, step: float = 0.0) -> np.ndarray:
    """Joint 0 at the origin, joint 1 one metre along x; both move `step` metres along y per frame."""
    x = np.zeros((frames, 1, 2, 3))
    x[:, 0, 1, 0] = 1.0
    x[:, 0, :, 1] += step * np.arange(frames)[:, None]
    return x


def pair_row(n: int, i: int, j: int) -> int:
    a, b = pair_indices(n)
    return int(np.nonzero((a == i) & (b == j))[0][0])


def test_pose_features_known_distance_and_orientation():
    d, o = pose_features(two_joints())
    k = pair_row(2, 0, 1)
    assert d.shape == (3, 3) and o.shape == (3, 3, 3)  # pairs (0,0), (0,1), (1,1)
    np.testing.assert_allclose(d[:, k], 1.0)
    np.testing.assert_allclose(o[:, k], [[1.0, 0.0, 0.0]] * 3)
    # the diagonal of the pose features is empty (no distance, no direction)
    np.testing.assert_allclose(d[:, pair_row(2, 0, 0)], 0.0)
    np.testing.assert_allclose(o[:, pair_row(2, 1, 1)], 0.0)


def test_motion_features_known_displacement():
    d, o = motion_features(two_joints(frames=4, step=0.5))
    assert d.shape == (3, 3)
    diag = pair_row(2, 0, 0)
    np.testing.assert_allclose(d[:, diag], 0.5)  # each joint moves 0.5 m per frame
    np.testing.assert_allclose(o[:, diag], [[0.0, 1.0, 0.0]] * 3)
    cross = pair_row(2, 0, 1)  # joint 0 at t to joint 1 at t+1: (1, 0.5, 0)
    np.testing.assert_allclose(d[:, cross], np.hypot(1.0, 0.5))
    np.testing.assert_allclose(o[:, cross], np.tile(np.array([1.0, 0.5, 0.0]) / np.hypot(1.0, 0.5), (3, 1)))


def test_motion_stride_spans_k_frames_and_clamps_at_the_end():
    d, _ = motion_features(two_joints(frames=6, step=0.5), stride=3)
    assert d.shape == (5, 3)  # still T - 1 columns
    # joint 0 from t to min(t + 3, 5): 3, 3, 3, 2, 1 frames of 0.5 m
    np.testing.assert_allclose(d[:, pair_row(2, 0, 0)], [1.5, 1.5, 1.5, 1.0, 0.5])
    np.testing.assert_allclose(motion_features(two_joints(frames=6, step=0.5), stride=1)[0],
                               motion_features(two_joints(frames=6, step=0.5))[0])
    a = encode_sequence(two_joints(frames=6, step=0.5), encoding="spmf", size=8)
    b = encode_sequence(two_joints(frames=6, step=0.5), encoding="spmf", size=8, motion_stride=3)
    assert a.shape == b.shape and not np.array_equal(a, b)
    with pytest.raises(ConfigError, match="motion_stride"):
        EncodingConfig(motion_stride=0)


def test_interleave_order():
    pose = np.array([10, 20, 30])
    motion = np.array([15, 25])
    np.testing.assert_array_equal(interleave(pose, motion), [10, 15, 20, 25, 30])
    with pytest.raises(ValueError):
        interleave(pose, np.array([1, 2, 3]))


def test_spmf_raw_layout_and_colour_coding():
    x = two_joints(frames=4, step=0.5)
    img = spmf_raw(x)
    k = 3  # pairs
    assert img.shape == (2 * k, 2 * 4 - 1, 3) and img.dtype == np.uint8
    jjo = img[k:]
    # pose column 0, pair (0,1): direction +x -> R = 255, G = B = 127.5 (rounded)
    r = pair_row(2, 0, 1)
    np.testing.assert_array_equal(jjo[r, 0], [255, 128, 128])
    # motion column 1, diagonal pair: direction +y -> G = 255
    np.testing.assert_array_equal(jjo[pair_row(2, 0, 0), 1], [128, 255, 128])
    # JJD: the largest distance (1.118 m, motion cross pair) maps to the top of JET (dark red),
    # the zero distances (pose diagonal) to its bottom (dark blue)
    jjd = img[:k]
    top, bottom = jjd[pair_row(2, 0, 1), 1], jjd[pair_row(2, 0, 0), 0]
    assert top[0] > 100 and top[2] == 0
    assert bottom[2] > 100 and bottom[0] == 0


def test_encode_shapes_all_encodings():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 20, 3))
    for enc in ("enhanced_spmf", "spmf", "joints"):
        for size in (32, 64):
            img = encode_sequence(x, enc, size)
            assert img.shape == (size, size, 3) and img.dtype == np.uint8
    cfg = EncodingConfig(encoding="spmf", size=16)
    assert encode_sequence(x, config=cfg).shape == (16, 16, 3)


def test_frames_resamples_time_before_encoding():
    """Straight-line motion: 9 frames of 0.1 m steps resampled to 5 frames are 5 frames of 0.2 m steps."""
    long_clip, short_clip = two_joints(9, 0.1), two_joints(5, 0.2)
    for enc in ("enhanced_spmf", "spmf"):
        resampled = encode_sequence(long_clip, enc, 32, frames=5)
        assert np.array_equal(resampled, encode_sequence(short_clip, enc, 32))
        assert not np.array_equal(resampled, encode_sequence(long_clip, enc, 32))
    with pytest.raises(PosenasError, match="EncodingConfig.frames"):
        EncodingConfig(frames=1)


def test_joints_image_maps_axes_to_channels():
    x = np.zeros((5, 1, 3, 3))
    x[:, 0, :, 0] = np.arange(5)[:, None]  # x grows with time, y and z constant
    img = joints_raw(x)
    assert img.shape == (3, 5, 3)
    np.testing.assert_array_equal(img[0, :, 0], [0, 64, 128, 191, 255])
    assert (img[..., 1] == img[0, 0, 1]).all() and (img[..., 2] == img[0, 0, 2]).all()


def test_clahe_changes_contrast_keeps_shape_and_dtype():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(scale=0.02, size=(60, 1, 15, 3)), axis=0) + rng.normal(size=(1, 1, 15, 3))
    plain = encode_sequence(x, "spmf", 32)
    enhanced = encode_sequence(x, "enhanced_spmf", 32)
    assert enhanced.shape == plain.shape and enhanced.dtype == plain.dtype
    assert not np.array_equal(enhanced, plain)
    # a low-contrast image gets a wider luminance spread
    low = np.full((64, 64, 3), 120, np.uint8)
    low[:, :32] = 130
    out = clahe(low, clip_limit=4.0, tile_grid=(2, 2))
    assert out.shape == low.shape and out.dtype == np.uint8
    assert np.ptp(out.astype(int)) > np.ptp(low.astype(int))
    per_channel = clahe(low, mode="per_channel")
    assert per_channel.shape == low.shape
    with pytest.raises(ValueError):
        clahe(low, mode="nope")


def test_multi_person_concatenates_joints():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(10, 1, 15, 3))
    b = rng.normal(size=(10, 1, 15, 3)) + 2.0
    both = np.concatenate([a, b], axis=1)
    d, _ = pose_features(both)
    n = 30
    assert d.shape == (10, n * (n + 1) // 2)
    # the distance between person A's joint 0 and person B's joint 0 is one of the pair features
    np.testing.assert_allclose(d[:, pair_row(n, 0, 15)], np.linalg.norm(b[:, 0, 0] - a[:, 0, 0], axis=-1))
    assert encode_sequence(both).shape == (32, 32, 3)


@pytest.mark.parametrize("encoding", ["enhanced_spmf", "spmf", "joints"])
def test_errors_name_the_sequence(encoding):
    with pytest.raises(PosenasError, match="seqA.*at least 2 frames"):
        encode_sequence(np.zeros((1, 1, 20, 3)), encoding, seq_id="seqA")
    x = np.random.default_rng(3).normal(size=(10, 1, 20, 3))
    x[4, 0, 3, 1] = np.nan
    with pytest.raises(PosenasError, match=r"seqB: 1 of 10 frames \(first: 4\)"):
        encode_sequence(x, encoding, seq_id="seqB")
    with pytest.raises(PosenasError, match="seqC: all frames"):
        encode_sequence(np.full((5, 1, 20, 3), np.nan), encoding, seq_id="seqC")
    with pytest.raises(PosenasError, match="seqD"):
        encode_sequence(np.zeros((5, 1, 20, 2)), encoding, seq_id="seqD")


def test_frozen_skeleton_is_an_error_and_unknown_encoding_lists_names():
    with pytest.raises(PosenasError, match="frozen"):
        spmf_raw(np.zeros((5, 1, 4, 3)), seq_id="zeros")
    with pytest.raises(PosenasError, match="enhanced_spmf"):
        EncodingConfig(encoding="rgb")


# --- pair order (EncodingConfig.pair_order) -------------------------------------------------------
@pytest.mark.parametrize("order", ["index", "chain", "parts"])
def test_every_pair_order_holds_each_unordered_pair_once(order):
    a, b = pair_indices(40, order, "msr20")  # two persons of 20 joints
    pairs = {tuple(sorted(p)) for p in zip(a.tolist(), b.tolist())}
    assert len(a) == len(pairs) == 40 * 41 // 2


def test_chain_order_puts_a_limb_on_neighbouring_rows():
    from posenas.core.skeleton import get_layout

    lay = get_layout("msr20")  # file order scatters the right arm over rows 0, 7, 9, 11
    arm = [lay.index(n) for n in ("right_shoulder", "right_elbow", "right_wrist", "right_hand")]
    pos = {j: k for k, j in enumerate(lay.chain_order)}
    assert sorted(pos[j] for j in arm) == list(range(pos[arm[0]], pos[arm[0]] + 4))
    a, b = pair_indices(20, "chain", "msr20")
    assert (a[0], b[0]) == (lay.index("hip_center"), lay.index("hip_center"))  # the root comes first


def test_parts_orders_pairs_in_blocks_and_within_parts_keeps_only_those():
    from posenas.core.skeleton import get_layout

    part = np.asarray(get_layout("kinect20").body_parts)
    a, b = pair_indices(20, "parts", "kinect20")
    blocks = list(zip(part[a].tolist(), part[b].tolist()))
    runs = [k for k in range(len(blocks)) if k == 0 or blocks[k] != blocks[k - 1]]
    assert len(runs) == len(set(blocks)) == 15  # 5 parts: 5 + 10 blocks, each one contiguous run
    wa, wb = pair_indices(20, "within_parts", "kinect20")
    assert len(wa) == 5 * 10 and (part[wa] == part[wb]).all()  # 4 joints per part: 10 pairs each
    # a second person's parts are its own: no pair mixes two persons
    ta, tb = pair_indices(40, "within_parts", "kinect20")
    assert len(ta) == 100 and ((ta < 20) == (tb < 20)).all()


def test_pair_order_changes_rows_not_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 1, 20, 3))
    d_index, _ = pose_features(x)
    d_chain, _ = pose_features(x, pair_order="chain", layout="msr20")
    assert not np.allclose(d_index, d_chain)
    np.testing.assert_allclose(np.sort(d_index, axis=1), np.sort(d_chain, axis=1))
    img = encode_sequence(x, config=EncodingConfig(pair_order="within_parts"), layout="msr20")
    assert img.shape == (32, 32, 3)


def test_pair_order_needs_a_matching_layout():
    x = np.random.default_rng(0).normal(size=(4, 1, 20, 3))
    with pytest.raises(PosenasError, match="layout"):
        encode_sequence(x, config=EncodingConfig(pair_order="chain"))
    with pytest.raises(PosenasError, match="h36m17"):
        encode_sequence(x, config=EncodingConfig(pair_order="parts"), layout="h36m17")
    from posenas.errors import ConfigError

    with pytest.raises(ConfigError, match="pair_order"):
        EncodingConfig(pair_order="zigzag")


# --- joint-coordinate image options (EncodingConfig.joint_*) ---------------------------------------
def test_tree_walk_steps_along_bones_and_visits_every_joint():
    from posenas.core.skeleton import get_layout

    for name in ("msr20", "kinect20", "h36m17"):
        lay = get_layout(name)
        walk = lay.tree_walk
        bones = {frozenset(b) for b in lay.bones}
        assert len(walk) == 2 * lay.num_joints - 1 and set(walk) == set(range(lay.num_joints))
        assert all(frozenset(step) in bones for step in zip(walk[:-1], walk[1:])), name
        assert walk[0] == walk[-1] == lay.parents.index(-1)


def test_joint_rows_tree_repeats_the_walk_per_person_and_needs_the_layout():
    from posenas.core.skeleton import get_layout

    from posenas.platform.encoding.spmf import joint_rows

    walk = np.asarray(get_layout("msr20").tree_walk)
    np.testing.assert_array_equal(joint_rows(40, "tree", "msr20"), np.concatenate([walk, 20 + walk]))
    np.testing.assert_array_equal(joint_rows(20), np.arange(20))
    x = np.random.default_rng(0).normal(size=(6, 1, 20, 3))
    assert joints_raw(x, rows="tree", layout="msr20").shape == (39, 6, 3)
    with pytest.raises(PosenasError, match="layout"):
        encode_sequence(x, config=EncodingConfig(encoding="joints", joint_rows="tree"))
    with pytest.raises(PosenasError, match="h36m17"):
        joints_raw(x, rows="tree", layout="h36m17")


def test_isotropic_scale_keeps_the_axes_proportions():
    """x spans 2 m, y 0.5 m: per axis both fill 0..255; isotropic y keeps a quarter of the range about mid-grey."""
    x = np.zeros((5, 1, 2, 3))
    x[:, 0, 0, 0] = np.linspace(-1, 1, 5)
    x[:, 0, 0, 1] = np.linspace(0, 0.5, 5)
    per_axis = joints_raw(x)
    iso = joints_raw(x, scale="isotropic")
    np.testing.assert_array_equal(per_axis[0, :, 0], iso[0, :, 0])  # the widest axis is the same either way
    assert np.ptp(per_axis[..., 1].astype(int)) == 255
    y = iso[..., 1].astype(int)
    assert abs(np.ptp(y) - 255 / 4) <= 1 and abs((y.max() + y.min()) / 2 - 127.5) <= 1  # 0.5 m of 2 m, centred
    assert (iso[..., 2] == iso[0, 0, 2]).all()  # z never moves: a flat channel, not noise stretched to 0..255


def test_joint_motion_adds_velocity_rows_at_mid_grey_when_still():
    x = np.zeros((6, 1, 2, 3))
    x[:, 0, 1, 0] = np.arange(6) * 0.1  # joint 1 walks along x at constant speed, joint 0 stands still
    img = joints_raw(x, motion=True)
    assert img.shape == (4, 6, 3)
    np.testing.assert_array_equal(img[:2], joints_raw(x))  # positions first, unchanged
    assert (img[2, :, 0] == 128).all()  # joint 0: no velocity
    assert (img[3, :, 0] == 255).all()  # joint 1: the sequence's peak velocity throughout
    assert (img[2:, :, 1:] == 128).all()
    assert encode_sequence(x, config=EncodingConfig(encoding="joints", joint_motion=True)).shape == (32, 32, 3)


def test_joint_options_are_checked_and_belong_to_the_joint_image():
    with pytest.raises(ConfigError, match="joint_scale"):
        EncodingConfig(encoding="joints", joint_scale="metric")
    with pytest.raises(ConfigError, match="joint_rows"):
        EncodingConfig(encoding="joints", joint_rows="zigzag")
    with pytest.raises(ConfigError, match="EncodingConfig.joint_motion.*joints"):
        EncodingConfig(joint_motion=True)  # on Enhanced-SPMF it would be ignored


def test_denoising_options_change_the_joints_before_encoding():
    """smooth_sigma and rigid_bones act on the joints: the image equals that of the denoised joints, per person."""
    from posenas.core.skeleton import get_layout
    from posenas.core.timeseries import smooth_gaussian

    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 2, 20, 3))  # two persons of msr20
    cfg = EncodingConfig(encoding="joints", joint_motion=True)
    smooth = replace(cfg, smooth_sigma=1.5)
    expect = smooth_gaussian(x.reshape(12, 40, 3), 1.5)
    np.testing.assert_array_equal(encode_sequence(x, config=smooth), encode_sequence(expect, config=cfg))
    assert not np.array_equal(encode_sequence(x, config=smooth), encode_sequence(x, config=cfg))
    lay = get_layout("msr20")
    rigid = denoise(x, rigid_bones=True, layout="msr20")
    for p in range(2):
        np.testing.assert_allclose(rigid[:, 20 * p:20 * (p + 1)], lay.with_clip_mean_bones(x[:, p]))
    np.testing.assert_array_equal(encode_sequence(x, config=replace(cfg, rigid_bones=True), layout="msr20"),
                                  encode_sequence(rigid, config=cfg, layout="msr20"))
    both = denoise(x, smooth_sigma=1.5, rigid_bones=True, layout="msr20")  # smoothed first, so bones end rigid
    lengths = lay.bone_lengths(both[:, :20])
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), rtol=1e-9)
    with pytest.raises(PosenasError, match="rigid_bones.*layout"):
        encode_sequence(x, config=replace(cfg, rigid_bones=True))
    with pytest.raises(ConfigError, match="smooth_sigma"):
        EncodingConfig(smooth_sigma=-1.0)
    with pytest.raises(ConfigError, match="smooth_sigma"):
        EncodingConfig(smooth_sigma=float("nan"))
