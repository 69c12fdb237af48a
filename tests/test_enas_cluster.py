"""cluster.yaml: valid YAML that Ray's own cluster-config validator accepts, with what `posenas search` needs.

It cannot be launched here (no cloud account, no network); this checks its shape only.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_ray_schema():
    from ray.autoscaler._private.util import validate_config

    validate_config(_config())  # raises on unknown/missing keys


def test_cluster_yaml_has_cpu_head_autoscaling_gpu_workers_and_installs_project():
    c = _config()
    types = c["available_node_types"]
    head = types[c["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] >= 1
    gpu = [t for name, t in types.items() if name != c["head_node_type"] and t["resources"].get("GPU", 0) >= 1]
    assert gpu and all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in gpu)
    assert c["max_workers"] >= max(t["max_workers"] for t in gpu)
    assert c["provider"]["type"] in {"aws", "gcp", "azure"}
    mounted = [remote for remote, local in c["file_mounts"].items() if local == "."]
    assert mounted and any("pip install" in cmd and mounted[0] in cmd for cmd in c["setup_commands"])
    assert any("--head" in cmd for cmd in c["head_start_ray_commands"])
    assert any("$RAY_HEAD_IP" in cmd for cmd in c["worker_start_ray_commands"])
    text = (ROOT / "cluster.yaml").read_text()
    assert "posenas search --address auto" in text  # the documented way to run on it
