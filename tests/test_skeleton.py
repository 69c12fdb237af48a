"""Skeleton layouts: tree validity, left/right structure, h36m17 conversion, and symmetry on real
Kinect data (MSR Action3D, UTKinect-Action3D) read directly with numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenas.errors import UnknownNameError
from posenas.core.skeleton import (
    BUILTIN_LAYOUTS,
    H36M17_JOINTS,
    Layout,
    available_layouts,
    convert_confidence_to_h36m,
    convert_to_h36m,
    get_layout,
    register_layout,
)

# expected number of left/right pairs, counted by hand from each format's joint list
EXPECTED_PAIRS = {"h36m17": 6, "coco17": 8, "mediapipe33": 16, "msr20": 8, "kinect20": 8, "ntu25": 10, "sbu15": 6,
                  "openpose25": 11}
H36M = get_layout("h36m17")


def _mirror_x(j: np.ndarray) -> np.ndarray:
    return j * np.array([-1.0, 1.0, 1.0])


def test_builtin_layouts_registered():
    assert set(BUILTIN_LAYOUTS) == set(EXPECTED_PAIRS), "a new built-in layout needs its hand-counted left/right pairs"
    assert set(BUILTIN_LAYOUTS) <= set(available_layouts())
    with pytest.raises(UnknownNameError, match="kinect20"):
        get_layout("no_such_layout")


@pytest.mark.parametrize("name", BUILTIN_LAYOUTS)
def test_tree_is_valid(name):
    lay = get_layout(name)
    parents = np.array(lay.parents)
    assert ((parents >= -1) & (parents < lay.num_joints)).all()
    assert (parents != np.arange(lay.num_joints)).all()
    assert len(lay.bones) == lay.num_joints - 1
    root = int(np.flatnonzero(parents < 0)[0])
    for j in range(lay.num_joints):  # every joint reaches the root without a cycle
        seen, k = set(), j
        while k != root:
            assert k not in seen, f"{name}: cycle through {lay.joints[k]}"
            seen.add(k)
            k = parents[k]


@pytest.mark.parametrize("name", BUILTIN_LAYOUTS)
def test_lr_pairs_and_flip_permutation(name):
    lay = get_layout(name)
    assert len(lay.lr_pairs) == EXPECTED_PAIRS[name]
    for left, right in lay.lr_pairs:
        assert lay.joints[left].startswith("left_") and lay.joints[right] == "right_" + lay.joints[left][5:]
    sided = [n for n in lay.joints if n.startswith(("left_", "right_"))]
    assert len(sided) == 2 * len(lay.lr_pairs), f"{name}: a sided joint has no partner"
    perm = lay.flip_permutation
    assert sorted(perm.tolist()) == list(range(lay.num_joints))
    np.testing.assert_array_equal(perm[perm], np.arange(lay.num_joints))  # involution
    # the tree is mirror-symmetric: the parent of a flipped joint is the flipped parent
    for j, p in enumerate(lay.parents):
        if p >= 0:
            assert lay.parents[perm[j]] == perm[p], f"{name}: {lay.joints[j]} and its mirror have unmirrored parents"


@pytest.mark.parametrize("name", BUILTIN_LAYOUTS)
def test_h36m_matrix(name):
    lay = get_layout(name)
    w = lay.h36m_matrix
    assert w.shape == (17, lay.num_joints)
    assert (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    # every h36m limb joint comes from the same side only
    for row, target in enumerate(H36M17_JOINTS):
        src = [lay.joints[i] for i in np.flatnonzero(w[row])]
        if target.startswith("left_"):
            assert all(not s.startswith("right_") for s in src), (target, src)
        if target.startswith("right_"):
            assert all(not s.startswith("left_") for s in src), (target, src)


@pytest.mark.parametrize("name", BUILTIN_LAYOUTS)
def test_conversion_commutes_with_mirroring(name):
    """Mirroring a skeleton then converting equals converting then mirroring (no side bias)."""
    lay = get_layout(name)
    x = np.random.default_rng(0).normal(size=(5, lay.num_joints, 3))
    lhs = convert_to_h36m(_mirror_x(x)[:, lay.flip_permutation], lay)
    rhs = _mirror_x(convert_to_h36m(x, lay))[:, H36M.flip_permutation]
    np.testing.assert_allclose(lhs, rhs, atol=1e-6)


@pytest.mark.parametrize("name", BUILTIN_LAYOUTS)
def test_symmetric_skeleton_keeps_equal_left_right_bones(name):
    lay = get_layout(name)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(lay.num_joints, 3))
    perm = lay.flip_permutation
    centre = perm == np.arange(lay.num_joints)
    x[centre, 0] = 0.0  # centre joints on the symmetry plane
    for left, right in lay.lr_pairs:
        x[right] = _mirror_x(x[left])
    h = convert_to_h36m(x, lay)
    np.testing.assert_allclose(h, _mirror_x(h)[H36M.flip_permutation], atol=1e-6)
    lengths = dict(zip(H36M.bones, H36M.bone_lengths(h)))
    for left, right in H36M.lr_pairs:
        bl = lengths[(left, H36M.parents[left])]
        br = lengths[(right, H36M.parents[right])]
        assert bl == pytest.approx(br, abs=1e-6), (name, H36M.joints[left])


def test_h36m_identity_and_shape_checks():
    x = np.random.default_rng(2).normal(size=(3, 17, 2)).astype(np.float32)
    out = convert_to_h36m(x, "h36m17")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match="20 joints"):
        convert_to_h36m(x, "msr20")


def test_confidence_conversion_takes_least_sure_source():
    lay = get_layout("coco17")
    conf = np.ones((2, 17), dtype=np.float32)
    conf[0, lay.index("left_hip")] = 0.2
    out = convert_confidence_to_h36m(conf, lay)
    assert out.shape == (2, 17)
    row = {n: out[0, i] for i, n in enumerate(H36M17_JOINTS)}
    assert row["pelvis"] == pytest.approx(0.2) and row["spine"] == pytest.approx(0.2)
    assert row["left_hip"] == pytest.approx(0.2) and row["right_hip"] == 1.0 and row["thorax"] == 1.0
    np.testing.assert_array_equal(out[1], 1.0)


def test_register_custom_layout():
    names = ("root", "left_a", "right_a")
    lay = register_layout(Layout("test_tiny3", names, (-1, 0, 0)))
    assert get_layout("test_tiny3") is lay and lay.lr_pairs == ((1, 2),)
    with pytest.raises(ValueError):
        lay.h36m_matrix  # no conversion recipe
    with pytest.raises(ValueError, match="one root"):
        Layout("bad", ("a", "b"), (-1, -1))


# --- real data --------------------------------------------------------------------------------
MSR_FILES = ["a01_s01_e01", "a05_s02_e02", "a13_s05_e01", "a16_s07_e01", "a20_s10_e03"]
UT_FILES = ["s01_e01", "s04_e02", "s07_e01", "s10_e02"]


def _read_msr(root: Path, stem: str) -> np.ndarray:
    a = np.loadtxt(root / "MSRAction3DSkeletonReal3D" / f"{stem}_skeleton3D.txt").reshape(-1, 20, 4)[..., :3]
    return a[np.abs(a).sum(axis=(1, 2)) > 0]  # drop all-zero (untracked) frames


def _read_ut(root: Path, stem: str) -> np.ndarray:
    return np.loadtxt(root / "joints" / f"joints_{stem}.txt")[:, 1:].reshape(-1, 20, 3)


def _lr_asymmetry(h36m: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per left/right bone pair: (median |left - right| length, median left length), metres."""
    out = {}
    for left, right in H36M.lr_pairs:
        ll = np.linalg.norm(h36m[:, left] - h36m[:, H36M.parents[left]], axis=-1)
        rl = np.linalg.norm(h36m[:, right] - h36m[:, H36M.parents[right]], axis=-1)
        out[H36M.joints[left]] = (float(np.median(np.abs(ll - rl))), float(np.median(ll)))
    return out


