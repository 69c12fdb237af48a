"""benchmarks/bench_actions.py's table cells: finished, unfinished and train+val rows (the latter have no val)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("bench_actions")


def test_finished_row_cell(bench):
    r = {"test_acc": 0.8, "test_std": 0.01, "val_acc": None, "val_std": None, "per_seed": [0.79, 0.81]}
    assert bench.fmt_acc(r) == "80.0 ± 1.0 (2)"
    assert bench.fmt_acc(r, "val") == "-"
    assert bench.fmt_acc(None) == "-" and bench.fmt_acc({"error": "x"}) == "failed"


def test_unfinished_train_on_val_row_has_test_but_no_val(bench):
    r = {"partial_runs": [{"test_acc": 0.815, "val_acc": None}, {"test_acc": 0.805, "val_acc": None}]}
    assert bench.fmt_acc(r) == "81.0 ± 0.5 (2, unfinished)"
    assert bench.fmt_acc(r, "val") == "-"
    held_out = {"partial_runs": [{"test_acc": 0.7, "val_acc": 0.9}]}
    assert bench.fmt_acc(held_out, "val") == "90.0 ± 0.0 (1, unfinished)"
