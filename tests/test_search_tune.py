"""ENAS hosted on Ray Tune: a tiny search is interrupted after epoch 1 and resumed with Tuner.restore."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from posenas.errors import PosenasError
from posenas.search.controller import ControllerConfig
from posenas.search.enas import SearchConfig, load_state, state_digest
from posenas.platform.classification.genotype import load_genotype
from posenas.platform.classification.cellnet import NetConfig

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _data(n_train: int = 96, n_val: int = 32, classes: int = 3, size: int = 16):
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, classes, n)
        x = rng.normal(size=(n, 3, size, size)).astype(np.float32)
        x[:, 0] += (y[:, None, None] - 1) * 0.8  # class shifts the first channel: learnable
        return x, y.astype(np.int64)

    return {"train": make(n_train), "val": make(n_val), "classes": [f"c{i}" for i in range(classes)]}


def _config(epochs: int, workers: int) -> SearchConfig:
    return SearchConfig(
        epochs=epochs, batch_size=32, controller_steps=2, controller_batch=2, eval_samples=2, derive_samples=4,
        workers=workers, cpus_per_worker=0.5, seed=3,
        net=NetConfig(channels=8, cells_per_block=1, num_nodes=3, num_classes=3),
        controller=ControllerConfig(hidden=32),
    )


def test_search_interrupted_then_resumed_keeps_controller_state(ray_local, tmp_path: Path):
    from ray import tune

    from posenas.search.tune_search import SEARCH_STATE, run_search

    seen: dict[str, str] = {}

    class InterruptAfterFirstCheckpoint(tune.Callback):
        """Acts like Ctrl+C once epoch 1's checkpoint is registered (Tune's own signal handling)."""

        def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
            if "path" not in seen:
                seen["path"] = checkpoint.path
                os.kill(os.getpid(), signal.SIGUSR1)

    cfg = _config(epochs=2, workers=1)
    data = _data()
    with pytest.raises(PosenasError, match="--resume"):
        run_search(cfg, data, tmp_path, name="tiny", callbacks=[InterruptAfterFirstCheckpoint()], verbose=0)
    state = load_state(Path(seen["path"]) / SEARCH_STATE)
    assert state["epoch"] == 1
    digest_after_epoch1 = state_digest(state["reinforce"]["controller"])

    out = run_search(cfg, data, tmp_path, name="tiny", resume=True, verbose=0)
    # the resumed trial started from epoch 1's checkpoint with that exact controller, and ran epoch 2
    from ray.tune import ExperimentAnalysis

    rows = ExperimentAnalysis(str(tmp_path / "tiny")).trials[0]
    progress = [json.loads(line) for line in (Path(rows.local_path) / "result.json").read_text().splitlines()]
    resumed = [r for r in progress if r["start_epoch"] == 1]
    assert [r["epoch"] for r in resumed] == [2]
    assert all(r["workers"] == 1 and r["workers_in_placement_group"] for r in progress)
    assert resumed[0]["controller_digest_at_start"] == digest_after_epoch1
    assert [h["epoch"] for h in out.history] == [1, 2]
    assert out.history[0]["child_steps"] == state["child_steps"]
    assert out.history[1]["child_steps"] == 2 * state["child_steps"]
    # the returned accuracy is the derived child's, as the trial reported it: a count of 32 validation images
    assert out.shared_val_acc == pytest.approx(progress[-1]["derived_val_acc"])
    assert (out.shared_val_acc * 32) == pytest.approx(round(out.shared_val_acc * 32))
    out.genotype.validate()
    g, meta = load_genotype(Path(out.checkpoint_path) / "genotype.json")
    assert g == out.genotype and meta["shared_val_acc"] == pytest.approx(out.shared_val_acc)


def test_resume_without_experiment_is_a_clean_error(ray_local, tmp_path: Path):
    from posenas.search.tune_search import run_search

    with pytest.raises(PosenasError, match="nothing to resume"):
        run_search(_config(1, 0), _data(), tmp_path, name="missing", resume=True, verbose=0)


def test_outer_hpo_samples_enas_hyperparameters(ray_local, tmp_path: Path):
    from ray.tune import ExperimentAnalysis

    from posenas.search.tune_search import run_search

    out = run_search(_config(epochs=1, workers=0), _data(), tmp_path, name="hpo", hpo_samples=2, verbose=0)
    trials = ExperimentAnalysis(str(tmp_path / "hpo")).trials
    assert len(trials) == 2
    lrs = {t.config["controller_lr"] for t in trials}
    assert len(lrs) == 2 and all(3e-4 <= v <= 1e-2 for v in lrs)
    assert set(out.best_config) == {"controller_lr", "entropy_weight", "child_lr"}
    assert out.best_config["controller_lr"] in lrs


def _images(n: int, classes: int = 3, seed: int = 0):
    from posenas.platform.encoding.action_data import ActionImages

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    img = rng.integers(0, 80, size=(n, 16, 16, 3)).astype(np.uint8)
    img[..., 0] += (y * 70).astype(np.uint8)[:, None, None]  # the red channel tells the class
    return ActionImages(img, y, [f"s{i}" for i in range(n)], np.zeros(n, np.int64), [f"c{i}" for i in range(classes)])


def test_from_scratch_training_runs_seeds_as_trials_and_checkpoints_reload(ray_local, tmp_path: Path):
    from posenas.platform.classification.train import evaluate_classifier
    from posenas.search.api import load_child
    from posenas.platform.classification.genotype import random_genotype
    from posenas.search.tune_search import run_training

    g = random_genotype(3, np.random.default_rng(0))
    data = {"train": _images(64, seed=1), "val": _images(24, seed=2), "test": _images(30, seed=3), "spec": None}
    out = run_training(g, NetConfig(channels=8, num_nodes=3), data, {"epochs": 3, "batch_size": 16}, tmp_path,
                       name="scratch", seeds=[0, 1], verbose=0)
    assert [r["seed"] for r in out.per_seed] == [0, 1]
    for r in out.per_seed:
        model, ckpt = load_child(r["checkpoint"])
        assert _genotype_eq(ckpt.config["genotype"], g) and ckpt.kind == "classifier" and ckpt.family == "cellnet"
        assert evaluate_classifier(model, data["test"])["accuracy"] == pytest.approx(r["test_acc"])
    assert out.best_checkpoint == max(out.per_seed, key=lambda r: r["val_acc"])["checkpoint"]


def _genotype_eq(d: dict, g) -> bool:
    from posenas.platform.classification.genotype import Genotype

    return Genotype.from_dict(d) == g


def test_training_on_train_plus_val_runs_every_epoch_and_keeps_the_last(ray_local, tmp_path: Path):
    """val_fraction 0 (`posenas train --train-on-val`): no epoch is selected, nothing is read from test."""
    from posenas.search.api import load_child
    from posenas.platform.classification.genotype import random_genotype
    from posenas.search.api import train_genotype
    from posenas.search.data import DataSpec

    g = random_genotype(3, np.random.default_rng(0))
    splits = (_images(64, seed=1), None, _images(30, seed=3))
    out = train_genotype(g, splits, DataSpec(str(tmp_path), val_fraction=0.0), NetConfig(channels=8, num_nodes=3),
                         {"epochs": 3, "batch_size": 16}, tmp_path, name="trainval", seeds=[1, 0], verbose=0)
    assert [r["seed"] for r in out.per_seed] == [0, 1] and all(r["val_acc"] is None for r in out.per_seed)
    assert out.best_checkpoint == out.per_seed[0]["checkpoint"]  # nothing to choose by: the first seed
    _, ckpt = load_child(out.best_checkpoint)
    assert ckpt.metrics["epoch"] == 3 and ckpt.metrics["val_acc"] is None  # the last of the fixed epochs
    assert ckpt.data["spec"]["val_fraction"] == 0.0  # the checkpoint says what it was trained on
