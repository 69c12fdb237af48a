"""benchmarks/bench_action_ablation.py's recipes: each lever differs from its reference row in that lever alone."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def abl(load_benchmark):
    return load_benchmark("bench_action_ablation")


def test_native_levers_change_only_their_own_keys(abl):
    native = abl.recipe(abl.LEVERS["native"][1])
    for name, (_, overrides) in abl.LEVERS.items():
        if abl.REFERENCE.get(name) != "native":
            continue
        rec = abl.recipe(overrides)
        changed = {k for k in rec if rec[k] != native[k]}
        own = set(overrides) - ({"space"} if overrides.get("space") == "native" else set())
        assert changed <= own, (name, changed)
        assert changed, f"{name} is the native recipe itself"


def test_budget_and_network_levers(abl):
    base = abl.recipe({})
    assert base["epochs"] is None and base["densenet"] == {}  # None: the run's --epochs
    assert abl.recipe(abl.LEVERS["native_epochs60"][1])["epochs"] == 60
    wide = abl.recipe(abl.LEVERS["native_wide"][1])["densenet"]
    assert {**abl.DENSENET, **wide}["growth_rate"] == 2 * abl.DENSENET["growth_rate"]


def test_regulariser_levers_reach_the_trainer_and_the_net(abl):
    from posenas.platform.classification.densenet import DenseNetConfig
    from posenas.platform.classification.train import ClassifierTrainConfig

    assert abl.recipe({})["train"] == {}
    assert ClassifierTrainConfig(**abl.recipe(abl.LEVERS["native_mixup1"][1])["train"]).mixup == 1.0
    assert ClassifierTrainConfig(**abl.recipe(abl.LEVERS["native_wd"][1])["train"]).weight_decay == 0.05
    net = {**abl.DENSENET, **abl.recipe(abl.LEVERS["native_dropout"][1])["densenet"]}
    assert DenseNetConfig(num_classes=20, **net).drop_rate == 0.2
