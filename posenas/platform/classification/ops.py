"""Candidate operations of the micro search space (all stride 1, channel-preserving) and cell plumbing.

As in ENAS, a reduction cell first halves its two inputs with a factorised reduction, so every candidate
operation keeps shape and the same weights serve any input a node picks. Batch norm is passed in as a
factory: the shared-weight supernet uses batch statistics only (running statistics would mix thousands of
different children), a from-scratch child uses ordinary affine BN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

BatchNormFactory = Callable[[int], nn.Module]


def shared_bn(channels: int) -> nn.Module:
    """BN for the supernet: no affine weights, no running statistics (always normalises with the batch)."""
    return nn.BatchNorm2d(channels, affine=False, track_running_stats=False)


def child_bn(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, bn: BatchNormFactory, kernel: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            bn(c_out),
        )


class SepConv(nn.Sequential):
    """ReLU, depthwise k x k, pointwise 1x1, BN (one stack: the CPU budget rules out DARTS' two)."""

    def __init__(self, channels: int, kernel: int, bn: BatchNormFactory):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            bn(channels),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel: two offset stride-2 1x1 convs, concatenated."""

    def __init__(self, c_in: int, c_out: int, bn: BatchNormFactory):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def make_op(name: str, channels: int, bn: BatchNormFactory) -> nn.Module:
    """Build one candidate operation by its genotype name (see genotype.OPS)."""
    if name == "sep_conv_3x3":
        return SepConv(channels, 3, bn)
    if name == "sep_conv_5x5":
        return SepConv(channels, 5, bn)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name == "identity":
        return nn.Identity()
    from posenas.errors import UnknownNameError
    from posenas.platform.classification.genotype import OPS

    raise UnknownNameError("operation", name, OPS)


class LooseEndCombine(nn.Module):
    """ReLU, 1x1 conv over the concatenated loose-end nodes, BN.

    The supernet holds one (C, B*C) weight and slices the columns of whichever nodes are loose ends in the
    sampled cell (ENAS' trick); a child holds exactly the columns it needs.
    """

    def __init__(self, num_slots: int, channels: int, bn: BatchNormFactory):
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(torch.empty(channels, num_slots * channels, 1, 1))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.bn = bn(channels)

    def forward(self, nodes: list[torch.Tensor], slots: list[int]) -> torch.Tensor:
        c = self.channels
        w = torch.cat([self.weight[:, s * c : (s + 1) * c] for s in slots], dim=1)
        x = torch.relu(torch.cat(nodes, dim=1))
        return self.bn(nn.functional.conv2d(x, w))
