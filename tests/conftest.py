"""Shared fixtures: where the real datasets are, and one local Ray per test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TQDM_DISABLE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """POSENAS_DATA if set, else ../shared/data beside the repository."""
    env = os.environ.get("POSENAS_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root} (set POSENAS_DATA)")
    return root


def _sub(name: str):
    @pytest.fixture(scope="session")
    def fixture(shared_data: Path) -> Path:
        p = shared_data / name
        if not p.exists():
            pytest.skip(f"{p} not found")
        return p

    return fixture


msr_root = _sub("msr_action3d")
utkinect_root = _sub("utkinect_action3d")
cmu_root = _sub("cmu_mocap")


@pytest.fixture(scope="module")
def ray_local():
    """One embedded Ray per test module (starting Ray costs ~4 s here)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