def _facing_z(h36m: np.ndarray) -> float:
    """Median z of the body's forward direction, with the data read as a right-handed frame.

    forward = up x (right_shoulder - left_shoulder) in any right-handed frame; a person facing a
    camera that looks along +z has forward z < 0. A mirrored body (or a left-handed frame) flips it.
    """
    up = h36m[:, H36M.index("thorax")] - h36m[:, H36M.index("pelvis")]
    across = h36m[:, H36M.index("right_shoulder")] - h36m[:, H36M.index("left_shoulder")]
    return float(np.median(np.cross(up, across)[:, 2]))


@pytest.mark.realdata
@pytest.mark.parametrize("stem", MSR_FILES)
def test_msr_real3d_left_right_bones_match(msr_root, stem):
    x = _read_msr(msr_root, stem)
    asym = _lr_asymmetry(convert_to_h36m(x, "msr20"))
    for joint, (diff, length) in asym.items():
        assert diff < 0.04, f"{stem} {joint}: left/right bone lengths differ by {diff * 100:.1f} cm"
        assert 0.05 < length < 0.7, f"{stem} {joint}: implausible bone length {length:.2f} m"
    # the same file read with the wrong joint order is clearly asymmetric: the check can fail
    wrong = _lr_asymmetry(convert_to_h36m(x, "kinect20"))
    assert max(d for d, _ in wrong.values()) > 0.10


