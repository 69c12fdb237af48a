"""The one Ray start-up: every command, job and server connects or starts Ray through `init_ray`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def init_ray(address: str | None = None, num_cpus: int | None = None, log_to_driver: bool = True,
             **kwargs: Any) -> bool:
    """Connect to `address` ("auto", "ray://...", "host:6379") or start an embedded local Ray without
    the dashboard.

    Without `address`, RAY_ADDRESS (set for `ray job submit` entrypoints) is used when set; otherwise an
    embedded Ray starts. Returns True when this call started or connected Ray (the caller then owns `ray.shutdown()`), False
    when Ray was already up. Usage statistics are off unless the user turned them on. An embedded Ray
    gets a watchdog (`ray_reaper.py`) so a killed driver leaves none of its processes behind.
    """
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None  # `ray job submit` sets RAY_ADDRESS
    if address:
        ray.init(address=address, log_to_driver=log_to_driver, **kwargs)
    else:
        # "local": never join the cluster /tmp/ray/ray_current_cluster last named (some `ray start` on
        # this machine, possibly long gone); no address means an embedded Ray of our own
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=log_to_driver,
                 configure_logging=False, **kwargs)
        _start_reaper()
    return True


def _node_pids() -> list[int]:
    """The processes this driver's local Ray node started (GCS, raylet, monitors, dashboard head)."""
    from ray._private import worker

    node = getattr(worker, "_global_node", None)
    if node is None:
        return []
    pids = []
    for infos in node.all_processes.values():
        for info in infos:
            proc = getattr(info, "process", None)
            if proc is not None and getattr(proc, "pid", None):
                pids.append(int(proc.pid))
    return pids


def _start_reaper() -> subprocess.Popen | None:
    """Start the watchdog in its own session (so it outlives a SIGKILLed driver and its process group)."""
    import ray

    pids = _node_pids()
    if not pids or sys.platform != "linux":
        return None
    env = {**os.environ, "PYTHONPATH": str(Path(ray.__file__).parent / "thirdparty_files")}  # Ray's psutil
    script = Path(__file__).with_name("ray_reaper.py")
    return subprocess.Popen([sys.executable, str(script), str(os.getpid()), *map(str, pids)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def worker_device():
    """torch device for code running in a Ray worker: the GPU Ray assigned, or the CPU.

    A GPU Ray assigned that torch cannot use (a CPU build of torch, no driver, or a fake `GPU` resource
    as in the fake-autoscaler tests) is a logged warning and a CPU fallback, never a crash.
    """
    import logging
    import warnings

    import ray
    import torch

    gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU", []) if ray.is_initialized() else []
    if gpus and torch.cuda.is_available():
        return torch.device("cuda")
    if gpus:
        msg = (f"Ray assigned GPU {', '.join(map(str, gpus))} to this worker but torch {torch.__version__} cannot "
               "use it (torch.cuda.is_available() is False): running on the CPU")
        logging.getLogger("posenas").warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return torch.device("cpu")
