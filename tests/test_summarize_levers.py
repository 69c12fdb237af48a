"""benchmarks/summarize_levers.py: differences and seed pairs from the JSONs, one line for a missing row, and the
committed `levers.md` is exactly what the committed JSONs render to."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def summ(load_benchmark):
    return load_benchmark("summarize_levers")


def _bench_json(path, dataset, column, per_seed, per_seed_val=None, machine="cpu A"):
    row = {"test_acc": sum(per_seed) / len(per_seed), "per_seed": per_seed, "per_seed_val": per_seed_val or []}
    path.write_text(json.dumps({"results": {dataset: {column: row}}, "machine": machine}))


def test_differences_seed_pairs_and_val_from_both_json_kinds(summ, tmp_path):
    _bench_json(tmp_path / "ref.json", "D", "m", [0.80, 0.82, 0.84], [0.90, 0.90, 0.95])
    _bench_json(tmp_path / "new.json", "D", "m", [0.83, 0.82, 0.83], [0.95, 0.95, 0.95], machine="cpu B")
    (tmp_path / "abl.json").write_text(json.dumps({"rows": {
        "a": {"seeds": [{"test": 0.5, "val": 0.6}, {"test": 0.7, "val": 0.6}]},
        "b": {"seeds": [{"test": 0.6, "val": None}, {"test": 0.6, "val": None}]}}}))
    levers = (summ.Lever("G", "bench lever", "M", "D", summ.Arm("ref.json", "m", "D"), summ.Arm("new.json", "m", "D")),
              summ.Lever("H", "ablation lever", "M", "D", summ.Arm("abl.json", "a"), summ.Arm("abl.json", "b")))
    rows = summ.summarize(tmp_path, levers)
    t, v = rows[0]["test"], rows[0]["val"]
    assert t["ref"] == pytest.approx(82.0) and t["new"] == pytest.approx(82.6667, abs=1e-3)
    assert t["delta"] == pytest.approx(0.6667, abs=1e-3)
    assert (t["ahead"], t["behind"]) == (1, 1)  # 83 > 80, 82 = 82, 83 < 84
    assert v["delta"] == pytest.approx(3.3333, abs=1e-3)
    assert rows[0]["same_machine"] is False
    assert rows[1]["test"]["delta"] == pytest.approx(0.0) and rows[1]["val"] is None  # b held no val out
    assert rows[1]["same_machine"] is None
    text = summ.render(rows)
    assert "| bench lever (different machines) | M | D | 82.0 ± 1.6 | 82.7 ± 0.5 | **+0.7** | 1 / 1 | +3.3 |" in text
    assert "## G" in text and "## H" in text


def test_a_missing_row_is_one_line_and_nothing_is_written(summ, tmp_path, monkeypatch, capsys):
    _bench_json(tmp_path / "ref.json", "D", "m", [0.8])
    monkeypatch.setattr(summ, "LEVERS", (summ.Lever("G", "x", "M", "D", summ.Arm("ref.json", "m", "D"),
                                                    summ.Arm("ref.json", "renamed", "D")),))
    out = tmp_path / "levers.md"
    assert summ.main(["--results", str(tmp_path), "--out", str(out), "--json", str(tmp_path / "l.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ref.json" in err and "'renamed'" in err and "'D'" in err
    assert not out.exists()
    with pytest.raises(summ.SummaryError, match="no such results file"):
        summ.load_arm(tmp_path, summ.Arm("gone.json", "m", "D"))


def test_committed_table_is_what_the_committed_jsons_render_to(summ):
    """Every lever names a committed row, and `levers.md` was regenerated after the last change to either."""
    rows = summ.summarize()
    assert len(rows) == len(summ.LEVERS)
    committed = (summ.RESULTS / "levers.md").read_text()
    assert committed == summ.render(rows), "benchmarks/results/levers.md is stale: run benchmarks/summarize_levers.py"
