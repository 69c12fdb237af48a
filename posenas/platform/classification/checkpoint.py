"""Action classifier checkpoints in the one posenas format (`posenas.core.checkpoint`), kind "classifier".

Families: "cellnet" (the ENAS-found network: config = {"genotype": ..., "net": NetConfig}), "densenet"
(DenseNetConfig), "tcn" (TCNConfig) and "stgcn" (STGCNConfig), both on joint sequences. Each records its
input encoding, pose space, class names and training data, so a model and a pipeline that disagree fail loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from posenas.core.checkpoint import Checkpoint, count_parameters, read_checkpoint, save_checkpoint
from posenas.core.registry import Registry
from posenas.errors import DataFormatError, PosenasError

# family name -> build(config dict) -> nn.Module
CLASSIFIER_FAMILIES: Registry[Callable[[dict[str, Any]], nn.Module]] = Registry("classifier family")


@CLASSIFIER_FAMILIES.register("cellnet")
def _build_cellnet(config: dict[str, Any]) -> nn.Module:
    from posenas.platform.classification.cellnet import ChildNet, NetConfig
    from posenas.platform.classification.genotype import Genotype

    return ChildNet(Genotype.from_dict(config["genotype"]), NetConfig(**config["net"]))


@CLASSIFIER_FAMILIES.register("densenet")
def _build_densenet(config: dict[str, Any]) -> nn.Module:
    from posenas.platform.classification.densenet import DenseNet, DenseNetConfig

    return DenseNet(DenseNetConfig.from_dict(config))


@CLASSIFIER_FAMILIES.register("tcn")
def _build_tcn(config: dict[str, Any]) -> nn.Module:
    from posenas.platform.classification.tcn import TCN, TCNConfig

    return TCN(TCNConfig.from_dict(config))


@CLASSIFIER_FAMILIES.register("stgcn")
def _build_stgcn(config: dict[str, Any]) -> nn.Module:
    from posenas.platform.classification.stgcn import STGCN, STGCNConfig

    return STGCN(STGCNConfig.from_dict(config))


@dataclass
class LoadedClassifier:
    model: nn.Module  # eval mode
    checkpoint: Checkpoint  # records (state_dict included)


def save_classifier(path: str | Path, model: nn.Module, family: str, config: dict[str, Any], classes: list[str],
                    encoding: dict[str, Any], space: dict[str, Any], data: dict[str, Any] | None = None,
                    metrics: dict[str, Any] | None = None, train: dict[str, Any] | None = None,
                    meta: dict[str, Any] | None = None, name: str | None = None, half: bool = False) -> Path:
    """Write a classifier checkpoint (see the module docstring for `family` and `config`)."""
    CLASSIFIER_FAMILIES.get(family)  # an unknown family fails before writing
    ck = Checkpoint(kind="classifier", family=family, name=name or Path(path).stem, config=config,
                    state_dict=model.state_dict(), layout=space.get("layout", ""), space=space, encoding=encoding,
                    classes=list(classes), data=data or {}, metrics=metrics or {}, train=train or {},
                    meta=meta or {}, parameters=count_parameters(model))
    return save_checkpoint(path, ck, half=half)


def load_classifier(path: str | Path) -> LoadedClassifier:
    """Rebuild a classifier from its checkpoint (weights_only=True); bad files raise DataFormatError."""
    ck = read_checkpoint(path, kind="classifier")
    try:
        build = CLASSIFIER_FAMILIES.get(ck.family)
    except PosenasError as exc:
        raise DataFormatError(path, str(exc), field="family") from None
    try:
        model = build(ck.config)
    except (KeyError, TypeError, ValueError, PosenasError) as exc:  # ConfigError is a PosenasError
        raise DataFormatError(path, f"classifier config is invalid: {exc}", field="config") from None
    try:
        model.load_state_dict(ck.state_dict)
    except RuntimeError as exc:
        raise DataFormatError(path, f"weights do not match the stored config: {str(exc)[:300]}", field="state_dict") from None
    if not ck.classes:
        raise DataFormatError(path, "classifier checkpoint has no class names", field="classes")
    model.eval()
    return LoadedClassifier(model, ck)
