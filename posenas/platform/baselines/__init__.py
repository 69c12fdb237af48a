"""Reference classifiers the ENAS-found network is compared with: DenseNet on action images, TCN on joints."""

from posenas.platform.baselines.densenet import DenseNet, DenseNetConfig
from posenas.platform.baselines.tcn import TCN, TCNConfig

__all__ = ["DenseNet", "DenseNetConfig", "TCN", "TCNConfig"]
