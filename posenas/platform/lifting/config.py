"""Lifter and training configurations as validated dataclasses, so a checkpoint can store and rebuild them
exactly and a bad value fails with the field's name."""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal, get_args

from posenas.core.config import ConfigBase, config_dataclass
from posenas.errors import ConfigError

Arch = Literal["pose", "motion", "two_stream"]
Fusion = Literal["gated", "sum"]
InputNorm = Literal["centered", "screen"]
ARCHS: tuple[str, ...] = get_args(Arch)


@config_dataclass
class LifterConfig(ConfigBase):
    """Architecture of a 2D->3D lifter (h36m17 in, root-relative h36m17 metres out).

    arch: "pose" = per-frame residual MLP (Martinez et al. 2017), "motion" = dilated temporal
    convolutions over 2D joints and their velocities (VideoPose3D), "two_stream" = both, fused by a
    learned per-joint gate. `filter_widths` sets the motion stream's receptive field
    (prod(filter_widths): 3,3,3 -> 27, 3,3,3,3 -> 81, 3,3,3,3,3 -> 243); `causal` makes it look only
    at past frames (live video, latency 0 frames instead of receptive_field // 2).
    """

    arch: Arch = "two_stream"
    num_joints: int = 17
    use_confidence: bool = True
    input_norm: InputNorm = "centered"  # "centered" (pose shape + position + size) | "screen" (raw, VideoPose3D)
    # pose stream (Martinez)
    pose_hidden: int = 512
    pose_blocks: int = 2
    # motion stream (VideoPose3D)
    filter_widths: tuple[int, ...] = (3, 3, 3)
    motion_channels: int = 256
    causal: bool = False
    dropout: float = 0.25
    fusion: Fusion = "gated"

    def __post_init__(self) -> None:
        if not self.filter_widths or any(w < 1 or w % 2 == 0 for w in self.filter_widths):
            raise ConfigError(type(self).__name__, "filter_widths", f"must be odd and >= 1, got {self.filter_widths}")

    @property
    def receptive_field(self) -> int:
        """Input frames needed for one output frame (1 for the pose stream alone)."""
        if self.arch == "pose":
            return 1
        rf = 1
        for w in self.filter_widths:
            rf *= w
        return rf

    @property
    def pad(self) -> tuple[int, int]:
        """(past, future) frames of context around each output frame."""
        rf = self.receptive_field
        if self.causal:
            return rf - 1, 0
        return (rf - 1) // 2, (rf - 1) // 2

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LifterConfig:
        """Validated; a checkpoint from before `input_norm` existed fed raw coordinates ("screen")."""
        return super().from_dict({"input_norm": "screen", **d})


@config_dataclass
class NoiseConfig(ConfigBase):
    """2D corruption applied to synthetic training inputs, so a model trained on exact projections
    survives a real detector: Gaussian jitter, occasional large outliers and dropped joints."""

    sigma_px: float = 3.0
    outlier_prob: float = 0.02
    outlier_px: float = 40.0
    drop_prob: float = 0.03


@config_dataclass
class LifterTrainConfig(ConfigBase):
    """How a lifter is trained: Adam with exponential lr decay per epoch, MPJPE + optional terms."""

    epochs: int = 20
    batch_size: int = 64
    chunk: int = 16  # output frames per training sample (shares the motion stream's convolutions)
    lr: float = 1e-3
    lr_decay: float = 0.93
    weight_bone: float = 0.0
    weight_velocity: float = 0.0
    views_per_sequence: int = 4  # random virtual cameras per 3D sequence and epoch (synthetic data)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    flip: bool = True
    seed: int = 0
    max_minutes: float | None = None
    threads: int | None = 1  # one torch thread is ~5x faster than two on a busy 2-core machine
