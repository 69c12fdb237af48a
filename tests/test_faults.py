"""Faults a search or an extract job survives, each one caused for real (SIGKILL of the process).

- a child-worker actor killed mid-search: Ray restarts it and retries its call; the search goes on with
  no step lost or applied twice, and the trial itself never restarts;
- the trial's process killed: Tune restarts the trial from its last checkpoint (FailureConfig), with
  exactly the controller that checkpoint holds;
- a Ray Data extract actor killed mid-video: the job finishes and every video is written exactly once;
- a driver killed: none of the Ray processes it started stays behind (init_ray's watchdog).

Only processes below this test process (its own embedded Ray) or started by the test are killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from posenas.search.controller import ControllerConfig
from posenas.search.enas import SearchConfig, load_state, state_digest
from posenas.platform.classification.cellnet import NetConfig

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def _data(n_train: int = 96, n_val: int = 32, classes: int = 3, size: int = 16):
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, classes, n)
        x = rng.normal(size=(n, 3, size, size)).astype(np.float32)
        x[:, 0] += (y[:, None, None] - 1) * 0.8
        return x, y.astype(np.int64)

    return {"train": make(n_train), "val": make(n_val), "classes": [f"c{i}" for i in range(classes)]}


def _config(epochs: int, workers: int) -> SearchConfig:
    return SearchConfig(
        epochs=epochs, batch_size=32, controller_steps=2, controller_batch=2, eval_samples=2, derive_samples=4,
        workers=workers, cpus_per_worker=0.5, seed=5,
        net=NetConfig(channels=8, cells_per_block=1, num_nodes=3, num_classes=3),
        controller=ControllerConfig(hidden=32),
    )


def _my_processes(title: str):
    """Processes below this test process whose title contains `title` (Ray names actors ray::Class)."""
    import psutil

    out = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if title in " ".join(p.cmdline()):
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _rows(experiment: Path) -> list[dict]:
    (result_json,) = experiment.glob("*/result.json")
    return [json.loads(line) for line in result_json.read_text().splitlines()]


def test_killed_child_worker_is_restarted_and_the_search_goes_on(ray_local, tmp_path):
    from ray import tune

    from posenas.search.tune_search import run_search

    killed: list[int] = []

    class KillAChildWorker(tune.Callback):
        """After epoch 1 reports, SIGKILL one child-worker actor while epoch 2 runs."""

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result["training_iteration"] == 1 and not killed:
                workers = _my_processes("ray::ChildWorker")
                assert workers, "no child-worker process found"
                workers[0].send_signal(signal.SIGKILL)
                killed.append(workers[0].pid)

    out = run_search(_config(epochs=2, workers=2), _data(), tmp_path, name="kill_child",
                     callbacks=[KillAChildWorker()], verbose=0)
    assert killed
    rows = _rows(tmp_path / "kill_child")
    assert [r["epoch"] for r in rows] == [1, 2] and {r["start_epoch"] for r in rows} == {0}  # no trial restart
    steps = [h["child_steps"] for h in out.history]
    assert steps == [steps[0], 2 * steps[0]]  # no step lost or applied twice
    out.genotype.validate()


def test_killed_trial_restarts_from_its_last_checkpoint(ray_local, tmp_path):
    from ray import tune

    from posenas.search.tune_search import SEARCH_STATE, run_search

    seen: dict[str, object] = {}

    class KillTrialAfterFirstCheckpoint(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            seen.setdefault("pid", result["pid"])

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            if "checkpoint" not in seen:
                seen["checkpoint"] = checkpoint.path
                state = load_state(Path(checkpoint.path) / SEARCH_STATE)
                seen["digest"], seen["epoch"] = state_digest(state["reinforce"]["controller"]), state["epoch"]
                os.kill(int(seen["pid"]), signal.SIGKILL)  # the trial's actor process

    out = run_search(_config(epochs=3, workers=0), _data(), tmp_path, name="kill_trial",
                     callbacks=[KillTrialAfterFirstCheckpoint()], verbose=0, max_failures=2)
    assert seen["epoch"] == 1
    rows = _rows(tmp_path / "kill_trial")
    resumed = [r for r in rows if r["start_epoch"] == 1]
    assert [r["epoch"] for r in resumed] == [2, 3]  # Tune restarted it on its own, from epoch 1's checkpoint
    assert resumed[0]["controller_digest_at_start"] == seen["digest"]
    assert resumed[0]["pid"] != seen["pid"]
    assert [h["epoch"] for h in out.history] == [1, 2, 3]


def test_killed_extract_actor_mid_video_every_video_written_once(ray_local, tmp_path):
    import pandas as pd

    from posenas.platform.extract import run_extract

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b"):
        _person_video(videos / f"{name}.mp4", n=30)
    out = tmp_path / "parquet"
    result: dict[str, object] = {}

    def job():
        try:
            result["report"] = run_extract(videos, out, workers=1, progress=False)
        except BaseException as e:  # noqa: BLE001 - surfaced by the assertion below
            result["error"] = e

    t = threading.Thread(target=job)
    t.start()
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and t.is_alive() and time.monotonic() < deadline:
        for p in _my_processes("ExtractWorker"):
            try:
                busy = sum(p.cpu_times()[:2])
            except Exception:  # noqa: BLE001 - it may exit between listing and reading
                continue
            if busy > 3.0 and not list(out.glob("*.parquet")):  # past loading the models: mid first video
                p.send_signal(signal.SIGKILL)
                killed = p.pid
                break
        time.sleep(0.2)
    t.join(timeout=400)
    assert killed is not None, "the extract actor was never caught mid-video"
    assert "error" not in result, result.get("error")
    rep = result["report"]
    assert sorted(rep.done) == ["a", "b"] and rep.failed == []  # each video reported once
    df = pd.read_parquet(out)
    assert not df.duplicated(["video_id", "frame", "person"]).any()  # no row written twice
    assert df.groupby("video_id")["frame"].nunique().sum() == rep.frames  # nor a frame lost
    assert sorted(df["video_id"].unique()) == ["a", "b"]


DRIVER = """
import json, os, sys, time
from posenas.core.ray_runtime import init_ray
init_ray(num_cpus=1, log_to_driver=False)
import ray, psutil

