"""Autoscaling on one machine: Ray's fake multi-node provider adds "GPU" nodes for a search and an extract.

The head (2 CPUs, no GPU) runs `ray start --head --autoscaling-config` with provider `fake_multinode`;
the worker type has a fake {"GPU": 1} resource, min 0 / max 2, so `posenas search --workers 2
--gpus-per-worker 1` can only run once the autoscaler has added two nodes. The children then train on
the CPU (the GPU is a resource label here, torch has no CUDA) with a warning, and the nodes go away
after the idle timeout. The tests run in file order and reuse the nodes the search scaled out to. Only the cluster this module started is stopped (its own process tree).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[1]
FAKE_WORKER_ID = re.compile(r"^f{51}\d{4}[1-9]$")  # the fake provider's ids: fff...00001, fff...00002, ...
IDLE_MINUTES = 0.2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _fake_cluster_config(gcs_address: str) -> dict:
    return {
        "cluster_name": "posenas-fake",
        "max_workers": 2,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_MINUTES,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,  # the fake nodes join this head (default: port 6379)
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {"ssh_user": "ubuntu"},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 2}, "node_config": {}, "max_workers": 0},
            "fake_gpu": {"resources": {"CPU": 1, "GPU": 1}, "node_config": {}, "min_workers": 0, "max_workers": 2},
        },
        "head_node_type": "ray.head.default",
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def _tree(pid: int):
    import psutil  # Ray's vendored copy (ray/thirdparty_files) is on the path once ray is imported

    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def fake_cluster(tmp_path_factory):
    """(GCS address, token file) of a fake autoscaling cluster; torn down by killing its own process tree."""
    import psutil
    import ray

    tmp = tmp_path_factory.mktemp("fake_cluster")
    ip = ray._private.services.get_node_ip_address()
    address = f"{ip}:{_free_port()}"
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray_fake_", dir="/tmp"))  # short: socket paths are length-limited
    config = tmp / "fake_cluster.yaml"
    config.write_text(json.dumps(_fake_cluster_config(address)))
    from ray._private.authentication.authentication_token_generator import generate_new_authentication_token

    token = tmp / "auth_token"  # this cluster's own token (~/.ray/auth_token is shared by every local Ray)
    token.write_text(generate_new_authentication_token())
    env = {**_client_env(token), "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    log = open(tmp / "ray_start.log", "w")
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={address.rsplit(':', 1)[1]}",
         "--num-cpus=2", "--num-gpus=0", f"--autoscaling-config={config}", "--include-dashboard=false", "--block",
         # its own temp dir: `ray start` records itself in <temp dir>/ray_current_cluster, which a later
         # plain ray.init() anywhere on this machine would try to join
         f"--temp-dir={ray_tmp}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in (tmp / "ray_start.log").read_text():
            assert head.poll() is None and time.monotonic() < deadline, (tmp / "ray_start.log").read_text()[-3000:]
            time.sleep(1)
        yield address, token
    finally:
        procs = _tree(head.pid)
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        _, alive = psutil.wait_procs(procs, timeout=10)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _client_env(token: Path) -> dict[str, str]:
    """Every process that talks to the fake cluster runs with its token (so it is a subprocess: Ray
    caches the token it loaded, once per process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    return {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0",
            "TQDM_DISABLE": "1"}


def _driver(cluster, code: str, timeout: float = 240):
    """Run `code` in a fresh driver connected to the cluster; it prints one JSON line, returned parsed."""
    address, token = cluster
    prelude = ("import json, ray\nfrom posenas.core.ray_runtime import init_ray\n"
               f"init_ray({address!r}, log_to_driver=False)\n")
    r = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout,
                       env=_client_env(token), cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _wait_scaled_down(cluster, timeout_s: float = 120) -> list[str]:
    """The GPU nodes still alive once the autoscaler has removed idle ones (or the timeout passed)."""
    code = (f"import time\ndeadline = time.monotonic() + {timeout_s}\n"
            "while True:\n"
            "    alive = [n['NodeID'] for n in ray.nodes() if n['Alive'] and n['Resources'].get('GPU', 0) > 0]\n"
            "    if not alive or time.monotonic() > deadline:\n"
            "        break\n"
            "    time.sleep(2)\n"
            "print(json.dumps(alive))\n")
    return _driver(cluster, code, timeout=timeout_s + 60)


def _posenas(cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posenas.cli", *args, "--address", cluster[0]], capture_output=True,
                          text=True, timeout=timeout, env=_client_env(cluster[1]), cwd=REPO)


def test_search_scales_out_to_fake_gpu_nodes(fake_cluster, tiny_msr, tmp_path):
    from posenas.platform.classification.genotype import load_genotype

    assert _wait_scaled_down(fake_cluster, 0) == []  # min 0: no GPU node before a search asks for one
    out = tmp_path / "results"
    r = _posenas(fake_cluster, "search", "--dataset", str(tiny_msr), "--protocol", "cross_subject", "--epochs", "1",
                 "--workers", "2", "--gpus-per-worker", "1", "--channels", "4", "--cells", "1", "--nodes", "2",
                 "--storage-path", str(out), "--name", "fake")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "shared-weight val acc of the derived child" in r.stdout

    (result_json,) = out.glob("fake/*/result.json")
    rows = [json.loads(line) for line in result_json.read_text().splitlines()]
    nodes, devices = rows[-1]["worker_nodes"], rows[-1]["worker_devices"]
    assert len(nodes) == 2 and len(set(nodes)) == 2, nodes  # one child worker per added GPU node
    assert all(FAKE_WORKER_ID.match(n) for n in nodes), nodes  # the autoscaler's nodes, not the head
    assert devices == ["cpu", "cpu"]  # the fake GPU: CPU fallback, not a crash
    (genotype_file,) = out.glob("fake/report/*genotype*.json")
    genotype, _ = load_genotype(genotype_file)
    genotype.validate()


def test_fake_gpu_falls_back_to_cpu_with_a_warning(fake_cluster):
    code = (
        "@ray.remote(num_gpus=1, num_cpus=1)\n"
        "def probe():\n"
        "    import warnings\n"
        "    from posenas.core.ray_runtime import worker_device\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        device = worker_device()\n"
        "    return str(device), [str(w.message) for w in caught], ray.get_runtime_context().get_node_id()\n"
        "print(json.dumps(ray.get(probe.remote(), timeout=180)))\n"
    )
    device, messages, node = _driver(fake_cluster, code)
    assert FAKE_WORKER_ID.match(node), node
    assert device == "cpu" and any("torch.cuda.is_available() is False" in m for m in messages), messages


def test_extract_on_a_fake_gpu_node_then_idle_nodes_go(fake_cluster, person_videos, tmp_path):
    import pandas as pd

    out = tmp_path / "parquet"
    r = _posenas(fake_cluster, "extract", "--input", str(person_videos), "--out", str(out),
                 "--workers", "1", "--gpus-per-worker", "1")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["done"] == 2 and summary["failed"] == 0
    assert len(summary["nodes"]) == 1 and FAKE_WORKER_ID.match(summary["nodes"][0]), summary["nodes"]
    assert len(pd.read_parquet(out / "walk.parquet")) == 6
    assert _wait_scaled_down(fake_cluster) == []  # idle nodes removed after idle_timeout_minutes
