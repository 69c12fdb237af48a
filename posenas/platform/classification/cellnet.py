"""The cell network of the search space: stem, 3 blocks of N normal cells separated by 2 reduction cells
(channels double, resolution halves at each reduction), global pooling, linear classifier.

One class serves both uses: built without a genotype it holds every candidate op per node input (the
ENAS supernet in `posenas.search.supernet`: the weights of op o at node k, input slot s are the same
whichever input k picks); built with a genotype it holds only the chosen ops (`ChildNet`, the network
the search finds, trained from scratch and served by the pipeline).
"""

from __future__ import annotations

import torch
from torch import nn

from posenas.core.config import ConfigBase, config_dataclass
from posenas.platform.classification.genotype import NUM_CELL_INPUTS, OPS, Cell, Genotype
from posenas.platform.classification.ops import BatchNormFactory, FactorizedReduce, LooseEndCombine, ReLUConvBN, child_bn, make_op


@config_dataclass
class NetConfig(ConfigBase):
    """Size of the cell network. Defaults fit 32x32 action images on a 2-core CPU."""

    channels: int = 16
    cells_per_block: int = 1  # N
    num_nodes: int = 4  # B
    num_classes: int = 20
    in_channels: int = 3
    dropout: float = 0.1


class SearchCell(nn.Module):
    """One normal or reduction cell; `cell` fixes its ops (child) or None keeps all candidates (supernet)."""

    def __init__(
        self,
        c_pp: int,
        c_p: int,
        channels: int,
        num_nodes: int,
        reduction: bool,
        reduction_prev: bool,
        bn: BatchNormFactory,
        cell: Cell | None = None,
    ):
        super().__init__()
        self.reduction = reduction
        self.cell = cell
        if reduction or reduction_prev:
            self.pre0: nn.Module = FactorizedReduce(c_pp, channels, bn)
        else:
            self.pre0 = ReLUConvBN(c_pp, channels, bn)
        self.pre1: nn.Module = FactorizedReduce(c_p, channels, bn) if reduction else ReLUConvBN(c_p, channels, bn)
        self.nodes = nn.ModuleList()
        for k in range(num_nodes):
            slots = nn.ModuleList()
            for s in range(2):
                names = OPS if cell is None else (cell.nodes[k].ops[s],)
                slots.append(nn.ModuleDict({name: make_op(name, channels, bn) for name in names}))
            self.nodes.append(slots)
        if cell is None:
            self.combine = LooseEndCombine(num_nodes, channels, bn)
            self._slot_of: dict[int, int] | None = None
        else:
            loose = cell.loose_ends()
            self.combine = LooseEndCombine(len(loose), channels, bn)
            self._slot_of = {k: i for i, k in enumerate(loose)}

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, cell: Cell | None = None) -> torch.Tensor:
        cell = cell or self.cell
        if cell is None:
            raise ValueError("a supernet cell needs the sampled cell genotype")
        states = [self.pre0(s0), self.pre1(s1)]
        for k, node in enumerate(cell.nodes):
            ops = self.nodes[k]
            out = ops[0][node.ops[0]](states[node.inputs[0]]) + ops[1][node.ops[1]](states[node.inputs[1]])
            states.append(out)
        loose = cell.loose_ends()
        slots = loose if self._slot_of is None else [self._slot_of[k] for k in loose]
        return self.combine([states[NUM_CELL_INPUTS + k] for k in loose], slots)


class CellNetwork(nn.Module):
    """Stem, 3 blocks of N normal cells with a reduction cell between blocks, pooling, classifier."""

    def __init__(self, config: NetConfig, bn: BatchNormFactory, genotype: Genotype | None = None):
        super().__init__()
        self.config = config
        self.genotype = genotype
        c = config.channels
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, c, 3, padding=1, bias=False), bn(c))
        self.cells = nn.ModuleList()
        c_pp, c_p, reduction_prev = c, c, False
        channels = c
        for block in range(3):
            kinds = [False] * config.cells_per_block + ([True] if block < 2 else [])
            for reduction in kinds:
                if reduction:
                    channels *= 2
                cell_g = None if genotype is None else (genotype.reduce if reduction else genotype.normal)
                self.cells.append(
                    SearchCell(c_pp, c_p, channels, config.num_nodes, reduction, reduction_prev, bn, cell_g)
                )
                c_pp, c_p, reduction_prev = c_p, channels, reduction
        self.head = nn.Sequential(
            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout), nn.Linear(c_p, config.num_classes)
        )

    def forward(self, x: torch.Tensor, genotype: Genotype | None = None) -> torch.Tensor:
        genotype = genotype or self.genotype
        if genotype is None:
            raise ValueError("the supernet needs a genotype to run: forward(x, genotype)")
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            g = genotype.reduce if cell.reduction else genotype.normal
            s0, s1 = s1, cell(s0, s1, g)
        return self.head(s1)


class ChildNet(CellNetwork):
    """Only the genotype's ops, own weights; `forward(x)` -> logits (N, num_classes)."""

    def __init__(self, genotype: Genotype, config: NetConfig):
        genotype.validate()
        if genotype.num_nodes != config.num_nodes:
            config = NetConfig(**{**config.to_dict(), "num_nodes": genotype.num_nodes})
        super().__init__(config, child_bn, genotype)

