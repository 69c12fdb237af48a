"""The package's layering: foundation first, stages in data-path order (contracts in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys


def test_import_linter_contracts_hold(repo_root):
    from importlinter.cli import lint_imports

    # lint_imports returns the exit code: 0 when every contract in pyproject.toml is kept
    assert lint_imports(config_filename=str(repo_root / "pyproject.toml")) == 0


def test_layout_registry_does_not_depend_on_import_order():
    code = "from posenas.core.skeleton import get_layout; print(get_layout('openpose25').num_joints)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "25"
