"""2D->3D pose lifters: Martinez pose stream, VideoPose3D motion stream and their gated two-stream fusion."""

from posenas.platform.lifting.config import LifterConfig, LifterTrainConfig, NoiseConfig

__all__ = ["LifterConfig", "LifterTrainConfig", "NoiseConfig"]
