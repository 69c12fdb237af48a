"""BVH parser and forward kinematics: hand-built chains with known answers, malformed files, real CMU clips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from posenas.datasets.bvh import (
    axis_rotation,
    forward_kinematics,
    hierarchy_layout,
    parse_bvh,
    read_bvh,
)
from posenas.errors import DataFormatError
from posenas.core.skeleton import get_layout


def bvh(hierarchy: str, rows: list[str], frame_time: float = 0.1, frames: int | None = None) -> str:
    n = len(rows) if frames is None else frames
    head = f"HIERARCHY\n{hierarchy.strip()}\nMOTION\nFrames: {n}\nFrame Time: {frame_time}\n"
    return head + "\n".join(rows) + "\n"


CHAIN = """
ROOT root
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT a
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 2 0
    }
  }
}
"""


def test_rest_pose_is_offset_sum_plus_root_translation():
    clip = parse_bvh(bvh(CHAIN, ["10 20 30 0 0 0 0 0 0"]))
    assert clip.hierarchy.names == ("root", "a", "aEnd")
    np.testing.assert_allclose(clip.positions(), [[[10, 20, 30], [11, 20, 30]]])
    np.testing.assert_allclose(clip.positions(end_sites=True)[0, 2], [11, 22, 30])
    np.testing.assert_allclose(clip.fps, 10.0)


def test_ninety_degree_turns_compose_down_the_chain():
    # root turns +90 about Z: its x axis becomes +y, so `a` sits at (0,1,0).
    # a turns +90 about Z too, 180 in all: the End Site offset (0,2,0) points along -y in the world.
    clip = parse_bvh(bvh(CHAIN, ["0 0 0 90 0 0 90 0 0", "0 0 0 0 0 90 0 0 0"]))
    p = clip.positions(end_sites=True)
    np.testing.assert_allclose(p[0, 1], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(p[0, 2], [0, -1, 0], atol=1e-12)
    # frame 2: root yaw +90 about Y maps x -> -z; End Site offset stays vertical
    np.testing.assert_allclose(p[1, 1], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(p[1, 2], [0, 2, -1], atol=1e-12)


def test_channel_order_matters():
    tmpl = """
ROOT r
{{
  OFFSET 0 0 0
  CHANNELS 2 {c1} {c2}
  End Site
  {{
    OFFSET 0 1 0
  }}
}}"""
    zx = parse_bvh(bvh(tmpl.format(c1="Zrotation", c2="Xrotation"), ["90 90"]))
    xz = parse_bvh(bvh(tmpl.format(c1="Xrotation", c2="Zrotation"), ["90 90"]))
    # R = Rz Rx: Rx sends +y to +z, Rz leaves z alone.  R = Rx Rz: Rz sends +y to -x, Rx leaves x.
    np.testing.assert_allclose(zx.positions(end_sites=True)[0, 1], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(xz.positions(end_sites=True)[0, 1], [-1, 0, 0], atol=1e-12)


def test_rotation_matrices_match_the_bvh_convention():
    r = axis_rotation("Z", np.array([30.0]))[0] @ axis_rotation("X", np.array([40.0]))[0]
    assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
    np.testing.assert_allclose(axis_rotation("Y", np.array([90.0]))[0] @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    with pytest.raises(ValueError):
        axis_rotation("W", np.array([1.0]))


def test_position_channels_on_a_child_replace_its_offset_and_scale_applies():
    h = """
