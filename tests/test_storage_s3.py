"""Results on an object store: `--storage-path s3://bucket/prefix --storage-endpoint URL` against a real
S3 API server (moto's server mode) that this module starts on 127.0.0.1.

A search writes its checkpoints there, is SIGKILLed mid-run, and `--resume` continues it from there
with the controller state of the checkpoint it resumed from; the storage helpers round-trip files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from posenas.core import storage
from posenas.errors import PosenasError

BUCKET = "posenas-test"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """http://127.0.0.1:PORT of a moto S3 server holding an empty bucket; AWS test credentials set."""
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if moto is None:
        pytest.fail("moto_server not installed: it comes with the dev extra (pip install -e '.[dev]')")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    mp = pytest.MonkeyPatch()
    for k, v in S3_ENV.items():
        mp.setenv(k, v)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.5)
        import pyarrow.fs as pafs

        pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                          allow_bucket_creation=True).create_dir(BUCKET)
        yield endpoint
    finally:
        mp.undo()
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_storage_helpers_round_trip_on_s3(s3_endpoint):
    uri = storage.join(f"s3://{BUCKET}/helpers/", "run", "posenas_run.json")
    assert uri == f"s3://{BUCKET}/helpers/run/posenas_run.json"
    assert not storage.exists(uri, s3_endpoint)
    storage.write_text(uri, '{"a": 1}', s3_endpoint)
    assert storage.exists(uri, s3_endpoint) and json.loads(storage.read_text(uri, s3_endpoint)) == {"a": 1}
    kw = storage.tune_storage(f"s3://{BUCKET}/helpers", s3_endpoint)
    assert kw["storage_path"] == f"{BUCKET}/helpers" and kw["storage_filesystem"].type_name == "s3"


def test_storage_rejects_endpoints_it_cannot_use(tmp_path):
    with pytest.raises(PosenasError, match="needs an s3:// storage path"):
        storage.filesystem(tmp_path, "http://127.0.0.1:9000")
    with pytest.raises(PosenasError, match="not an s3:// path"):
        storage.filesystem("gs://bucket/x", "http://127.0.0.1:9000")
    with pytest.raises(PosenasError, match="http\\(s\\)://host"):
        storage.filesystem("s3://bucket/x", "127.0.0.1:9000")
    local = storage.tune_storage(tmp_path / "r")
    assert local == {"storage_path": str((tmp_path / "r").resolve()), "storage_filesystem": None}


def _checkpoint_digests(fs, experiment: str, into: Path) -> dict[int, str]:
    """{epoch: controller digest} of every search checkpoint under `experiment` in the store."""
    import pyarrow.fs as pafs

    from posenas.search.enas import load_state, state_digest
    from posenas.search.tune_search import SEARCH_STATE

    out = {}
    for info in fs.get_file_info(pafs.FileSelector(experiment, recursive=True)):
        if info.type == pafs.FileType.File and info.base_name == SEARCH_STATE:
            local = into / info.path.replace("/", "_")
            with fs.open_input_stream(info.path) as f:
                local.write_bytes(f.read())
            state = load_state(local)
            out[int(state["epoch"])] = state_digest(state["reinforce"]["controller"])
    return out


def _search_cmd(dataset: Path, endpoint: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "posenas.cli", "search", "--dataset", str(dataset), "--epochs", "5",
            "--channels", "4", "--cells", "1", "--nodes", "2", "--name", "s3search",
            "--storage-path", f"s3://{BUCKET}/runs", "--storage-endpoint", endpoint, *extra]


