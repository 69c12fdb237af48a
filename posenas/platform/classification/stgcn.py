"""A small spatial-temporal graph convolution network (ST-GCN, Yan et al. 2018) on joint sequences.

The graph-based skeleton baseline next to the TCN: the same (N, T, F) input, F = persons * joints * 3 in the
`layout`'s joint order (h36m17 for the canonical pose space, see
`posenas.platform.encoding.action_data.protocol_split_sequences`). Each block is a spatial graph convolution
over the skeleton's bones (the paper's spatial-configuration partition, or one normalised adjacency with
self-loops) with a learnable edge-importance mask, then a temporal convolution, with a residual connection.
Features are pooled over time and joints per person, then averaged over persons, as in the paper.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from posenas.core.config import ConfigBase, config_dataclass
from posenas.core.skeleton import get_layout
from posenas.errors import ConfigError, PosenasError

PARTITIONS = ("spatial", "uniform")


@config_dataclass
class STGCNConfig(ConfigBase):
    num_classes: int
    layout: str = "h36m17"
    persons: int = 1
    channels: tuple[int, ...] = (32, 32, 64, 64)
    strides: tuple[int, ...] = (1, 2, 1, 2)  # temporal stride per block (halving T twice keeps it CPU-cheap)
    temporal_kernel: int = 9
    partition: str = "spatial"  # "spatial": root / centripetal / centrifugal subsets; "uniform": one D^-1/2 (A+I) D^-1/2
    center: str = "spine"  # joint that defines centripetal vs centrifugal in the spatial partition
    edge_importance: bool = True
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ConfigError("STGCNConfig", "strides", "channels and strides need one entry per block (>= 1 block)")
        if self.temporal_kernel % 2 == 0:
            raise ConfigError("STGCNConfig", "temporal_kernel", "must be odd so 'same' padding keeps the length")
        if self.partition not in PARTITIONS:
            raise ConfigError("STGCNConfig", "partition", f"must be one of {', '.join(PARTITIONS)}")
        if self.persons < 1:
            raise ConfigError("STGCNConfig", "persons", "must be >= 1")
        try:
            get_layout(self.layout).index(self.center)
        except PosenasError as exc:
            raise ConfigError("STGCNConfig", "layout", str(exc)) from None

    @property
    def num_joints(self) -> int:
        return get_layout(self.layout).num_joints

    @property
    def in_features(self) -> int:
        return self.persons * self.num_joints * 3


def _adjacency(num_joints: int, bones: tuple[tuple[int, int], ...]) -> np.ndarray:
    a = np.zeros((num_joints, num_joints))
    for i, j in bones:
        a[i, j] = a[j, i] = 1.0
    return a


def _hop_distance(adj: np.ndarray) -> np.ndarray:
    """Shortest path length in edges between every pair of joints (inf where unconnected)."""
    n = adj.shape[0]
    dist = np.full((n, n), np.inf)
    reach = np.eye(n, dtype=bool)
    step = np.eye(n) + adj
    dist[reach] = 0
    power = np.eye(n)
    for d in range(1, n):
        power = (power @ step) > 0
        dist[power & ~reach] = d
        reach |= power
        power = power.astype(float)
    return dist


def normalise_columns(a: np.ndarray) -> np.ndarray:
    """A D^-1 (D the column degrees): output joint w averages its neighbours, as ST-GCN's normalize_digraph."""
    deg = a.sum(axis=0)
    return a / np.where(deg > 0, deg, 1.0)[None, :]


def normalise_symmetric(a: np.ndarray) -> np.ndarray:
    """D^-1/2 A D^-1/2 (Kipf & Welling's GCN normalisation)."""
    deg = a.sum(axis=1)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    return inv[:, None] * a * inv[None, :]


