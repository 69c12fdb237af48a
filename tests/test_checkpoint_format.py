"""The one checkpoint format: every model family round-trips through torch.load(weights_only=True), and
bad files are one clear DataFormatError naming the file and field."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from posenas.core.checkpoint import FORMAT, Checkpoint, read_checkpoint, save_checkpoint
from posenas.errors import DataFormatError
from posenas.platform.classification.checkpoint import CLASSIFIER_FAMILIES, load_classifier, save_classifier
from posenas.platform.encoding.pose_space import CANONICAL_SPACE

SMALL_CONFIGS = {
    "cellnet": lambda: _cellnet_config(),
    "densenet": lambda: {"num_classes": 3, "growth_rate": 4, "block_config": [1, 1], "init_features": 8},
    "tcn": lambda: {"num_classes": 3, "in_features": 51, "channels": [8, 8], "dilations": [1, 2]},
    "stgcn": lambda: {"num_classes": 3, "channels": [8, 8], "strides": [1, 2], "temporal_kernel": 3},
}


def _cellnet_config() -> dict:
    from posenas.platform.classification.cellnet import NetConfig
    from posenas.platform.classification.genotype import random_genotype

    g = random_genotype(2, np.random.default_rng(1))
    return {"genotype": g.to_dict(), "net": NetConfig(channels=4, num_nodes=2, num_classes=3).to_dict()}


def _input(family: str) -> torch.Tensor:
    return torch.randn(2, 20, 51) if family in ("tcn", "stgcn") else torch.randn(2, 3, 16, 16)


@pytest.mark.parametrize("family", CLASSIFIER_FAMILIES.names())
def test_every_classifier_family_round_trips_with_weights_only(family, tmp_path):
    assert family in SMALL_CONFIGS, f"add a small config for the new family {family!r}"
    torch.manual_seed(0)
    config = SMALL_CONFIGS[family]()
    model = CLASSIFIER_FAMILIES.get(family)(config).eval()
    path = save_classifier(tmp_path / f"{family}.pt", model, family, config, ["a", "b", "c"], {"size": 16},
                           dict(CANONICAL_SPACE), data={"dataset": "x"}, metrics={"test_acc": 0.5})
    payload = torch.load(path, weights_only=True)  # must not need pickle of project classes
    assert payload["format"] == FORMAT and payload["kind"] == "classifier" and payload["family"] == family
    loaded = load_classifier(path)
    x = _input(family)
    assert torch.allclose(loaded.model(x), model(x), atol=1e-6)
    ck = loaded.checkpoint
    assert ck.classes == ["a", "b", "c"] and ck.space["name"] == "canonical" and ck.metrics == {"test_acc": 0.5}
    assert ck.parameters == sum(p.numel() for p in model.parameters())


def test_half_precision_is_smaller_and_close(tmp_path):
    config = {"num_classes": 3}  # default size: weights, not the records, dominate the file
    model = CLASSIFIER_FAMILIES.get("densenet")(config).eval()
    full = save_classifier(tmp_path / "f.pt", model, "densenet", config, ["a", "b", "c"], {}, dict(CANONICAL_SPACE))
    half = save_classifier(tmp_path / "h.pt", model, "densenet", config, ["a", "b", "c"], {}, dict(CANONICAL_SPACE),
                           half=True)
    assert half.stat().st_size < 0.75 * full.stat().st_size
    x = _input("densenet")
    assert torch.allclose(load_classifier(half).model(x), model(x), atol=5e-2)


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"certainly not a zip", "not a readable torch checkpoint"),
])
def test_corrupt_files_are_clear_errors(tmp_path, content, match):
    p = tmp_path / "bad.pt"
    p.write_bytes(content)
    with pytest.raises(DataFormatError, match=match) as e:
        read_checkpoint(p)
    assert "bad.pt" in str(e.value)


def test_foreign_kind_and_missing_fields_name_the_field(tmp_path):
    torch.save({"format": "something-else/1"}, tmp_path / "foreign.pt")
    with pytest.raises(DataFormatError, match=r"\[format\]"):
        read_checkpoint(tmp_path / "foreign.pt")
    ck = Checkpoint(kind="lifter", family="pose", name="x", config={}, state_dict={})
    save_checkpoint(tmp_path / "lifter.pt", ck)
    with pytest.raises(DataFormatError, match=r"\[kind\].*lifter checkpoint, expected a classifier"):
        load_classifier(tmp_path / "lifter.pt")
    torch.save({"format": FORMAT, "kind": "classifier"}, tmp_path / "partial.pt")
    with pytest.raises(DataFormatError, match="lacks family"):
        read_checkpoint(tmp_path / "partial.pt")
    with pytest.raises(DataFormatError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_a_pickle_payload_is_refused_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"format": FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(DataFormatError, match="not a readable torch checkpoint"):
        read_checkpoint(tmp_path / "evil.pt")


def test_errors_survive_pickling():
    e = DataFormatError("/x/model.pt", "checkpoint file is empty (0 bytes)", field="state_dict")
    back = pickle.loads(pickle.dumps(e))
    assert str(back) == str(e) and back.field == "state_dict"
