"""The test process leaves through conftest's `pytest_unconfigure` (no interpreter teardown): pytest's
exit status must survive that shortcut, or a red suite could exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _pytest_through_conftest(tmp_path: Path, target: Path) -> subprocess.CompletedProcess:
    """pytest in a subprocess with this suite's conftest loaded as a plugin (its exit hook included)."""
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("POSENAS_TEST_FULL_TEARDOWN", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                           str(target)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("body", "code"), [("assert True", 0), ("assert False", 1)])
def test_exit_status_survives_the_shortcut_exit(tmp_path: Path, body: str, code: int):
    (tmp_path / "test_one.py").write_text(f"def test_one():\n    {body}\n")
    r = _pytest_through_conftest(tmp_path, tmp_path / "test_one.py")
    assert r.returncode == code, r.stdout + r.stderr
    assert ("1 passed" if code == 0 else "1 failed") in r.stdout  # the summary still printed


def test_no_tests_collected_keeps_its_own_status(tmp_path: Path):
    r = _pytest_through_conftest(tmp_path, tmp_path)
    assert r.returncode == 5, r.stdout + r.stderr
