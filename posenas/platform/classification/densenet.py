"""A small DenseNet-BC for 32x32 / 64x64 action images, the CNN of the authors' Enhanced-SPMF work.

Huang et al.'s design (dense blocks of BN-ReLU-1x1-BN-ReLU-3x3 layers, transition layers that
compress channels and halve the resolution), sized for a few hundred training images on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from posenas.core.config import ConfigBase, config_dataclass


@config_dataclass
class DenseNetConfig(ConfigBase):
    num_classes: int
    in_channels: int = 3
    growth_rate: int = 12
    block_config: tuple[int, ...] = (4, 4, 4)
    init_features: int = 24
    bn_size: int = 4  # bottleneck width = bn_size * growth_rate
    compression: float = 0.5
    drop_rate: float = 0.0  # dropout after each 3x3 conv
    classifier_dropout: float = 0.2


class _DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int, bn_size: int, drop: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, bn_size * growth, 1, bias=False),
            nn.BatchNorm2d(bn_size * growth), nn.ReLU(inplace=True),
            nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False),
        )
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.drop > 0:
            y = F.dropout(y, self.drop, self.training)
        return torch.cat([x, y], 1)


class _Transition(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, c_out, 1, bias=False),
                         nn.AvgPool2d(2))


class DenseNet(nn.Module):
    """(N, C, H, W) images -> (N, num_classes) logits; any H, W >= 8 (global average pooling at the end)."""

    def __init__(self, config: DenseNetConfig):
        super().__init__()
        self.config = config
        c = config.init_features
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, c, 3, padding=1, bias=False)]
        for b, n in enumerate(config.block_config):
            for _ in range(n):
                layers.append(_DenseLayer(c, config.growth_rate, config.bn_size, config.drop_rate))
                c += config.growth_rate
            if b < len(config.block_config) - 1:
                c_out = max(1, int(c * config.compression))
                layers.append(_Transition(c, c_out))
                c = c_out
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(config.classifier_dropout), nn.Linear(c, config.num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
