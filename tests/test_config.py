"""Validated config dataclasses (posenas.core.config): every model, training and data config checks its
fields' types, refuses unknown fields, names the field in one picklable error, and round-trips through
JSON (what checkpoints and run files store)."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from posenas.errors import ConfigError, PosenasError
from posenas.platform.classification.cellnet import NetConfig
from posenas.platform.classification.densenet import DenseNetConfig
from posenas.platform.classification.tcn import TCNConfig
from posenas.platform.classification.train import ClassifierTrainConfig
from posenas.platform.encoding.action_data import AugmentConfig
from posenas.platform.encoding.spmf import EncodingConfig
from posenas.platform.lifting.config import LifterConfig, LifterTrainConfig, NoiseConfig
from posenas.search.controller import ControllerConfig
from posenas.search.data import DataSpec
from posenas.search.enas import SearchConfig

# each config class with the fewest arguments it needs, and one numeric field to break
CONFIGS = {
    LifterConfig: ({}, "pose_hidden"),
    NoiseConfig: ({}, "sigma_px"),
    LifterTrainConfig: ({}, "epochs"),
    ClassifierTrainConfig: ({}, "epochs"),
    NetConfig: ({}, "channels"),
    DenseNetConfig: ({"num_classes": 4}, "growth_rate"),
    TCNConfig: ({"num_classes": 4, "in_features": 51}, "kernel_size"),
    EncodingConfig: ({}, "size"),
    AugmentConfig: ({}, "up_axis"),
    ControllerConfig: ({}, "hidden"),
    SearchConfig: ({}, "epochs"),
    DataSpec: ({"dataset_path": "/data/msr"}, "seed"),
}


@pytest.mark.parametrize("cls", list(CONFIGS), ids=lambda c: c.__name__)
def test_json_round_trip_and_unknown_fields(cls):
    kwargs, number_field = CONFIGS[cls]
    cfg = cls(**kwargs)
    text = json.dumps(cfg.to_dict())  # plain JSON: tuples are lists, nested configs are dicts
    assert cls.from_dict(json.loads(text)) == cfg
    assert cls(**json.loads(text)) == cfg  # the constructor takes JSON lists for tuple fields too
    with pytest.raises(ConfigError, match=rf"^{cls.__name__}\.no_such_field: unknown field"):
        cls(**kwargs, no_such_field=1)
    with pytest.raises(ConfigError, match=rf"^{cls.__name__}\.{number_field}: .*'many'") as e:
        cls(**{**kwargs, number_field: "many"})
    assert e.value.field == number_field and isinstance(e.value, (PosenasError, ValueError))


def test_nested_fields_are_validated_and_named():
    sc = SearchConfig(net={"channels": 8, "num_classes": 3}, controller={"hidden": 16})
    assert isinstance(sc.net, NetConfig) and sc.net.channels == 8 and sc.controller.hidden == 16
    with pytest.raises(ConfigError, match=r"^SearchConfig\.net\.channels: "):
        SearchConfig.from_dict({"net": {"channels": "wide"}})
    with pytest.raises(ConfigError, match=r"^LifterTrainConfig\.noise\.sigma_px: "):
        LifterTrainConfig(noise={"sigma_px": [1.0]})


def test_checks_after_types_keep_their_own_field():
    with pytest.raises(ConfigError, match=r"^TCNConfig\.kernel_size: must be odd") as e:
        TCNConfig(num_classes=3, in_features=6, kernel_size=4)
    assert e.value.field == "kernel_size"
    with pytest.raises(ConfigError, match=r"^EncodingConfig\.size: .*>= 4"):
        EncodingConfig(size=2)


def test_frozen_configs_stay_frozen_and_hashable():
    enc = EncodingConfig(clahe_tile_grid=[8, 8])
    assert enc.clahe_tile_grid == (8, 8) and hash(enc) == hash(EncodingConfig(clahe_tile_grid=(8, 8)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        enc.size = 64  # type: ignore[misc]
    assert dataclasses.replace(enc, size=64).size == 64


def test_config_error_survives_pickling():
    with pytest.raises(ConfigError) as e:
        NetConfig(dropout="lots")
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is ConfigError and str(back) == str(e.value) and back.field == "dropout"