ROOT r
{
  OFFSET 5 5 5
  CHANNELS 3 Xposition Yposition Zposition
  JOINT c
  {
    OFFSET 1 1 1
    CHANNELS 4 Xposition Yposition Zposition Yrotation
  }
}"""
    clip = parse_bvh(bvh(h, ["1 2 3 0 4 0 45"]))
    assert clip.hierarchy.channel_names() == ["r.Xposition", "r.Yposition", "r.Zposition",
                                              "c.Xposition", "c.Yposition", "c.Zposition", "c.Yrotation"]
    p = forward_kinematics(clip.hierarchy, clip.motion, scale=0.5)
    np.testing.assert_allclose(p[0], [[0.5, 1.0, 1.5], [0.5, 3.0, 1.5]])


def test_hierarchy_layout_is_registered_with_parents():
    clip = parse_bvh(bvh(CHAIN, ["0 0 0 0 0 0 0 0 0"]))
    lay = hierarchy_layout(clip.hierarchy, "test_bvh_chain")
    assert get_layout("test_bvh_chain") is lay
    assert lay.joints == ("root", "a") and lay.parents == (-1, 0)
    with_ends = hierarchy_layout(clip.hierarchy, "test_bvh_chain_ends", end_sites=True, register=False)
    assert with_ends.parents == (-1, 0, 1)


def test_vectorised_fk_matches_frame_by_frame():
    rng = np.random.default_rng(0)
    rows = [" ".join(f"{v:.6f}" for v in rng.uniform(-180, 180, 9)) for _ in range(50)]
    clip = parse_bvh(bvh(CHAIN, rows))
    allp = clip.positions(end_sites=True)
    for t in (0, 17, 49):
        one = forward_kinematics(clip.hierarchy, clip.motion[t:t + 1], end_sites=True)
        np.testing.assert_allclose(allp[t], one[0])
    # bone lengths are rigid whatever the angles
    assert np.allclose(np.linalg.norm(allp[:, 2] - allp[:, 1], axis=-1), 2.0)


# --- malformed files -------------------------------------------------------------------------------

GOOD_ROW = "0 0 0 0 0 0 0 0 0"


@pytest.mark.parametrize(
    "text, line, needle",
    [
        (bvh(CHAIN, [GOOD_ROW, "0 0 0 0 0 0 0 0"]), 20, "8 values"),  # truncated row
        (bvh(CHAIN, [GOOD_ROW, GOOD_ROW + " 1"]), 20, "10 values"),
        (bvh(CHAIN, [GOOD_ROW], frames=3), 19, "only 1 motion rows"),
        (bvh(CHAIN, [GOOD_ROW, GOOD_ROW], frames=1), 20, "more motion rows"),
        (bvh(CHAIN, [GOOD_ROW, "0 0 0 nan 0 0 0 0 0"]), 20, "not finite"),
        (bvh(CHAIN, [GOOD_ROW, "0 0 0 0 x 0 0 0 0"]), 20, "'x'"),
        (bvh(CHAIN.replace("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation"), [GOOD_ROW]), 9, "says 4 but lists 3"),
        (bvh(CHAIN.replace("Yrotation\n    End", "Wrotation\n    End"), [GOOD_ROW]), 9, "unknown channel"),
        (bvh(CHAIN.replace("    OFFSET 1 0 0", "    OFSET 1 0 0"), [GOOD_ROW]), 8, "unknown keyword 'OFSET'"),
        (bvh(CHAIN.replace("    }\n  }\n}", "    }\n}"), [GOOD_ROW]), 14, "unbalanced braces"),  # missing brace
        (bvh(CHAIN + "}\n", [GOOD_ROW]), 16, "unbalanced '}'"),
        (bvh(CHAIN.replace("OFFSET 1 0 0", "OFFSET 1 0"), [GOOD_ROW]), 9, "expected a number"),
        ("HIERARCHY\n" + CHAIN, 16, "no MOTION"),
        (bvh(CHAIN, [GOOD_ROW]).replace("Frame Time: 0.1", "Frame Time: 0"), 18, "positive"),
    ],
)
def test_malformed_bvh_names_the_line(text, line, needle):
    with pytest.raises(DataFormatError) as e:
        parse_bvh(text, "bad.bvh")
    assert e.value.line == line, str(e.value)
    assert needle in str(e.value)
    assert str(e.value).startswith(f"bad.bvh:{line}")


def test_bad_value_error_names_the_channel():
    with pytest.raises(DataFormatError) as e:
        parse_bvh(bvh(CHAIN, [GOOD_ROW, "0 0 0 0 0 0 0 inf 0"]), "f.bvh")
    assert e.value.field == "a.Xrotation"


def test_read_bvh_rejects_binary(tmp_path: Path):
    p = tmp_path / "x.bvh"
    p.write_bytes(b"\xff\xfe\x00HIERARCHY")
    with pytest.raises(DataFormatError):
        read_bvh(p)


# --- real CMU clips ----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_all_cmu_clips_parse(cmu_root: Path):
    clips = [read_bvh(f) for f in sorted(cmu_root.rglob("*.bvh"))]
    assert len(clips) == 58
    assert sum(c.num_frames for c in clips) == 25_664
    by_joints = {}
    for c in clips:
        by_joints.setdefault(len(c.hierarchy.joint_indices), []).append(round(c.fps))
    assert sorted(by_joints) == [31, 43]
    assert set(by_joints[43]) == {120} and len(by_joints[43]) == 56
    assert by_joints[31] == [30, 30]


@pytest.mark.realdata
@pytest.mark.parametrize("clip_id", ["16_01", "16_02"])
def test_fk_matches_cmu_world_positions(cmu_root: Path, clip_id: str):
    """Tolerance 1e-9 file units (~6e-11 m): the CSV was written at double precision."""
    folder = next(cmu_root.rglob(f"{clip_id}.bvh")).parent
    clip = read_bvh(folder / f"{clip_id}.bvh")
    with open(folder / f"{clip_id}_worldpos.csv", newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], np.array(rows[1:], dtype=np.float64)
    assert data.shape[0] == clip.num_frames
    np.testing.assert_allclose(data[:, 0], np.arange(clip.num_frames) * clip.frame_time, atol=1e-6)
    pos = clip.positions(end_sites=True)
    names = clip.hierarchy.names
    cols = {h: i for i, h in enumerate(header)}
    joints = sorted({h.rsplit(".", 1)[0] for h in header[1:]})
    assert len(joints) == len(names) == 38  # 31 joints + 7 End Sites
    for j in joints:
        ref = data[:, [cols[f"{j}.X"], cols[f"{j}.Y"], cols[f"{j}.Z"]]]
        np.testing.assert_allclose(pos[:, names.index(j)], ref, atol=1e-9, rtol=0, err_msg=j)


@pytest.mark.realdata
def test_real_bone_lengths_are_rigid(cmu_root: Path):
    for f in sorted(cmu_root.rglob("*.bvh")):
        clip = read_bvh(f)
        p = clip.positions(end_sites=True)
        h = clip.hierarchy
        child = np.array([i for i, q in enumerate(h.parents) if q >= 0])
        parent = np.array([h.parents[i] for i in child])
        lengths = np.linalg.norm(p[:, child] - p[:, parent], axis=-1)
        expected = np.linalg.norm(h.offsets[child], axis=-1)  # no position channels below the root
        np.testing.assert_allclose(lengths, np.broadcast_to(expected, lengths.shape), atol=1e-9, err_msg=f.name)
