"""Cluster configs, checked offline: cluster.yaml through Ray's own config validation, the KubeRay
manifests for the fields that matter, and the node install script run with a stand-in `pip`.

Nothing here reaches a cloud or a Kubernetes API; these checks catch a config that Ray would reject,
images that do not match the pinned Ray, GPU nodes that could end up with a CPU torch, and documented
commands whose options the CLI does not have.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PY_TAG = f"py{sys.version_info.major}{sys.version_info.minor}"
RAY_GPU_IMAGE = f"rayproject/ray:{ray.__version__}-{PY_TAG}-gpu"


def _launcher() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def _manifest(name: str) -> dict:
    return yaml.safe_load((DEPLOY / "kuberay" / name).read_text())


def _torch_pin() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==", 1)[1] for d in deps if d.startswith("torch=="))


def _search_options() -> set[str]:
    import typer

    from posenas.cli import app

    cmd = typer.main.get_command(app).commands["search"]
    return {opt for p in cmd.params for opt in p.opts}


def _flags(command: str) -> list[str]:
    return [t for t in shlex.split(command) if t.startswith("--")]


# --------------------------------------------------------------------------------------------------
# cluster launcher (cluster.yaml)
# --------------------------------------------------------------------------------------------------
def test_launcher_config_passes_ray_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _launcher()
    validate_config(config)  # Ray's JSON schema: unknown keys, wrong types, missing fields
    validate_config(prepare_config(config))  # and again after Ray fills in its defaults, as `ray up` does


def test_launcher_has_cpu_head_and_gpu_workers_scaling_from_zero():
    c = _launcher()
    types = c["available_node_types"]
    head = types[c["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] >= 2
    gpu = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) >= 1}
    assert c["head_node_type"] not in gpu and len(gpu) >= 2
    assert all(t["min_workers"] == 0 for t in gpu.values())
    assert max(t["max_workers"] for t in gpu.values()) >= 1 and c["max_workers"] >= max(t["max_workers"] for t in gpu.values())
    spot = [t for t in gpu.values() if t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"]
    assert spot, "a spot GPU worker type"
    assert 0 < c["idle_timeout_minutes"] <= 30
    assert c["provider"]["type"] == "aws"


def test_launcher_uses_rays_images_for_the_pinned_ray_with_shm_size():
    d = _launcher()["docker"]
    assert d["head_image"] == f"rayproject/ray:{ray.__version__}-{PY_TAG}"
    assert d["worker_image"] == d["image"] == RAY_GPU_IMAGE
    shm = [o for o in d["run_options"] if o.startswith("--shm-size=")]
    assert shm and re.fullmatch(r"--shm-size=\d+[gG]", shm[0])


def test_launcher_installs_cuda_torch_on_gpu_nodes_and_cpu_torch_on_the_head():
    c = _launcher()
    mount = next(remote for remote, local in c["file_mounts"].items() if local == ".")
    assert c["setup_commands"] == []  # per-kind installs only: no node installs the project blindly
    assert c["head_setup_commands"] == [f"bash {mount}/deploy/install_node.sh cpu {mount}"]
    for name, t in c["available_node_types"].items():
        if t["resources"].get("GPU", 0) >= 1:
            assert t["worker_setup_commands"] == [f"bash {mount}/deploy/install_node.sh gpu {mount}"], name
    start = " ".join(c["head_start_ray_commands"])
    assert "--autoscaling-config=~/ray_bootstrap_config.yaml" in start and "--port=6379" in start
    assert any("$RAY_HEAD_IP:6379" in cmd for cmd in c["worker_start_ray_commands"])


def test_documented_launcher_command_uses_real_search_options():
    text = (ROOT / "cluster.yaml").read_text()
    lines = [ln.lstrip("# ").rstrip("\\ ") for ln in text.splitlines()[:12]]
    joined = " ".join(lines)
    command = joined[joined.index("posenas search --address"): joined.index("(`ray dashboard")]
    assert "--address auto" in command and "--gpus-per-worker 1" in command and "--storage-path s3://" in command
    assert set(_flags(command)) <= _search_options()
    assert "--resume" in text and "ray down cluster.yaml" in text


# --------------------------------------------------------------------------------------------------
# the node install script, run with stand-ins for pip (records its arguments)
# --------------------------------------------------------------------------------------------------
def _run_install(kind: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "pip.log"
    (bin_dir / "pip").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n')
    (bin_dir / "pip").chmod(0o755)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # this venv: CPU torch
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("POSENAS_SKIP_GPU_CHECK", None)
    proc = subprocess.run(["bash", str(DEPLOY / "install_node.sh"), kind, str(ROOT)], env=env,
                          capture_output=True, text=True, timeout=120)
    calls = [shlex.split(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, calls


def test_install_gpu_takes_the_cuda_wheel_first_and_fails_without_cuda(tmp_path):
    proc, calls = _run_install("gpu", tmp_path)
    torch_call, project_call = calls
    assert f"torch=={_torch_pin()}" in torch_call
    index = torch_call[torch_call.index("--index-url") + 1]
    assert re.fullmatch(r"https://download\.pytorch\.org/whl/cu\d+", index)
    assert project_call[-2:] == ["-e", str(ROOT)]  # after torch: pip keeps 2.13.0+cuXXX (it satisfies the pin)
    import torch

    if torch.cuda.is_available():  # a real GPU node: the check passes and names the device
        assert proc.returncode == 0 and "GPU node check" in proc.stdout
    else:  # the CPU build here: the GPU node's setup must fail, in one line naming the cause
        assert proc.returncode == 1
        assert "torch.cuda.is_available() == False" in proc.stderr


def test_install_cpu_takes_the_cpu_wheel_and_skips_the_gpu_check(tmp_path):
    proc, calls = _run_install("cpu", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert calls[0][calls[0].index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert f"torch=={_torch_pin()}" in calls[0] and calls[1][-2:] == ["-e", str(ROOT)]


def test_install_rejects_an_unknown_node_kind(tmp_path):
    proc, calls = _run_install("tpu", tmp_path)
    assert proc.returncode == 2 and "cpu or gpu" in proc.stderr and calls == []


# --------------------------------------------------------------------------------------------------
# KubeRay manifests and the image they run
# --------------------------------------------------------------------------------------------------
def _containers(spec: dict) -> list[dict]:
    groups = [spec["headGroupSpec"]] + spec["workerGroupSpecs"]
    return [c for g in groups for c in g["template"]["spec"].get("containers", []) + g["template"]["spec"].get("initContainers", [])]


def _gpus(container: dict) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def test_image_is_rays_gpu_image_for_the_pinned_ray():
    froms = [ln.split()[1] for ln in (DEPLOY / "Dockerfile").read_text().splitlines() if ln.startswith("FROM ")]
    assert froms == [RAY_GPU_IMAGE]
    assert "install_node.sh gpu" in (DEPLOY / "Dockerfile").read_text()
    assert ".venv" in (DEPLOY / "Dockerfile.dockerignore").read_text().split()


def test_raycluster_autoscales_gpu_workers_from_zero_on_the_pinned_ray():
    rc = _manifest("raycluster.yaml")
    assert (rc["apiVersion"], rc["kind"]) == ("ray.io/v1", "RayCluster")
    spec = rc["spec"]
    assert spec["rayVersion"] == ray.__version__
    assert spec["enableInTreeAutoscaling"] is True and 0 < spec["autoscalerOptions"]["idleTimeoutSeconds"] <= 1800
    for c in _containers(spec):
        assert c["image"].endswith(f"-ray{ray.__version__}-{PY_TAG}-gpu"), c["name"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-gpus"] == "0" and not any(_gpus(c) for c in head["template"]["spec"]["containers"])
    groups = spec["workerGroupSpecs"]
    assert all(g["minReplicas"] == 0 and g["replicas"] == 0 for g in groups)
    assert max(g["maxReplicas"] for g in groups) >= 1
    assert any(g["template"]["spec"].get("nodeSelector", {}).get("karpenter.sh/capacity-type") == "spot" for g in groups)
    for g in groups:
        pod = g["template"]["spec"]
        (worker,) = pod["containers"]
        res = worker["resources"]
        assert _gpus(worker) == 1 and res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"]
        check = [c for c in pod["initContainers"] if "deploy/check_gpu.py" in " ".join(c["command"])]
        assert check and _gpus(check[0]) == 1, g["groupName"]  # the check sees the pod's GPU
    for g in [head] + groups:  # the object store needs a real /dev/shm in every Ray container
        pod = g["template"]["spec"]
        shm = {v["name"] for v in pod["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"}
        for c in pod["containers"]:
            assert any(m["mountPath"] == "/dev/shm" and m["name"] in shm for m in c["volumeMounts"])


def test_rayjob_runs_one_search_on_the_same_cluster_shape():
    job = _manifest("rayjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["rayClusterSpec"] == _manifest("raycluster.yaml")["spec"]
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    entry = job["spec"]["entrypoint"]
    assert entry.startswith("posenas search --address auto") and "--gpus-per-worker 1" in entry
    assert "--storage-path s3://" in entry
    assert set(_flags(entry)) <= _search_options()

