"""A derived architecture as a stand-alone network, trained from scratch with ordinary batch norm."""

from __future__ import annotations

from torch import nn

from posenas.search.genotype import Genotype
from posenas.search.ops import child_bn
from posenas.search.supernet import CellNetwork, NetConfig


class ChildNet(CellNetwork):
    """Only the genotype's ops, own weights; `forward(x)` -> logits (N, num_classes)."""

    def __init__(self, genotype: Genotype, config: NetConfig):
        genotype.validate()
        if genotype.num_nodes != config.num_nodes:
            config = NetConfig(**{**config.to_dict(), "num_nodes": genotype.num_nodes})
        super().__init__(config, child_bn, genotype)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
