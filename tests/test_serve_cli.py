"""`posenas serve` as a user runs it: a bad config fails before Ray starts; a good one serves on 127.0.0.1
until Ctrl-C and then shuts down cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _posenas(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen([sys.executable, "-m", "posenas", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_bad_config_fails_before_ray_starts(tmp_path):
    bad = tmp_path / "serve.yaml"
    bad.write_text("limits: {max_frames: 10}\n")
    p = _posenas("serve", "--config", str(bad))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "limits.max_frames" in err and str(bad) in err and "starting" not in err


@pytest.mark.slow
@pytest.mark.ray
def test_serve_until_ctrl_c(tmp_path, action_model_checkpoint):
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(f"port: {port}\nui: {{enabled: false}}\n" + (
        "" if action_model_checkpoint is None else f"pipeline: {{classifier: {{checkpoint: {action_model_checkpoint}}}}}\n"))
    p = _posenas("serve", "--config", str(cfg), "--num-cpus", "2", start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 240
        up = False
        while time.time() < deadline and p.poll() is None:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=5).status_code == 200:
                    up = True
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        assert up, p.stderr.read() if p.poll() is not None else "server did not come up"
        assert "/v1/score" in httpx.get(f"{url}/openapi.json").json()["paths"]
        health = None  # the ingress answers before every replica does: poll like a readiness probe
        while time.time() < deadline:
            health = httpx.get(f"{url}/v1/health", timeout=30).json()
            if health["status"] == "ready":
                break
            time.sleep(2)
        assert health is not None and health["status"] == "ready", health
        with pytest.raises(httpx.ConnectError):  # bound to 127.0.0.1 only
            host = socket.gethostbyname(socket.gethostname())
            if host.startswith("127."):
                raise httpx.ConnectError("no other interface to try")
            httpx.get(f"http://{host}:{port}/v1/health", timeout=5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=120)
        assert p.returncode == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{url}/v1/health", timeout=5)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
