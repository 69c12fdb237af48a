"""`posenas data info`: summaries of the real datasets, including faults, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posenas.cli import app

runner = CliRunner()


def _posenas(*args: str) -> subprocess.CompletedProcess:
    """The real entry point (posenas.cli:main), which turns PosenasError into one line and exit 2."""
    return subprocess.run([sys.executable, "-m", "posenas.cli", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.realdata
def test_info_msr(msr_root: Path):
    r = runner.invoke(app, ["data", "info", str(msr_root)])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "msr_action3d" in out and "msr20" in out
    assert "sequences      566" in out and "frames         23440" in out
    assert "high arm wave" in out and "pick up & throw" in out
    for proto in ("cross_subject", "AS1", "AS2", "AS3"):
        assert proto in out
    assert "faults: 20" in out
    assert "a13_s09_e02_skeleton3D.txt: all 38 frames are zeros" in out and "(dropped)" in out
    assert "a13_s09_e03_skeleton3D.txt: 740 of 936 frames" in out


@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:.*NaN NaN:UserWarning")
def test_info_utkinect_json(utkinect_root: Path):
    r = runner.invoke(app, ["data", "info", str(utkinect_root), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output[r.output.index("{"):])
    assert s["format"] == "utkinect" and s["sequences"] == 199 and s["classes"] == 10
    assert s["per_class"]["carry"] == 19 and s["protocols"]["cross_subject"] == [100, 99]
    assert len(s["faults"]) == 1 and "s10_e02 carry" in s["faults"][0] and "NaN" in s["faults"][0]


@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:.*NaN NaN:UserWarning")
def test_info_utkinect_table(utkinect_root: Path):
    r = runner.invoke(app, ["data", "info", str(utkinect_root)])
    assert r.exit_code == 0, r.output
    assert "sequences      199" in r.output and "loso/s10_e02" in r.output and "faults: 1" in r.output


def test_bad_path_exits_2_with_one_clean_line(tmp_path: Path):
    r = _posenas("data", "info", str(tmp_path / "nope"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no such file or directory" in lines[0]
    assert "Traceback" not in r.stderr + r.stdout


def test_malformed_file_exits_2_naming_file_and_line(tmp_path: Path):
    bad = tmp_path / "a01_s01_e01_skeleton3D.txt"
    bad.write_text("\n".join(["0.1 0.2 3.0 1.0"] * 5 + ["0.1 0.2"] + ["0.1 0.2 3.0 1.0"] * 14) + "\n")
    r = _posenas("data", "info", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{bad}:6" in lines[0] and "expected 4 numbers per row" in lines[0]
    assert "Traceback" not in r.stderr


def test_unknown_folder_exits_2(tmp_path: Path):
    (tmp_path / "x.txt").write_text("hello\n")
    r = _posenas("data", "info", str(tmp_path))
    assert r.returncode == 2 and "not a dataset format posenas recognises" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.realdata
def test_info_on_the_screen_folder_loads_2d(msr_root: Path):
    r = runner.invoke(app, ["data", "info", str(msr_root / "MSRAction3DSkeleton20joints"), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["dims"] == [2] and s["sequences"] == 566 and s["frames"] == 22759
    assert sum("sentinel" in f for f in s["faults"]) == 20