@pytest.mark.slow
@pytest.mark.ray
def test_search_on_s3_is_killed_then_resumes_from_its_checkpoint(s3_endpoint, tiny_msr, tmp_path):
    import psutil
    import pyarrow.fs as pafs

    env = {**os.environ, **S3_ENV, "RAY_USAGE_STATS_ENABLED": "0", "TQDM_DISABLE": "1"}
    fs, _ = storage.filesystem(f"s3://{BUCKET}", s3_endpoint)
    experiment = f"{BUCKET}/runs/s3search"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(_search_cmd(tiny_msr, s3_endpoint), env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:  # two checkpoints: Tune has then also forced its experiment state up to the store
            found = [i.base_name for i in fs.get_file_info(pafs.FileSelector(experiment, recursive=True, allow_not_found=True))]
            if "checkpoint_000001" in found and any(n.startswith("experiment_state") for n in found):
                break
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no second checkpoint on S3"
            time.sleep(0.5)
        time.sleep(2)
        tree = [psutil.Process(first.pid)] + psutil.Process(first.pid).children(recursive=True)
        assert first.poll() is None  # killed mid-run, not after the end
        first.send_signal(signal.SIGKILL)
        psutil.wait_procs(tree, timeout=30)  # the driver's embedded Ray goes with it (init_ray's watchdog)
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
    before = _checkpoint_digests(fs, experiment, tmp_path)
    assert before and max(before) < 5  # interrupted: the search had not finished
    assert storage.exists(f"s3://{experiment}/posenas_run.json", s3_endpoint)

    r = subprocess.run(_search_cmd(tiny_msr, s3_endpoint, "--resume"), env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (result_json,) = [i.path for i in fs.get_file_info(pafs.FileSelector(experiment, recursive=True))
                      if i.base_name == "result.json"]
    with fs.open_input_stream(result_json) as f:
        rows = [json.loads(line) for line in f.read().decode().splitlines()]
    resumed = [row for row in rows if row["start_epoch"] > 0]
    assert resumed, "the second run started over instead of resuming"
    start = resumed[0]["start_epoch"]
    assert start in before and resumed[0]["controller_digest_at_start"] == before[start]  # that checkpoint's controller
    assert [row["epoch"] for row in resumed] == list(range(start + 1, 6))
    assert "derived_val_acc" in rows[-1] and "shared-weight val acc of the derived child" in r.stdout
    assert (tmp_path / "posenas_report" / "s3search" / "genotype.json").is_file()  # a remote run's report: ./posenas_report


@pytest.mark.slow
@pytest.mark.ray
def test_extract_writes_parquet_to_s3_and_resumes(s3_endpoint, ray_local, person_videos):
    import pandas as pd
    import pyarrow.fs as pafs

    from posenas.platform.extract import run_extract

    out = f"s3://{BUCKET}/keypoints"
    rep = run_extract(person_videos, out, workers=1, progress=False, storage_endpoint=s3_endpoint)
    assert sorted(rep.done) == ["jump", "walk"] and rep.failed == []
    fs, inner = storage.filesystem(out, s3_endpoint)
    names = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(inner)))
    assert names == ["_errors.json", "_summary.json", "jump.parquet", "walk.parquet"]  # no temporary objects
    df = pd.read_parquet(f"{inner}/walk.parquet", filesystem=fs)
    assert len(df) == 6 and set(df["video_id"]) == {"walk"}

    fs.delete_file(f"{inner}/jump.parquet")  # lost: only that one is redone
    rep2 = run_extract(person_videos, out, workers=1, progress=False, storage_endpoint=s3_endpoint)
    assert rep2.skipped == ["walk"] and rep2.done == ["jump"]
    summary = json.loads(storage.read_text(f"{out}/_summary.json", s3_endpoint))
    assert (summary["done"], summary["skipped"], summary["frames"]) == (1, 1, 5)


@pytest.mark.slow
@pytest.mark.ray
def test_train_writes_its_trials_to_s3(s3_endpoint, ray_local, tiny_msr):
    import numpy as np
    import pyarrow.fs as pafs

    from posenas.platform.classification.cellnet import NetConfig
    from posenas.platform.classification.genotype import random_genotype
    from posenas.search import api
    from posenas.search.data import DataSpec, load_splits

    spec = DataSpec(str(tiny_msr), augment_train=0)
    genotype = random_genotype(2, np.random.default_rng(0))
    outcome = api.train_genotype(genotype, load_splits(spec), spec, NetConfig(channels=4, num_nodes=2), {"epochs": 1},
                                 f"s3://{BUCKET}/train", name="t", seeds=1, verbose=0, storage_endpoint=s3_endpoint)
    assert outcome.experiment_path == f"s3://{BUCKET}/train/t" and 0.0 <= outcome.test_accs[0] <= 1.0
    fs, inner = storage.filesystem(outcome.experiment_path, s3_endpoint)
    files = {i.base_name for i in fs.get_file_info(pafs.FileSelector(inner, recursive=True))}
    assert {"model.pt", "result.json"} <= files
