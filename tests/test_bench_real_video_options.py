"""benchmarks/bench_real_video.py's `--lifter LABEL=PATH` option: extra lifter rows, checked before any work."""

from __future__ import annotations

import pytest
import typer


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("bench_real_video")


def test_lifter_option_labels_and_errors(bench, tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b""), b.write_bytes(b"")
    assert bench._parse_lifters([f"offsets={a}", str(b)]) == {"offsets": a, "b": b}
    with pytest.raises(typer.BadParameter, match="no such checkpoint"):
        bench._parse_lifters([f"x={tmp_path / 'missing.pt'}"])
    with pytest.raises(typer.BadParameter, match="used twice"):
        bench._parse_lifters([f"x={a}", f"x={b}"])
    with pytest.raises(typer.BadParameter, match="used twice"):  # the shipped rows keep their names
        bench._parse_lifters([f"two-stream={a}"])
