"""A temporal convolution network on joint coordinates: the non-image skeleton baseline.

Input (N, T, F) with T fixed by resampling and F = persons * joints * 3 (see
`posenas.platform.encoding.action_data.protocol_split_sequences`). Residual blocks of dilated 1D convolutions over
time (as in Bai et al.'s TCN, non-causal since whole clips are classified), then global average pooling.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from posenas.core.config import ConfigBase, config_dataclass
from posenas.errors import ConfigError


@config_dataclass
class TCNConfig(ConfigBase):
    num_classes: int
    in_features: int
    channels: tuple[int, ...] = (64, 64, 128)
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.2

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.dilations):
            raise ConfigError("TCNConfig", "dilations", "channels and dilations need one entry per block")
        if self.kernel_size % 2 == 0:
            raise ConfigError("TCNConfig", "kernel_size", "must be odd so 'same' padding keeps the length")


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, dilation: int, dropout: float):
        super().__init__()
        pad = dilation * (k - 1) // 2
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, k, padding=pad, dilation=dilation, bias=False), nn.BatchNorm1d(c_out),
            nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv1d(c_out, c_out, k, padding=pad, dilation=dilation, bias=False), nn.BatchNorm1d(c_out),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=False),
                                                                      nn.BatchNorm1d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.skip(x))


class TCN(nn.Module):
    """(N, T, F) joint sequences -> (N, num_classes) logits; any T."""

    def __init__(self, config: TCNConfig):
        super().__init__()
        self.config = config
        blocks, c = [], config.in_features
        for c_out, d in zip(config.channels, config.dilations):
            blocks.append(_Block(c, c_out, config.kernel_size, d, config.dropout))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(c, config.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.config.in_features:
            raise ValueError(f"TCN expects (N, T, {self.config.in_features}), got {tuple(x.shape)}")
        return self.head(self.blocks(x.transpose(1, 2)))
