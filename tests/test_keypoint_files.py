"""Keypoint files: posenas npz/Parquet round trips, OpenPose BODY_25 and COCO JSON readers, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from posenas.datasets import load_dataset
from posenas.datasets.keypoints import (
    keypoint_format,
    keypoints_table,
    read_keypoints,
    write_keypoints,
    write_sequence,
)
from posenas.datasets.registry import detect_format
from posenas.errors import DataFormatError, PosenasError, UnknownNameError
from posenas.core.skeleton import convert_to_h36m, get_layout


@pytest.fixture()
def video():
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 640, (6, 2, 33, 2)).astype(np.float32)
    sc = rng.uniform(0, 1, (6, 2, 33)).astype(np.float32)
    p3 = rng.normal(0, 0.3, (6, 2, 17, 3)).astype(np.float32)
    p3[2, 1] = np.nan  # a person without a 3D pose in one frame
    return dict(video_id="clip_01", keypoints_2d=kp, scores=sc, layout="mediapipe33", fps=25.0,
                width=640, height=480, pose_3d=p3)


# --- posenas formats ---------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_round_trip(tmp_path: Path, video, suffix):
    path = write_keypoints(tmp_path / f"out{suffix}", **video)
    [seq] = read_keypoints(path)
    assert seq.seq_id == "clip_01" and seq.layout == "mediapipe33" and seq.fps == 25.0
    assert seq.meta["width"] == 640 and seq.meta["height"] == 480 and seq.meta["units"] == "pixels"
    np.testing.assert_array_equal(seq.joints, video["keypoints_2d"])
    np.testing.assert_array_equal(seq.confidence, video["scores"])
    np.testing.assert_array_equal(seq.meta["pose_3d"], video["pose_3d"])
    assert seq.meta["pose_layout"] == "h36m17"


def test_round_trip_without_pose(tmp_path: Path, video):
    video["pose_3d"] = None
    for suffix in (".npz", ".parquet"):
        [seq] = read_keypoints(write_keypoints(tmp_path / f"a{suffix}", **video))
        assert "pose_3d" not in seq.meta
        np.testing.assert_array_equal(seq.joints, video["keypoints_2d"])


def test_npz_has_documented_keys_without_pickle(tmp_path: Path, video):
    path = write_keypoints(tmp_path / "a.npz", **video)
    with np.load(path, allow_pickle=False) as d:
        assert set(d.files) == {"keypoints_2d", "scores", "layout", "fps", "width", "height", "video_id",
                                "pose_3d", "pose_layout"}
        assert str(d["layout"]) == "mediapipe33" and int(d["width"]) == 640


def test_parquet_schema_is_plain_and_pandas_readable(tmp_path: Path, video):
    table = keypoints_table(**video)
    assert table.num_rows == 6 * 2
    types = {f.name: f.type for f in table.schema}
    assert types["video_id"] == pa.string() and types["frame"] == pa.int32() and types["person"] == pa.int16()
    assert types["width"] == pa.int32() and types["fps"] == pa.float32()
    assert types["keypoints_2d"] == pa.list_(pa.float32()) and types["pose_3d"] == pa.list_(pa.float32())
    path = write_keypoints(tmp_path / "a.parquet", **video)
    import pandas as pd

    df = pd.read_parquet(path)
    row = df[(df.frame == 3) & (df.person == 1)].iloc[0]
    assert len(row.keypoints_2d) == 66 and len(row.scores) == 33
    # joint-major x, y
    assert row.keypoints_2d[2] == video["keypoints_2d"][3, 1, 1, 0]
    assert row.keypoints_2d[3] == video["keypoints_2d"][3, 1, 1, 1]
    null_row = df[(df.frame == 2) & (df.person == 1)].iloc[0]
    assert null_row.pose_3d is None


def test_parquet_folder_of_parts_with_several_videos(tmp_path: Path, video):
    """A Ray-style output folder: parts split at arbitrary rows, two videos, rows shuffled."""
    t1 = keypoints_table(**video)
    other = {**video, "video_id": "clip_02", "keypoints_2d": video["keypoints_2d"][:3, :1],
             "scores": video["scores"][:3, :1], "pose_3d": None}
    t2 = keypoints_table(**other)
    both = pa.concat_tables([t1, t2])
    perm = np.random.default_rng(0).permutation(both.num_rows)
    both = both.take(pa.array(perm))
    (tmp_path / "out").mkdir()
    pq.write_table(both.slice(0, 7), tmp_path / "out" / "part-0.parquet")
    pq.write_table(both.slice(7), tmp_path / "out" / "part-1.parquet")
    assert detect_format(tmp_path / "out") == "keypoints"
    seqs = {s.seq_id: s for s in read_keypoints(tmp_path / "out")}
    assert set(seqs) == {"clip_01", "clip_02"}
    np.testing.assert_array_equal(seqs["clip_01"].joints, video["keypoints_2d"])
    np.testing.assert_array_equal(seqs["clip_02"].joints, other["keypoints_2d"])
    assert seqs["clip_02"].joints.shape == (3, 1, 33, 2)


def test_parquet_missing_rows_are_absent_people(tmp_path: Path, video):
    table = keypoints_table(**video)
    keep = np.ones(table.num_rows, bool)
    keep[3] = False  # frame 1, person 1
    pq.write_table(table.filter(pa.array(keep)), tmp_path / "a.parquet")
    [seq] = read_keypoints(tmp_path / "a.parquet")
    assert np.isnan(seq.joints[1, 1]).all() and (seq.confidence[1, 1] == 0).all()
    np.testing.assert_array_equal(seq.joints[1, 0], video["keypoints_2d"][1, 0])


def test_writer_rejects_bad_arrays(tmp_path: Path, video):
    with pytest.raises(ValueError, match="scores"):
        keypoints_table(**{**video, "scores": video["scores"][:, :, :10]})
    with pytest.raises(ValueError, match="coco17 has 17 joints, keypoints_2d has 33"):
        keypoints_table(**{**video, "layout": "coco17"})
    with pytest.raises(UnknownNameError):
        keypoints_table(**{**video, "layout": "nope"})
    with pytest.raises(ValueError, match="pose_3d"):
        keypoints_table(**{**video, "pose_3d": video["pose_3d"][..., :2]})
    with pytest.raises(PosenasError, match=r"\.npz or \.parquet"):
        write_keypoints(tmp_path / "a.csv", **video)


def test_bad_npz_names_the_field(tmp_path: Path, video):
    path = write_keypoints(tmp_path / "a.npz", **video)
    with np.load(path) as d:
        arrays = dict(d)
    arrays.pop("scores")
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(DataFormatError, match=r"b\.npz \[scores\]: missing"):
        read_keypoints(tmp_path / "b.npz")
    arrays["scores"] = np.zeros((6, 2, 5), np.float32)
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(DataFormatError, match=r"c\.npz \[scores\]"):
        read_keypoints(tmp_path / "c.npz")


def test_bad_parquet_names_the_field(tmp_path: Path, video):
    table = keypoints_table(**video)
    pq.write_table(table.drop_columns(["scores"]), tmp_path / "a.parquet")
    with pytest.raises(DataFormatError, match=r"\[scores\]: missing column"):
        read_keypoints(tmp_path / "a.parquet")
    short = table.set_column(table.schema.get_field_index("scores"), "scores",
                             pa.array([[0.5] * 33] * 11 + [[0.5] * 10], pa.list_(pa.float32())))
    pq.write_table(short, tmp_path / "b.parquet")
    with pytest.raises(DataFormatError, match=r"\[scores\]: row 11: expected 33 values, got 10"):
        read_keypoints(tmp_path / "b.parquet")
    dup = pa.concat_tables([table, table.slice(0, 1)])
    pq.write_table(dup, tmp_path / "c.parquet")
    with pytest.raises(DataFormatError, match="duplicate"):
        read_keypoints(tmp_path / "c.parquet")


# --- OpenPose ------------------------------------------------------------------------------------
def _body25(rng, n_missing=0):
    xyc = np.column_stack([rng.uniform(0, 1000, (25, 2)), rng.uniform(0.1, 1.0, 25)])
    xyc[:n_missing] = 0.0  # OpenPose writes 0, 0, 0 for joints it did not find
    return xyc


def test_openpose_folder(writers, tmp_path: Path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "op"
    frames = {0: [_body25(rng, 2), _body25(rng)], 1: [_body25(rng)], 3: []}  # frame 2 missing, 3 empty
    for f, people in frames.items():
        writers.write_openpose_frame(folder, "walk", f, people)
    writers.write_openpose_frame(folder, "run", 7, [_body25(rng)])
    assert detect_format(folder) == "openpose_json"
    seqs = {s.seq_id: s for s in read_keypoints(folder, fps=24)}
    walk = seqs["walk"]
    assert walk.layout == "openpose25" and walk.joints.shape == (4, 2, 25, 2) and walk.fps == 24
    np.testing.assert_allclose(walk.joints[0, 1], frames[0][1][:, :2], atol=1e-3)
    np.testing.assert_allclose(walk.confidence[0, 1], frames[0][1][:, 2], atol=1e-3)
    assert np.isnan(walk.joints[0, 0, :2]).all() and (walk.confidence[0, 0, :2] == 0).all()
    assert np.isnan(walk.joints[2]).all() and np.isnan(walk.joints[3]).all()  # missing and empty frames
    assert seqs["run"].meta["frame_offset"] == 7 and seqs["run"].num_frames == 1
    assert walk.meta["fps_assumed"] is False
    ds = load_dataset(folder)
    assert ds.layout == "openpose25" and len(ds) == 2


def test_openpose_person_ids_keep_slots(writers, tmp_path: Path):
    rng = np.random.default_rng(3)
    a, b = _body25(rng), _body25(rng)
    writers.write_openpose_frame(tmp_path, "v", 0, [a, b], person_ids=[4, 9])
    writers.write_openpose_frame(tmp_path, "v", 1, [b, a], person_ids=[9, 4])
    [seq] = read_keypoints(tmp_path)
    np.testing.assert_allclose(seq.joints[1, 0], a[:, :2], atol=1e-3)
    np.testing.assert_allclose(seq.joints[1, 1], b[:, :2], atol=1e-3)


def test_openpose25_converts_to_h36m():
    lay = get_layout("openpose25")
    assert lay.num_joints == 25 and (lay.index("left_hip"), lay.index("right_hip")) in lay.lr_pairs
    x = np.zeros((25, 2), np.float32)
    x[lay.index("mid_hip")] = (10, 20)
    x[lay.index("neck")] = (10, 0)
    x[lay.index("left_wrist")] = (3, 4)
    h = convert_to_h36m(x, "openpose25")
    h36 = get_layout("h36m17")
    np.testing.assert_allclose(h[h36.index("pelvis")], (10, 20))
    np.testing.assert_allclose(h[h36.index("spine")], (10, 10))
    np.testing.assert_allclose(h[h36.index("left_wrist")], (3, 4))


def test_openpose_errors(writers, tmp_path: Path):
    rng = np.random.default_rng(4)
    writers.write_openpose_frame(tmp_path, "v", 0, [_body25(rng)])
    bad = tmp_path / "v_000000000001_keypoints.json"
    bad.write_text('{"version": 1.3, "people": [{"pose_keypoints_2d": [1, 2, 3]}]}')
    with pytest.raises(DataFormatError, match=r"v_000000000001_keypoints\.json \[people\[0\]\.pose_keypoints_2d\]: "
                                              r"expected 75 values"):
        read_keypoints(tmp_path)
    bad.write_text('{"version": 1.3, "people": [\n{"pose_keypoints_2d": [1, 2,}]}')
    with pytest.raises(DataFormatError, match=r"_keypoints\.json:2: invalid JSON"):
        read_keypoints(tmp_path)
    bad.write_text('{"version": 1.3}')
    with pytest.raises(DataFormatError, match=r"\[people\]"):
        read_keypoints(tmp_path)
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [0.0] * 54}]}))
    with pytest.raises(DataFormatError, match="COCO-18"):
        read_keypoints(tmp_path)


# --- COCO ---------------------------------------------------------------------------------------
def _coco17(rng, v=2):
    return np.column_stack([rng.uniform(0, 600, (17, 2)), np.full(17, v)])


def test_coco_groups_videos_and_orders_frames(writers, tmp_path: Path):
    rng = np.random.default_rng(5)
    images = [
        {"id": 11, "file_name": "seqB/000001.jpg", "width": 640, "height": 480},
        {"id": 10, "file_name": "seqA/000002.jpg", "width": 640, "height": 480},
        {"id": 12, "file_name": "seqA/000001.jpg", "width": 640, "height": 480},
    ]
    k10a, k10b, k12, k11 = _coco17(rng), _coco17(rng), _coco17(rng), _coco17(rng)
    k10b[0, 2], k10b[1, 2] = 1, 0  # occluded, unlabelled
    anns = [writers.coco_annotation(1, 10, k10a), writers.coco_annotation(2, 10, k10b), writers.coco_annotation(3, 12, k12),
            writers.coco_annotation(4, 11, k11),
            writers.coco_annotation(5, 12, np.zeros((17, 3))),  # a person box without keypoints: skipped
            writers.coco_annotation(6, 12, _coco17(rng), iscrowd=1)]  # a crowd region: skipped
    path = writers.write_coco(tmp_path / "person_keypoints.json", images, anns)
    assert detect_format(path) == "coco_json"
    seqs = {s.seq_id: s for s in read_keypoints(path)}
    a = seqs["seqA"]
    assert a.layout == "coco17" and a.joints.shape == (2, 2, 17, 2)
    assert a.meta["image_ids"] == [12, 10] and a.meta["width"] == 640
    np.testing.assert_allclose(a.joints[0, 0], k12[:, :2])
    np.testing.assert_allclose(a.joints[1, 1, 2:], k10b[2:, :2])
    assert a.confidence[1, 1, 0] == 0.5 and a.confidence[1, 1, 1] == 0 and np.isnan(a.joints[1, 1, 1]).all()
    assert a.confidence[1, 1, 2] == 1.0
    assert np.isnan(a.joints[0, 1]).all()  # one person in the first frame
    assert seqs["seqB"].joints.shape == (1, 1, 17, 2)


def test_coco_track_ids_and_results_format(writers, tmp_path: Path):
    rng = np.random.default_rng(6)
    images = [{"id": i, "file_name": f"{i:06d}.jpg", "frame_id": i, "vid_id": "v1"} for i in range(2)]
    p, q = _coco17(rng), _coco17(rng)
    anns = [writers.coco_annotation(1, 0, p, track_id=5), writers.coco_annotation(2, 0, q, track_id=2),
            writers.coco_annotation(3, 1, q, track_id=2), writers.coco_annotation(4, 1, p, track_id=5)]
    [seq] = read_keypoints(writers.write_coco(tmp_path / "posetrack.json", images, anns))
    assert seq.seq_id == "v1"
    np.testing.assert_allclose(seq.joints[0, 0], q[:, :2])  # track 2 -> slot 0 in every frame
    np.testing.assert_allclose(seq.joints[1, 0], q[:, :2])
    # detector results: a list, third value is a score
    def result(xy, kp_score, score):
        return {"image_id": 3, "category_id": 1, "score": score,
                "keypoints": np.column_stack([xy[:, :2], np.full(17, kp_score)]).ravel().tolist()}

    res = [result(p, 0.7, 0.4), result(q, 1.3, 0.9)]
    (tmp_path / "results.json").write_text(json.dumps(res))
    assert keypoint_format(tmp_path / "results.json") == "coco_json"
    [r] = read_keypoints(tmp_path / "results.json")
    np.testing.assert_allclose(r.joints[0, 0], q[:, :2])  # most confident first
    assert (r.confidence[0, 0] == 1.0).all() and np.allclose(r.confidence[0, 1], 0.7)


def test_coco_errors(writers, tmp_path: Path):
    rng = np.random.default_rng(7)
    images = [{"id": 1, "file_name": "a.jpg"}]
    good = writers.coco_annotation(1, 1, _coco17(rng))
    bad_len = {**good, "id": 2, "keypoints": good["keypoints"][:-3]}
    path = writers.write_coco(tmp_path / "c.json", images, [good, bad_len])
    expected = r"c\.json \[annotations\[1\]\.keypoints\]: expected 51 values \(17 joints x, y, v\), got 48"
    with pytest.raises(DataFormatError, match=expected):
        read_keypoints(path)
    writers.write_coco(path, images, [good, {**good, "image_id": 99}])
    with pytest.raises(DataFormatError, match=r"\[annotations\[1\]\.image_id\]: image_id 99 not in images"):
        read_keypoints(path)
    writers.write_coco(path, images, [{k: v for k, v in good.items() if k != "keypoints"}])
    with pytest.raises(DataFormatError, match=r"\[annotations\[0\]\.keypoints\]: missing"):
        read_keypoints(path)
    bad_v = {**good, "keypoints": [*good["keypoints"][:-1], 7]}
    writers.write_coco(path, images, [bad_v])
    with pytest.raises(DataFormatError, match="visibility"):
        read_keypoints(path)


def test_unrecognised_files(tmp_path: Path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(PosenasError, match="not a keypoint file"):
        read_keypoints(tmp_path / "x.txt")
    with pytest.raises(PosenasError, match="no such file"):
        read_keypoints(tmp_path / "missing.npz")


def test_convert_openpose_to_parquet(writers, tmp_path: Path):
    rng = np.random.default_rng(8)
    for f in range(3):
        writers.write_openpose_frame(tmp_path / "op", "v", f, [_body25(rng)])
    [seq] = read_keypoints(tmp_path / "op")
    [back] = read_keypoints(write_sequence(tmp_path / "v.parquet", seq))
    np.testing.assert_array_equal(back.joints, seq.joints)
    assert back.layout == "openpose25" and load_dataset(tmp_path / "v.parquet").sequences[0].seq_id == "v"


def test_video_without_people_keeps_its_frames(tmp_path: Path, video):
    empty = {**video, "keypoints_2d": np.zeros((4, 0, 33, 2)), "scores": np.zeros((4, 0, 33)), "pose_3d": None}
    [seq] = read_keypoints(write_keypoints(tmp_path / "e.parquet", **empty))
    assert seq.joints.shape == (4, 1, 33, 2) and (seq.confidence == 0).all() and np.isnan(seq.joints).all()


def test_many_videos_keep_first_appearance_order(tmp_path: Path, video):
    ids = ["zeta", "alpha", "mid", "beta"]
    tables = [keypoints_table(**{**video, "video_id": v, "keypoints_2d": video["keypoints_2d"] + i})
              for i, v in enumerate(ids)]
    pq.write_table(pa.concat_tables(tables), tmp_path / "all.parquet")
    seqs = read_keypoints(tmp_path / "all.parquet")
    assert [s.seq_id for s in seqs] == ids
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(s.joints, video["keypoints_2d"] + i)


@pytest.mark.ray
def test_ray_data_parquet_folder(tmp_path: Path, video, ray_local):
    """Tables written by Ray Data's write_parquet (one file per block) read back per video."""
    tables = [keypoints_table(**{**video, "video_id": f"v{i}", "keypoints_2d": video["keypoints_2d"] + i})
              for i in range(3)]
    ray_local.data.from_arrow(tables).write_parquet(str(tmp_path / "ray_out"))
    assert len(list((tmp_path / "ray_out").glob("*.parquet"))) >= 1
    seqs = {s.seq_id: s for s in read_keypoints(tmp_path / "ray_out")}
    assert sorted(seqs) == ["v0", "v1", "v2"]
    for i in range(3):
        np.testing.assert_array_equal(seqs[f"v{i}"].joints, video["keypoints_2d"] + i)
        np.testing.assert_array_equal(seqs[f"v{i}"].meta["pose_3d"], video["pose_3d"])


def test_chunks_with_first_frame_join_into_one_video(tmp_path: Path, video):
    kp, sc, p3 = video["keypoints_2d"], video["scores"], video["pose_3d"]
    parts = [keypoints_table(**{**video, "keypoints_2d": kp[a:b], "scores": sc[a:b], "pose_3d": p3[a:b]},
                             first_frame=a) for a, b in ((4, 6), (0, 4))]
    (tmp_path / "chunks").mkdir()
    for i, part in enumerate(parts):
        pq.write_table(part, tmp_path / "chunks" / f"{i}.parquet")
    [seq] = read_keypoints(tmp_path / "chunks")
    np.testing.assert_array_equal(seq.joints, kp)
    np.testing.assert_array_equal(seq.meta["pose_3d"], p3)
