"""Bad input on the command line: one line naming the option or file, exit status 2, before any work;
and the video jobs' own bad input: unfinished outputs, truncated videos, a render that fails.

Each row runs the real entry point (`posenas.cli.main`) in this process with `ray.init`, lifter training
and video lifting replaced by tripwires: a row that got past validation into expensive work fails
loudly instead of passing late. No row starts Ray.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posenas.cli import main
from posenas.platform.extract import (FRAMES_KEY, HEADER_FRAMES_KEY, SUMMARY_FILE, ExtractWorker, is_truncated,
                                      run_extract, verify_output, write_parquet_atomic)

ROOT = Path(__file__).resolve().parents[1]
UNWRITABLE = "/proc/posenas_out"  # under a kernel file system nobody (root included) can create files in


class ExpensiveWorkStarted(AssertionError):
    pass


@pytest.fixture
def tripwires(monkeypatch):
    """Fail the test if a bad-input row reaches Ray, training or detection."""
    import ray

    import posenas.platform.lifting.train as lifter_train
    import posenas.platform.pipeline as pipeline

    def trip(what):
        def _raise(*args, **kwargs):
            raise ExpensiveWorkStarted(f"{what} ran although the input was bad")
        return _raise

    monkeypatch.setattr(ray, "init", trip("ray.init"))
    monkeypatch.setattr(lifter_train, "train_lifter", trip("lifter training"))
    monkeypatch.setattr(pipeline, "lift_video", trip("video lifting"))
    yield
    assert not ray.is_initialized()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Paths the rows refer to: a plain file, a folder, a video-named file, junk and empty checkpoints."""
    (tmp_path / "file.txt").write_text("not a folder\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)  # only has to exist: the rows fail before reading it
    (tmp_path / "junk.pt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "g.json").write_text('{"normal": [], "reduce": []}')
    return {k: str(tmp_path / v) for k, v in {
        "FILE": "file.txt", "UNDER_FILE": "file.txt/out", "DIR": "folder", "VIDEO": "clip.mp4",
        "JUNK": "junk.pt", "EMPTY": "empty.pt", "GENOTYPE": "g.json", "MISSING": "missing.pt",
    }.items()} | {"UNWRITABLE": UNWRITABLE}


# (id, command line with placeholders, what the one line must name)
CASES = [
    # output paths: a file, under a file, unwritable
    ("lift-out-is-file", "lift VIDEO -o FILE", ["--out", "FILE", "is a file"]),
    ("lift-out-under-file", "lift VIDEO -o UNDER_FILE", ["--out", "UNDER_FILE", "which is a file"]),
    ("lift-out-unwritable", "lift VIDEO -o UNWRITABLE", ["--out", "not writable"]),
    ("extract-out-is-file", "extract -i DIR -o FILE", ["--out", "FILE", "is a file"]),
    ("extract-out-under-file", "extract -i DIR -o UNDER_FILE", ["--out", "which is a file"]),
    ("extract-out-unwritable", "extract -i DIR --out UNWRITABLE", ["--out", "not writable"]),
    ("search-storage-is-file", "search --dataset DIR --storage-path FILE", ["--storage-path", "FILE", "is a file"]),
    ("search-storage-under-file", "search --dataset DIR --storage-path UNDER_FILE", ["--storage-path", "which is a file"]),
    ("search-storage-unwritable", "search --dataset DIR -o UNWRITABLE", ["--storage-path", "not writable"]),
    ("train-storage-is-file", "train --genotype GENOTYPE --dataset DIR -o FILE", ["--storage-path", "is a file"]),
    ("eval-json-is-folder", "eval --checkpoint JUNK --json DIR", ["--json", "DIR", "is a folder"]),
    ("eval-json-under-file", "eval --checkpoint JUNK --json UNDER_FILE", ["--json", "which is a file"]),
    ("eval-json-unwritable", "eval --checkpoint JUNK --json UNWRITABLE/r.json", ["--json", "not writable"]),
    ("lift-train-out-is-folder", "lift train -d msr -p DIR --out DIR", ["--out", "is a folder"]),
    ("lift-train-out-under-file", "lift train -d msr -p DIR --out UNDER_FILE", ["--out", "which is a file"]),
    ("lift-train-out-unwritable", "lift train -d msr -p DIR --out UNWRITABLE/m.pt", ["--out", "not writable"]),
    ("lift-eval-json-is-folder", "lift eval -d msr -p DIR --json DIR", ["--json", "is a folder"]),
    # option values that were checked only inside a Ray trial, clipped, or after detection
    ("search-method", "search --dataset DIR --method bogus", ["--method", "bogus"]),
    ("search-channels", "search --dataset DIR --channels -1", ["--channels"]),
    ("search-workers", "search --dataset DIR --workers -1", ["--workers"]),
    ("search-epochs-0", "search --dataset DIR --epochs 0", ["--epochs"]),
    ("search-nodes-0", "search --dataset DIR --nodes 0", ["--nodes"]),
    ("search-hpo-0", "search --dataset DIR --hpo-samples 0", ["--hpo-samples"]),
    ("search-format", "search --dataset DIR --format bogus", ["--format", "bogus", "msr_action3d"]),
    ("search-dataset-missing", "search --dataset MISSING", ["--dataset", "does not exist"]),
    ("search-space", "search --dataset DIR --space bogus", ["--space", "bogus"]),
    ("search-encoding", "search --dataset DIR --encoding bogus", ["--encoding", "bogus"]),
    ("train-encoding", "train --genotype GENOTYPE --dataset DIR --encoding bogus", ["--encoding", "bogus"]),
    ("search-joint-rows", "search --dataset DIR --encoding joints --joint-rows bogus", ["--joint-rows", "bogus"]),
    ("search-joint-option-pair-image", "search --dataset DIR --encoding spmf --joint-motion",
     ["--joint-motion", "joints only"]),
    ("train-joint-option-pair-image", "train --genotype GENOTYPE --dataset DIR --encoding spmf --joint-scale isotropic",
     ["--joint-scale", "joints only"]),
    ("search-space-lifted", "search --dataset DIR --poses lifted --space native", ["--space native", "canonical"]),
    ("train-space-lifted", "train --genotype GENOTYPE --dataset DIR --poses lifted --space canonical_traj",
     ["--space canonical_traj", "canonical"]),
    ("train-seeds-0", "train --genotype GENOTYPE --dataset DIR --seeds 0", ["--seeds"]),
    ("train-epochs-0", "train --genotype GENOTYPE --dataset DIR --epochs 0", ["--epochs"]),
    ("train-val-fraction-1.5", "train --genotype GENOTYPE --dataset DIR --val-fraction 1.5", ["--val-fraction", "1.5"]),
    ("train-val-fraction-0", "train --genotype GENOTYPE --dataset DIR --val-fraction 0", ["--val-fraction"]),
    ("search-val-fraction-1", "search --dataset DIR --val-fraction 1", ["--val-fraction", "1"]),
    ("train-genotype-missing", "train --genotype MISSING --dataset DIR", ["--genotype", "does not exist"]),
    ("extract-workers-0", "extract -i DIR -o DIR --workers 0", ["--workers"]),
    ("extract-workers-neg", "extract -i DIR -o DIR -w -1", ["--workers"]),
    ("extract-layout-unknown", "extract -i DIR -o DIR --layout bogus", ["--layout", "bogus", "h36m17"]),
    ("extract-layout-unreachable", "extract -i DIR -o DIR --layout openpose25", ["--layout", "openpose25"]),
    ("extract-checkpoint-missing", "extract -i DIR -o DIR -c MISSING", ["--checkpoint", "does not exist"]),
    ("lift-layout-unknown", "lift VIDEO -o DIR --layout bogus", ["--layout", "bogus"]),
    ("lift-layout-unreachable", "lift VIDEO -o DIR --layout sbu15", ["--layout", "sbu15"]),
    ("lift-detector", "lift VIDEO -o DIR --detector bogus", ["--detector", "bogus"]),
    ("lift-video-missing", "lift MISSING -o DIR", ["MISSING", "does not exist"]),
    ("lift-train-dataset", "lift train -d bogus -p DIR --out DIR/m.pt", ["--dataset", "bogus", "cmu"]),
    ("lift-train-epochs-0", "lift train -d msr -p DIR --out DIR/m.pt --epochs 0", ["--epochs"]),
    ("lift-train-arch", "lift train -d msr -p DIR --out DIR/m.pt --arch bogus", ["--arch", "bogus"]),
    ("data-option-format", "data info DIR -O novalue", ["--option", "novalue", "KEY=VALUE"]),
    # checkpoints: missing, corrupt, empty
    ("eval-checkpoint-missing", "eval --checkpoint MISSING", ["--checkpoint", "does not exist"]),
    ("eval-checkpoint-junk", "eval --checkpoint JUNK", ["JUNK", "not a readable torch checkpoint"]),
    ("eval-checkpoint-empty", "eval --checkpoint EMPTY", ["EMPTY", "empty"]),
]


def _fill(text: str, files: dict[str, str]) -> str:
    for key in sorted(files, key=len, reverse=True):  # UNDER_FILE before FILE
        text = text.replace(key, files[key])
    return text


@pytest.mark.parametrize("case_id, command, names", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case_id, command, names, files, tripwires, capsys):
    argv = [_fill(a, files) for a in command.split()]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert _fill(name, files) in lines[0], (name, lines[0])


def test_version(capsys):
    from posenas import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"posenas {__version__}"


def test_version_through_the_installed_entry_point():
    r = subprocess.run([sys.executable, "-m", "posenas.cli", "--version"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("posenas ") and not r.stderr


def test_output_names_are_consistent():
    """`-o` is the output everywhere; loader options are `--option`/`-O`."""
    from typer.main import get_command

    from posenas.cli import app

    root = get_command(app)
    ctx = root.make_context("posenas", ["data"], resilient_parsing=True)

    def command(*path):
        cmd = root
        for name in path:
            cmd = cmd.get_command(ctx, name)
        return cmd

    def opts(cmd, name):
        return next(p.opts + p.secondary_opts for p in cmd.params if p.name == name)

    for path, param in [(("lift", "video"), "out"), (("lift", "train"), "out"), (("lift", "eval"), "json_out"),
                        (("extract",), "output"), (("search",), "storage_path"), (("train",), "storage_path"),
                        (("eval",), "json_out")]:
        assert {"-o", "--out"} <= set(opts(command(*path), param)), path
    assert set(opts(command("data", "info"), "option")) == {"--option", "-O"}
    assert "--output" in opts(command("extract"), "output")  # the old spelling keeps working


def test_validate_search_rejects_what_the_trial_would_loop_or_fail_on():
    from posenas.errors import PosenasError, UnknownNameError
    from posenas.platform.classification.cellnet import NetConfig
    from posenas.search.enas import SearchConfig
    from posenas.search.tune_search import validate_search

    validate_search(SearchConfig(epochs=1))
    with pytest.raises(PosenasError, match="epochs=0"):
        validate_search(SearchConfig(epochs=0))
    with pytest.raises(PosenasError, match="channels=-1"):
        validate_search(SearchConfig(net=NetConfig(channels=-1)))
    with pytest.raises(UnknownNameError, match="'bogus'.*enas, random"):
        validate_search(SearchConfig(), method="bogus")


# --- `posenas extract` trusts no existing output; `posenas lift` reports a failed render -------------
def _keypoint_file(path: Path, video_id: str, frames: int, header_frames: int) -> Path:
    from posenas.datasets.keypoints import keypoints_table

    kp = np.random.default_rng(0).uniform(0, 100, (frames, 1, 17, 2)).astype(np.float32)
    table = keypoints_table(video_id, kp, np.ones((frames, 1, 17), np.float32), "h36m17", 30.0, 320, 240)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), FRAMES_KEY: str(frames).encode(),
                                           HEADER_FRAMES_KEY: str(header_frames).encode()})
    write_parquet_atomic(table, path)
    return path


def _person_avi(path: Path, frames: int = 24, truncate: bool = False) -> Path:
    """An MJPG AVI of a person sliding right; `truncate` cuts off its second half (the header still
    promises every frame)."""
    import cv2
    from skimage import data

    person = cv2.cvtColor(cv2.resize(data.astronaut(), (256, 256)), cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (352, 288))
    for i in range(frames):
        f = np.full((288, 352, 3), 40, np.uint8)
        f[16:272, 20 + 2 * i: 276 + 2 * i] = person
        writer.write(f)
    writer.release()
    if truncate:
        blob = path.read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
    return path


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("a", "b", "c"):  # only listed by name here: these rows never reach a decoder
        (root / f"{name}.mp4").write_bytes(b"\x00")
    return root


def test_verify_output(tmp_path: Path):
    good = _keypoint_file(tmp_path / "good.parquet", "good", 12, 12)
    assert verify_output(good) == (None, {"frames": 12, "header_frames": 12})
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    assert "empty" in verify_output(empty)[0]
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "not a readable Parquet file" in verify_output(cut)[0]
    assert is_truncated(9, 40) and not is_truncated(40, 40) and not is_truncated(99, 100) and not is_truncated(5, None)


def test_resume_redoes_empty_and_cut_files(videos: Path, tmp_path: Path, monkeypatch, caplog):
    out = tmp_path / "out"
    out.mkdir()
    good = _keypoint_file(out / "a.parquet", "a", 12, 12)
    (out / "b.parquet").write_bytes(b"")
    (out / "c.parquet").write_bytes(good.read_bytes()[:100])
    (out / ".a.parquet.123.tmp").write_bytes(b"left by a crash")

    class RayStarted(Exception):
        pass

    def no_ray(*args, **kwargs):
        raise RayStarted

    monkeypatch.setattr("posenas.core.ray_runtime.init_ray", no_ray)
    with caplog.at_level(logging.WARNING, logger="posenas.platform.extract"), pytest.raises(RayStarted):
        run_extract(videos, out, progress=False)  # b and c are to be done again: the job has to start
    redone = " ".join(r.getMessage() for r in caplog.records)
    assert "b.parquet: empty file" in redone and "c.parquet: not a readable Parquet file" in redone
    assert "a.parquet" not in redone and not (out / ".a.parquet.123.tmp").exists()


def test_resume_reports_a_truncated_video_every_time(videos: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from posenas.cli import app

    out = tmp_path / "out"
    out.mkdir()
    for name, frames, header in (("a", 9, 40), ("b", 12, 12), ("c", 12, 12)):
        _keypoint_file(out / f"{name}.parquet", name, frames, header)
    report = run_extract(videos, out, progress=False)  # everything done: no Ray
    assert report.skipped == ["a", "b", "c"] and report.redone == []
    assert report.truncated == [{"video": str(videos / "a.mp4"), "video_id": "a", "frames": 9, "header_frames": 40}]
    assert json.loads((out / SUMMARY_FILE).read_text())["truncated"] == report.truncated
    r = CliRunner().invoke(app, ["extract", "-i", str(videos), "-o", str(out)])
    assert r.exit_code == 1 and "header promises 40 frames, only 9 decode" in r.output


def test_worker_records_header_frames_of_a_truncated_video(tmp_path: Path, monkeypatch):
    import posenas.platform.extract as extract

    monkeypatch.setattr(extract, "_worker_placement", lambda: ("local", "cpu"))  # in this process, not on Ray
    video = _person_avi(tmp_path / "cut.avi", truncate=True)
    worker = ExtractWorker(str(tmp_path))
    row = worker({"video_id": np.array(["cut"], dtype=object), "video": np.array([str(video)], dtype=object)})
    assert row["status"][0] == "ok", row["error"][0]
    frames, header = int(row["frames"][0]), int(row["header_frames"][0])
    assert header == 24 and 0 < frames < header and is_truncated(frames, header)
    assert verify_output(tmp_path / "cut.parquet") == (None, {"frames": frames, "header_frames": 24})


def test_lift_reports_a_failed_render_and_keeps_the_keypoints(tmp_path: Path, monkeypatch, capsys):
    import posenas.core.render as render

    def too_big(*args, **kwargs):
        raise ValueError("frame size 7680x4320 exceeds what the encoder takes")

    monkeypatch.setattr(render, "render_video", too_big)
    video = _person_avi(tmp_path / "walk.avi", frames=8)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["lift", str(video), "-o", str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    line = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(line) == 1 and str(video) in line[0] and "rendering failed" in line[0] and "7680x4320" in line[0]
    summary = json.loads((out / "walk.json").read_text())
    assert "7680x4320" in summary["render_error"] and summary["frames"] == 8
    assert (out / "walk.npz").is_file() and (out / "walk.parquet").is_file()
    assert not list(out.glob("*.mp4")) and not list(out.glob(".*"))
