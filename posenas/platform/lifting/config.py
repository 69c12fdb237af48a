"""Lifter and training configurations as validated dataclasses, so a checkpoint can store and rebuild them
exactly and a bad value fails with the field's name."""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal, Optional, get_args

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


Range = tuple[float, float]
Offsets = tuple[Range, Range, Range]  # (outward/lateral, up, forward) ranges in metres


@config_dataclass
class JointOffsetConfig(ConfigBase):
    """Joint-definition augmentation: per synthetic clip, systematic 3D offsets of the joints whose
    definition differs between mocap skeletons and image keypoint detectors, applied to the 3D that is
    projected to the 2D input only (the 3D target stays the mocap joints). The lifter then learns to map
    detector-style 2D (hips wider and higher than the femoral heads, nose instead of the nose bridge,
    shoulders on the acromion, ankles on the malleoli) to mocap joints instead of trusting where a
    detector puts them.

    Offsets are drawn once per clip (uniform in each range, times `scale`) in the body's own frame of
    each frame: outward = away from the body's mid-line (left joints left, right joints right), up =
    pelvis -> thorax, forward = the facing direction. `detector_torso` then rebuilds pelvis, thorax and
    spine from the moved hips and shoulders, as `posenas.core.skeleton` builds them for MediaPipe/COCO
    (mid-hips, mid-shoulders, mean of the four) instead of the mocap's own spine. `prob`: share of clips
    that get offsets (the rest keep the exact mocap definitions).
    """

    hips: Offsets = ((0.0, 0.06), (-0.02, 0.08), (-0.03, 0.03))
    shoulders: Offsets = ((-0.02, 0.04), (-0.02, 0.05), (-0.03, 0.03))
    nose: Offsets = ((0.0, 0.0), (-0.05, 0.0), (0.0, 0.06))  # h36m17 neck_nose
    head: Offsets = ((0.0, 0.0), (-0.03, 0.03), (-0.04, 0.02))
    knees: Offsets = ((-0.01, 0.02), (-0.02, 0.02), (-0.02, 0.03))
    ankles: Offsets = ((-0.01, 0.02), (-0.02, 0.03), (-0.03, 0.03))
    scale: float = 1.0
    prob: float = 0.8
    detector_torso: bool = True

    def __post_init__(self) -> None:
        for name in ("hips", "shoulders", "nose", "head", "knees", "ankles"):
            if any(lo > hi for lo, hi in getattr(self, name)):
                raise ConfigError(type(self).__name__, name, f"each range must be (low, high), got {getattr(self, name)}")
        if not 0.0 <= self.prob <= 1.0:
            raise ConfigError(type(self).__name__, "prob", f"must be in [0, 1], got {self.prob}")
        if self.scale < 0:
            raise ConfigError(type(self).__name__, "scale", f"must be >= 0, got {self.scale}")


@config_dataclass
class NoiseConfig(ConfigBase):
    """2D corruption applied to synthetic training inputs, so a model trained on exact projections
    survives a real detector: Gaussian jitter, occasional large outliers and dropped joints, and
    optionally detector-style joint definitions (`joint_offsets`, off by default so the shipped
    training commands reproduce)."""

    sigma_px: float = 3.0
    outlier_prob: float = 0.02
    outlier_px: float = 40.0
    drop_prob: float = 0.03
    joint_offsets: Optional[JointOffsetConfig] = None


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
