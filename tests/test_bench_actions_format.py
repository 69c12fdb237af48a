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


def test_lifting_section_reports_mean_and_std_over_seeds(bench):
    from argparse import Namespace

    from posenas.platform.classification.train import ClassifierTrainConfig

    args = Namespace(threads=1, epochs=30, augment=4, size=32, space="native", seeds=3, search_runs=3, data_seed=0,
                     search_epochs=8, train_on_val=False)
    seeds = {"test_acc": 0.6, "test_std": 0.02, "val_acc": 0.7, "val_std": 0.01, "per_seed": [0.58, 0.6, 0.62]}
    text = bench.render({}, ({"lifted": seeds}, {"sequences": 557, "lift_seconds": 12.0, "faults": 0}), args,
                        ClassifierTrainConfig(), 60.0)
    assert "| lifted | 60.0 ± 2.0 (3) | 70.0 ± 1.0 (3) |" in text
    failed = bench.render({}, ({}, {"error": "PosenasError: no lifter"}), args, ClassifierTrainConfig(), 60.0)
    assert "Failed: `PosenasError: no lifter`" in failed