def graph_partitions(layout: str, partition: str = "spatial", center: str = "spine") -> np.ndarray:
    """(K, J, J) adjacency subsets of the layout's bones with self-loops; `x @ A[k]` mixes joints (columns out).

    "spatial" (K=3, Yan et al. 2018): the column-normalised A+I split into the root (self), the neighbours
    nearer to `center` (centripetal) and those farther from it (centrifugal). "uniform" (K=1): D^-1/2 (A+I) D^-1/2.
    """
    lay = get_layout(layout)
    adj = _adjacency(lay.num_joints, lay.bones)
    a_hat = adj + np.eye(lay.num_joints)
    if partition == "uniform":
        return normalise_symmetric(a_hat)[None].astype(np.float32)
    if partition != "spatial":
        raise ConfigError("STGCNConfig", "partition", f"must be one of {', '.join(PARTITIONS)}")
    norm = normalise_columns(a_hat)
    hop = _hop_distance(adj)[lay.index(center)]
    root, closer, farther = (np.zeros_like(norm) for _ in range(3))
    for j in range(lay.num_joints):  # output joint (column)
        for i in np.nonzero(a_hat[:, j])[0]:  # input neighbour (row)
            if hop[i] == hop[j]:
                root[i, j] = norm[i, j]
            elif hop[i] < hop[j]:
                closer[i, j] = norm[i, j]
            else:
                farther[i, j] = norm[i, j]
    return np.stack([root, closer, farther]).astype(np.float32)


class _GraphConv(nn.Module):
    """Per subset k a 1x1 conv, then mixing over joints with A[k] (times the learnable importance)."""

    def __init__(self, c_in: int, c_out: int, a: torch.Tensor, edge_importance: bool):
        super().__init__()
        self.register_buffer("A", a)
        self.k = a.shape[0]
        self.conv = nn.Conv2d(c_in, c_out * self.k, 1)
        self.importance = nn.Parameter(torch.ones_like(a)) if edge_importance else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, T, V)
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.k, -1, t, v)
        a = self.A * self.importance if self.importance is not None else self.A
        return torch.einsum("nkctv,kvw->nctw", y, a)


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, a: torch.Tensor, k: int, stride: int, dropout: float,
                 edge_importance: bool, residual: bool = True):
        super().__init__()
        self.gcn = _GraphConv(c_in, c_out, a, edge_importance)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, (k, 1), (stride, 1), ((k - 1) // 2, 0), bias=False), nn.BatchNorm2d(c_out),
            nn.Dropout(dropout),
        )
        if not residual:
            self.res = None
        elif c_in == c_out and stride == 1:
            self.res = nn.Identity()
        else:
            self.res = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1), bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        return self.act(y + self.res(x) if self.res is not None else y)


class STGCN(nn.Module):
    """(N, T, persons * joints * 3) joint sequences -> (N, num_classes) logits; any T."""

    def __init__(self, config: STGCNConfig):
        super().__init__()
        self.config = config
        a = torch.from_numpy(graph_partitions(config.layout, config.partition, config.center))
        v = config.num_joints
        self.data_bn = nn.BatchNorm1d(3 * v)  # per joint and axis, shared by persons
        blocks, c = [], 3
        for i, (c_out, s) in enumerate(zip(config.channels, config.strides)):
            blocks.append(_Block(c, c_out, a, config.temporal_kernel, s, config.dropout, config.edge_importance,
                                 residual=i > 0))  # the paper's first block has no residual from the raw input
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.drop = nn.Dropout(config.dropout)
        self.fc = nn.Linear(c, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.ndim != 3 or x.shape[-1] != cfg.in_features:
            raise ValueError(f"STGCN expects (N, T, {cfg.in_features}) = persons {cfg.persons} x "
                             f"{cfg.num_joints} {cfg.layout} joints x 3, got {tuple(x.shape)}")
        n, t, _ = x.shape
        p, v = cfg.persons, cfg.num_joints
        x = x.view(n, t, p, v, 3).permute(0, 2, 3, 4, 1).reshape(n * p, v * 3, t)  # (NP, V*3, T)
        x = self.data_bn(x).view(n * p, v, 3, t).permute(0, 2, 3, 1).contiguous()  # (NP, 3, T, V)
        for block in self.blocks:
            x = block(x)
        x = x.mean(dim=(2, 3)).view(n, p, -1).mean(dim=1)  # pool time and joints, then persons
        return self.fc(self.drop(x))
