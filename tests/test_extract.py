"""The Ray Data extract job: Parquet per video, errors table, resume; and its input handling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posenas.errors import PosenasError
from posenas.platform.extract import ERRORS_FILE, _pool_cpus, collect_videos, run_extract


@pytest.fixture(scope="module")
def videos(make_person_video, tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    make_person_video(root / "walk.mp4", n=8, blank=())
    make_person_video(root / "sub" / "jump.mp4", n=6, blank=(2,))
    (root / "broken.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return root


def test_collect_videos_folder_and_list(videos, tmp_path):
    items = collect_videos(videos)
    assert [it.video_id for it in items] == ["broken", "sub__jump", "walk"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my clips\n{videos / 'walk.mp4'}\n\n{videos / 'sub' / 'jump.mp4'}  # second\n")
    assert [it.video_id for it in collect_videos(listing)] == ["walk", "jump"]
    listing.write_text(f"{videos / 'walk.mp4'}\n{videos / 'walk.mp4'}\n")
    with pytest.raises(PosenasError, match="two videos get the id 'walk'"):
        collect_videos(listing)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(PosenasError, match="no video files"):
        collect_videos(tmp_path / "empty_dir")
    with pytest.raises(PosenasError, match="no such file"):
        collect_videos(tmp_path / "nothing")


def test_pool_leaves_a_cpu_for_reads():
    assert _pool_cpus(2, 1, None) == 1.0
    assert _pool_cpus(2, 2, None) == 0.5
    assert _pool_cpus(16, 4, 2.0) == 2.0
    assert _pool_cpus(2, 4, 1.0) == 0.25


@pytest.mark.ray
@pytest.mark.slow
def test_extract_end_to_end_and_resume(ray_local, videos, small_lifter_checkpoint, tmp_path):
    import pandas as pd

    from posenas.datasets.keypoints import read_keypoints

    ckpt = small_lifter_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "parquet"
    rep = run_extract(videos, out, workers=2, checkpoint=ckpt, progress=False)
    assert sorted(rep.done) == ["sub__jump", "walk"] and rep.skipped == []
    assert [f["video_id"] for f in rep.failed] == ["broken"]
    assert rep.frames == 14 and rep.cpus_per_worker == 0.5
    errors = json.loads((out / ERRORS_FILE).read_text())
    assert len(errors) == 1 and errors[0]["video"].endswith("broken.mp4") and "DataFormatError" in errors[0]["error"]
    assert sorted(p.name for p in out.glob("*.parquet")) == ["sub__jump.parquet", "walk.parquet"]
    assert not list(out.glob(".*"))  # no temporary files left behind

    df = pd.read_parquet(out)  # the folder is a plain Parquet dataset (files starting with "_" ignored)
    assert len(df) == 14 and set(df["video_id"]) == {"walk", "sub__jump"}
    assert {"frame", "keypoints_2d", "scores", "pose_3d", "layout"} <= set(df.columns)
    seqs = {s.seq_id: s for s in read_keypoints(out)}
    assert seqs["walk"].joints.shape == (8, 1, 17, 2) and np.isfinite(seqs["walk"].meta["pose_3d"]).all()
    jump = seqs["sub__jump"]
    assert (jump.confidence[2] == 0).all() and np.isfinite(jump.meta["pose_3d"]).all()  # gap filled for lifting

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    rep2 = run_extract(videos, out, workers=1, checkpoint=ckpt, progress=False)
    assert sorted(rep2.skipped) == ["sub__jump", "walk"] and rep2.done == []
    assert [f["video_id"] for f in rep2.failed] == ["broken"]  # failed videos are retried, not skipped
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")} == mtimes

    # through the CLI: a lost file is redone, the other one stays
    from typer.testing import CliRunner

    from posenas.cli import app

    (out / "walk.parquet").unlink()
    r = CliRunner().invoke(app, ["extract", "--input", str(videos), "--out", str(out), "-c", str(ckpt)])
    assert r.exit_code == 1, r.output  # some videos failed
    summary = json.loads((out / "_summary.json").read_text())
    assert (summary["done"], summary["skipped"], summary["failed"], summary["frames"]) == (1, 1, 1, 8)
    assert "1 video(s) failed" in r.output
    assert (out / "walk.parquet").is_file()
    assert (out / "sub__jump.parquet").stat().st_mtime_ns == mtimes["sub__jump.parquet"]


def test_extract_rejects_bad_options(videos, tmp_path):
    with pytest.raises(PosenasError, match="workers"):
        run_extract(videos, tmp_path, workers=0)
    with pytest.raises(PosenasError, match="no such lifter checkpoint"):
        run_extract(videos, tmp_path, checkpoint=tmp_path / "none.pt")