@ray.remote
class Writer:
    def __init__(self, path):
        self.path = path
    def run(self):
        while True:
            with open(self.path, "a") as f:
                f.write("x")
            time.sleep(0.1)
    def pid(self):
        return os.getpid()

w = Writer.options(max_concurrency=2).remote(sys.argv[1])
w.run.remote()
actor_pid = ray.get(w.pid.remote())
time.sleep(1)
tree = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps({"actor": actor_pid, "tree": tree}), flush=True)
time.sleep(600)
"""


def test_killed_driver_leaves_no_ray_process_behind(tmp_path):
    import psutil

    written = tmp_path / "writes.txt"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(written)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        info = json.loads(driver.stdout.readline())
        procs = [psutil.Process(pid) for pid in set(info["tree"]) | {info["actor"]} if psutil.pid_exists(pid)]
        names = " ".join(p.name() for p in procs)
        assert "raylet" in names and "gcs_server" in names  # the tree really holds the embedded Ray
        assert any("DashboardAgent" in " ".join(p.cmdline()) for p in procs)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        _, alive = psutil.wait_procs(procs, timeout=45)
        assert [f"{p.pid} {' '.join(p.cmdline())[:60]}" for p in alive] == []
        size = written.stat().st_size
        time.sleep(1.0)
        assert written.stat().st_size == size  # the actor stopped writing
    finally:
        if driver.poll() is None:
            driver.kill()


def _person_video(path: Path, n: int) -> Path:
    import cv2
    from skimage import data

    from posenas.core.video import write_video

    crop = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        f = np.full((288, 352, 3), 40, np.uint8)
        f[16:272, 20 + 3 * (i % 20): 276 + 3 * (i % 20)] = crop
        frames.append(f)
    write_video(path, frames, 25.0)
    return path
