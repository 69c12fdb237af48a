"""Baseline models and the shared classifier trainer, on a tiny real MSR Action3D subset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posenas.platform.encoding.action_data import ActionImages, protocol_split, protocol_split_sequences
from posenas.platform.classification.densenet import DenseNet, DenseNetConfig
from posenas.platform.classification.tcn import TCN, TCNConfig
from posenas.platform.classification.train import (
    ClassifierTrainConfig,
    _shift,
    evaluate_classifier,
    seed_everything,
    to_inputs,
    train_classifier,
)
from posenas.platform.encoding.spmf import EncodingConfig


@pytest.mark.parametrize("size", [32, 64])
def test_densenet_forward_shapes(size):
    m = DenseNet(DenseNetConfig(num_classes=8))
    assert m(torch.zeros(3, 3, size, size)).shape == (3, 8)
    small = DenseNet(DenseNetConfig(num_classes=5, growth_rate=4, block_config=(1, 1), init_features=8))
    assert small(torch.zeros(2, 3, size, size)).shape == (2, 5)


def test_tcn_forward_shapes_and_input_check():
    m = TCN(TCNConfig(num_classes=10, in_features=2 * 15 * 3))
    assert m(torch.zeros(4, 32, 90)).shape == (4, 10)
    assert m(torch.zeros(2, 17, 90)).shape == (2, 10)  # any length
    with pytest.raises(ValueError):
        m(torch.zeros(2, 32, 60))
    with pytest.raises(ValueError):
        TCNConfig(num_classes=2, in_features=3, channels=(8,), dilations=(1, 2))


def test_shift_moves_content_within_pad():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(6, 2, 1, 1)
    y = _shift(x, 1, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    # each output is the input translated by at most one pixel: the centre pixels stay in the 3x3 window
    for n in range(6):
        assert any(torch.equal(y[n, :, 1:3, 1:3], x[n, :, 1 + dy:3 + dy, 1 + dx:3 + dx])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_to_inputs_normalises_images():
    imgs = ActionImages(np.full((2, 8, 8, 3), 255, np.uint8), np.array([0, 1]), ["a", "b"], np.array([1, 2]),
                        ["x", "y"])
    t = to_inputs(imgs)
    assert t.shape == (2, 3, 8, 8) and torch.allclose(t, torch.full_like(t, 2.0))


def test_best_val_ties_go_to_the_lower_validation_loss():
    # Two cleanly separated classes: validation accuracy reaches 100 % within a few epochs and stays there
    # while the loss keeps falling, so the earliest 100 % epoch is not the one to keep.
    from posenas.platform.encoding.action_data import ActionSequences

    rng = np.random.default_rng(0)

    def part(n):
        y = np.arange(n) % 2
        x = rng.normal(0.0, 0.3, size=(n, 4, 2)) + np.where(y[:, None, None] == 1, 1.0, -1.0)
        return ActionSequences(x, y, [f"s{i}" for i in range(n)], np.zeros(n), ["a", "b"])

    train, val = part(40), part(10)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    cfg = ClassifierTrainConfig(epochs=12, batch_size=8, lr=0.05, warmup_epochs=0, label_smoothing=0.0, seed=0)
    res = train_classifier(model, train, val, cfg, progress=False)
    accs = [h["val_acc"] for h in res.history]
    tied = [h for h in res.history if h["val_acc"] == max(accs)]
    assert len(tied) > 1, "the test needs tied epochs"
    assert res.best_epoch == min(tied, key=lambda h: h["val_loss"])["epoch"]
    assert res.best_epoch > tied[0]["epoch"]


def test_mixup_blends_pairs_of_training_samples_and_their_losses():
    # A model that records what it is fed: with mixup every training input must be lam * a + (1 - lam) * b
    # for two training samples a, b of the same batch, one lam per batch, 0 < lam < 1.
    from posenas.platform.encoding.action_data import ActionSequences

    rng = np.random.default_rng(1)
    n = 16
    x = rng.normal(size=(n, 1, 3))
    y = np.arange(n) % 2
    data = ActionSequences(x, y, [f"s{i}" for i in range(n)], np.zeros(n), ["a", "b"])
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, xb):
            if self.training:
                seen.append(xb.detach().reshape(len(xb), 3).double().numpy())
            return self.lin(xb.reshape(len(xb), 3))

    torch.manual_seed(0)
    cfg = ClassifierTrainConfig(epochs=2, batch_size=8, warmup_epochs=0, mixup=0.4, seed=3)
    train_classifier(Recorder(), data, None, cfg, progress=False)
    src = x.reshape(n, 3)
    assert len(seen) == 4
    lams = []
    for batch in seen:
        # each row: the nearest blend of two distinct source rows, solved for lam by least squares
        row_lams = []
        for r in batch:
            best = None
            for i in range(n):
                for j in range(n):
                    d = src[i] - src[j]
                    lam = 1.0 if i == j else float(np.dot(r - src[j], d) / np.dot(d, d))
                    err = np.abs(lam * src[i] + (1 - lam) * src[j] - r).max()
                    if best is None or err < best[0]:
                        best = (err, lam if lam >= 0.5 else 1 - lam)
            assert best[0] < 1e-5
            row_lams.append(best[1])
        mixed = [v for v in row_lams if v < 1 - 1e-5]  # a row the shuffle paired with itself shows lam = 1
        assert mixed, "a batch was left unblended"
        assert np.ptp(mixed) < 1e-5  # one lam per batch
        lams.append(mixed[0])
    assert len(set(np.round(lams, 4))) == len(lams)  # a new lam for every batch


def test_mixup_off_by_default_and_negative_refused():
    from posenas.errors import ConfigError

    assert ClassifierTrainConfig().mixup == 0.0
    with pytest.raises(ConfigError, match="mixup"):
        ClassifierTrainConfig(mixup=-0.1)


@pytest.fixture(scope="module")
def tiny_msr(msr_root: Path, tmp_path_factory):
    from posenas.datasets.registry import load_dataset

    ds = load_dataset(msr_root, "msr_action3d", subset="cvpr12")
    cache = tmp_path_factory.mktemp("cache")
    return ds, protocol_split(ds, "AS1", EncodingConfig(size=16), val_subjects=[9], cache_dir=cache)


def _tiny_densenet(c: int) -> DenseNet:
    return DenseNet(DenseNetConfig(num_classes=c, growth_rate=12, block_config=(3, 3), init_features=24))


@pytest.mark.realdata
@pytest.mark.slow
def test_trainer_loss_falls_and_selects_best_val(tiny_msr):
    _, (train, val, test) = tiny_msr
    seed_everything(0)
    model = _tiny_densenet(train.num_classes)
    cfg = ClassifierTrainConfig(epochs=10, batch_size=32, lr=5e-3, warmup_epochs=0, seed=0, num_threads=1)
    res = train_classifier(model, train, val, cfg, progress=False)
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.8 * losses[0]
    assert 1 <= res.best_epoch <= 10 and res.best_val_acc == max(h["val_acc"] for h in res.history)
    # the model holds the selected weights
    assert evaluate_classifier(model, val)["accuracy"] == pytest.approx(res.best_val_acc)
    ev = evaluate_classifier(model, test)
    assert ev["confusion"].shape == (8, 8) and ev["confusion"].sum() == len(test)
    assert ev["per_class"].shape == (8,)
    # the accuracy is the confusion matrix's diagonal over all test images, and agrees with the predictions
    assert ev["accuracy"] == pytest.approx(np.trace(ev["confusion"]) / len(test))
    assert ev["accuracy"] == pytest.approx(float(np.mean(ev["predictions"] == test.labels)))
    assert ev["accuracy"] > 1.5 / 8  # above chance after a few epochs on real data


@pytest.mark.realdata
def test_trainer_is_deterministic_with_a_seed(tiny_msr):
    _, (train, _, _) = tiny_msr
    small = train.subset(np.arange(48))
    cfg = ClassifierTrainConfig(epochs=2, batch_size=16, seed=3, num_threads=1)
    runs = []
    for _ in range(2):
        seed_everything(3)
        runs.append([h["train_loss"] for h in
                     train_classifier(_tiny_densenet(8), small, None, cfg, progress=False).history])
    assert runs[0] == runs[1]


@pytest.mark.realdata
@pytest.mark.slow
def test_trainer_runs_tcn_on_sequences(tiny_msr):
    ds, _ = tiny_msr
    train, val, test = protocol_split_sequences(ds, "AS1", frames=24, val_subjects=[9])
    seed_everything(0)
    model = TCN(TCNConfig(num_classes=train.num_classes, in_features=train.features.shape[2], channels=(32, 32),
                          dilations=(1, 2)))
    res = train_classifier(model, train, None, ClassifierTrainConfig(epochs=8, lr=3e-3, warmup_epochs=0, num_threads=1), progress=False)
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < 0.8 * losses[0] and res.best_val_acc is None and res.best_epoch == 8
    assert evaluate_classifier(model, test)["accuracy"] > 1.5 / 8
