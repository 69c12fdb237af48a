"""The test process leaves through conftest's `pytest_unconfigure` (no interpreter teardown): pytest's
exit status must survive that shortcut, or a red suite could exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize(("body", "code"), [("assert True", 0), ("assert False", 1)])
def test_exit_status_survives_the_shortcut_exit(tmp_path: Path, body: str, code: int):
    (tmp_path / "test_one.py").write_text(f"def test_one():\n    {body}\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop("POSENAS_TEST_FULL_TEARDOWN", None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                        str(tmp_path / "test_one.py")], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == code, r.stdout + r.stderr
    assert ("1 passed" if code == 0 else "1 failed") in r.stdout  # the summary still printed


def test_no_tests_collected_keeps_its_own_status(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                        str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 5, r.stdout + r.stderr