@pytest.mark.realdata
@pytest.mark.parametrize("stem", UT_FILES)
def test_utkinect_left_right_bones_match(utkinect_root, stem):
    x = _read_ut(utkinect_root, stem)
    asym = _lr_asymmetry(convert_to_h36m(x, "kinect20"))
    for joint, (diff, length) in asym.items():
        assert diff < 0.05, f"{stem} {joint}: left/right bone lengths differ by {diff * 100:.1f} cm"
        assert 0.05 < length < 0.7, f"{stem} {joint}: implausible bone length {length:.2f} m"
    wrong = _lr_asymmetry(convert_to_h36m(x, "msr20"))
    assert max(d for d, _ in wrong.values()) > 0.10


@pytest.mark.realdata
@pytest.mark.parametrize("stem", UT_FILES)
def test_utkinect_skeleton_faces_the_camera(utkinect_root, stem):
    """Kinect SDK space is right-handed (x to the sensor's left, y up, z away): kinect20 sides are not mirrored."""
    assert _facing_z(convert_to_h36m(_read_ut(utkinect_root, stem), "kinect20")) < 0


@pytest.mark.realdata
@pytest.mark.parametrize("stem", MSR_FILES)
def test_msr_sides_are_right_in_the_camera_frame_but_real3d_is_left_handed(msr_root, stem):
    """MSR Real3D is (x right in the image, y up, z away): a LEFT-handed frame (u = f x/z + cx,
    v = cy - f y/z). In the right-handed OpenCV camera frame (x, -y, z) the msr20 body faces the camera;
    read as a right-handed y-up world without that flip it is a mirror image (faces away)."""
    x = convert_to_h36m(_read_msr(msr_root, stem), "msr20")
    assert _facing_z(x * np.array([1.0, -1.0, 1.0])) < 0
    assert _facing_z(x) > 0


@pytest.mark.parametrize("name", ["msr20", "kinect20", "h36m17"])
def test_clip_mean_bones_fixes_lengths_and_keeps_directions(name):
    """Every bone gets its clip-mean length in every frame, pointing where it pointed; the root keeps its track."""
    lay = get_layout(name)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, lay.num_joints, 3))
    y = lay.with_clip_mean_bones(x)
    before, after = lay.bone_lengths(x), lay.bone_lengths(y)
    np.testing.assert_allclose(after, np.broadcast_to(before.mean(axis=0), after.shape), rtol=1e-9)
    for child, parent in lay.bones:
        d0, d1 = x[:, child] - x[:, parent], y[:, child] - y[:, parent]
        cos = (d0 * d1).sum(-1) / np.linalg.norm(d0, axis=-1) / np.linalg.norm(d1, axis=-1)
        np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    root = lay.parents.index(-1)
    np.testing.assert_array_equal(y[:, root], x[:, root])
    rigid = lay.with_clip_mean_bones(y)
    np.testing.assert_allclose(rigid, y, atol=1e-9)  # already rigid: unchanged
    with pytest.raises(ValueError, match=name):
        lay.with_clip_mean_bones(x[:, :-1])
