"""The lifters: a per-frame pose stream (Martinez et al. 2017), a temporal motion stream (VideoPose3D,
Pavllo et al. 2019) and the two-stream model that fuses them with a learned per-joint gate.

Every model maps normalised 2D joints x (B, T, J, 2) (+ confidence (B, T, J)) to root-relative 3D
joints (B, T - receptive_field + 1, J, 3) in metres: output k belongs to input frame k + pad[0].
Sequence-to-sequence convolutions let one forward pass lift a whole clip (and let training share
computation across a chunk of neighbouring output frames).
"""

from __future__ import annotations

import torch
from torch import nn

from posenas.core.registry import Registry
from posenas.platform.lifting.config import LifterConfig


def _inputs(x: torch.Tensor, conf: torch.Tensor | None, cfg: LifterConfig) -> torch.Tensor:
    """(B, T, J, 2) [+ (B, T, J)] -> per-frame features (B, T, F).

    input_norm "screen": the normalised screen coordinates as they are (VideoPose3D).
    input_norm "centered": each pose centred on the mean of its present joints and divided by its RMS
    radius, plus that centre and radius as 3 extra features: the shape no longer depends on where the
    person stands in the image, which a small training set cannot teach, but the position and size stay
    available for perspective. Missing joints (confidence 0) stay 0.
    """
    b, t, j, _ = x.shape
    c = conf if conf is not None else torch.ones(b, t, j, dtype=x.dtype, device=x.device)
    if cfg.input_norm == "centered":
        present = (c > 0).to(x.dtype)[..., None]
        n = present.sum(-2, keepdim=True).clamp_min(1.0)
        centre = (x * present).sum(-2, keepdim=True) / n
        rel = (x - centre) * present
        radius = ((rel**2).sum(-1, keepdim=True) * present).sum(-2, keepdim=True).div(n).sqrt().clamp_min(1e-3)
        feats = [(rel / radius).reshape(b, t, j * 2), centre.reshape(b, t, 2), radius.reshape(b, t, 1)]
    else:
        feats = [x.reshape(b, t, j * 2)]
    if cfg.use_confidence:
        feats.append(c.reshape(b, t, j))
    return torch.cat(feats, dim=-1)


def input_features(cfg: LifterConfig) -> int:
    """Per-frame feature count of `_inputs`."""
    j = cfg.num_joints
    return j * 2 + (3 if cfg.input_norm == "centered" else 0) + (j if cfg.use_confidence else 0)


def _velocity(x: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame differences (B, T, J, 2); the first frame repeats the second's so a window's
    edge does not read as a sudden stop."""
    if x.shape[1] < 2:
        return torch.zeros_like(x)
    v = x[:, 1:] - x[:, :-1]
    return torch.cat([v[:, :1], v], dim=1)


def _small_head(layer: nn.Module) -> nn.Module:
    """Start near the zero pose (targets are ~0.3 m): a default-initialised head predicts metres-scale
    noise and wastes the first epochs of a CPU-sized budget shrinking it."""
    with torch.no_grad():
        layer.weight.mul_(0.1)
        layer.bias.zero_()
    return layer


def _root_relative(y: torch.Tensor) -> torch.Tensor:
    return y - y[..., :1, :]


class ResidualBlock(nn.Module):
    """Two Linear-BN-ReLU-Dropout layers with a skip connection (Martinez et al. 2017)."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.layers(h)


class PoseStream(nn.Module):
    """Per-frame residual MLP: what a single 2D pose says about its 3D shape."""

    def __init__(self, cfg: LifterConfig):
        super().__init__()
        self.cfg = cfg
        j, w = cfg.num_joints, cfg.pose_hidden
        in_dim = input_features(cfg)
        self.inp = nn.Sequential(nn.Linear(in_dim, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout))
        self.blocks = nn.Sequential(*[ResidualBlock(w, cfg.dropout) for _ in range(cfg.pose_blocks)])
        self.head = _small_head(nn.Linear(w, j * 3))
        self.out_features = w

    def features(self, x: torch.Tensor, conf: torch.Tensor | None) -> torch.Tensor:
        """(B, T, J, 2) -> (B, T, hidden) for every frame given."""
        f = _inputs(x, conf, self.cfg)
        b, t, d = f.shape
        h = self.blocks(self.inp(f.reshape(b * t, d)))
        return h.reshape(b, t, -1)

    def predict(self, h: torch.Tensor) -> torch.Tensor:
        b, t, _ = h.shape
        return _root_relative(self.head(h).reshape(b, t, self.cfg.num_joints, 3))

    def forward(self, x: torch.Tensor, conf: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(self.features(x, conf))


class MotionStream(nn.Module):
    """Dilated temporal convolutions over 2D joints and their velocities (VideoPose3D's TemporalModel).

    Layer i has kernel filter_widths[i] and dilation prod(filter_widths[:i]); each block is a dilated
    conv then a 1x1 conv, both with a residual connection cropped to the shorter output.
    """

    def __init__(self, cfg: LifterConfig):
        super().__init__()
        self.cfg = cfg
        j, c, p = cfg.num_joints, cfg.motion_channels, cfg.dropout
        in_ch = input_features(cfg) + j * 2
        widths = cfg.filter_widths
        self.expand = nn.Sequential(nn.Conv1d(in_ch, c, widths[0], bias=False), nn.BatchNorm1d(c), nn.ReLU(inplace=True), nn.Dropout(p))
        self.dilated = nn.ModuleList()
        self.pointwise = nn.ModuleList()
        self.crops: list[int] = []
        dilation = widths[0]
        for w in widths[1:]:
            self.dilated.append(nn.Sequential(
                nn.Conv1d(c, c, w, dilation=dilation, bias=False), nn.BatchNorm1d(c), nn.ReLU(inplace=True), nn.Dropout(p)))
            self.pointwise.append(nn.Sequential(
                nn.Conv1d(c, c, 1, bias=False), nn.BatchNorm1d(c), nn.ReLU(inplace=True), nn.Dropout(p)))
            self.crops.append((w - 1) * dilation)
            dilation *= w
        self.head = _small_head(nn.Conv1d(c, j * 3, 1))
        self.out_features = c

    def _residual(self, h: torch.Tensor, crop: int) -> torch.Tensor:
        # The residual must line up with the conv's output frames: centred, or the newest frames when causal.
        if self.cfg.causal:
            return h[:, :, crop:]
        half = crop // 2
        return h[:, :, half : h.shape[2] - half]

    def features(self, x: torch.Tensor, conf: torch.Tensor | None) -> torch.Tensor:
        """(B, T, J, 2) -> (B, T - rf + 1, channels)."""
        b, t, j, _ = x.shape
        f = torch.cat([_inputs(x, conf, self.cfg), _velocity(x).reshape(b, t, j * 2)], dim=-1)
        h = self.expand(f.transpose(1, 2))
        for dil, pw, crop in zip(self.dilated, self.pointwise, self.crops):
            h = self._residual(h, crop) + dil(h)
            h = h + pw(h)
        return h.transpose(1, 2)

    def predict(self, h: torch.Tensor) -> torch.Tensor:
        b, t, _ = h.shape
        y = self.head(h.transpose(1, 2)).transpose(1, 2)
        return _root_relative(y.reshape(b, t, self.cfg.num_joints, 3))

    def forward(self, x: torch.Tensor, conf: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(self.features(x, conf))


class TwoStreamLifter(nn.Module):
    """Pose and motion streams, each with its own 3D head, fused per joint.

    "gated": y = g * y_pose + (1 - g) * y_motion with g = sigmoid(W [h_pose, h_motion]) per joint, so
    the model can trust the single frame where motion is ambiguous and the window elsewhere.
    "sum": the plain mean of both heads (ablation).
    """

    def __init__(self, cfg: LifterConfig):
        super().__init__()
        self.cfg = cfg
        self.pose = PoseStream(cfg)
        self.motion = MotionStream(cfg)
        if cfg.fusion == "gated":
            self.gate = nn.Linear(self.pose.out_features + self.motion.out_features, cfg.num_joints)
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    def forward_streams(self, x: torch.Tensor, conf: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Fused prediction plus each stream's own (for auxiliary losses and ablations)."""
        left, right = self.cfg.pad
        t = x.shape[1]
        xc = x[:, left : t - right]
        cc = None if conf is None else conf[:, left : t - right]
        hp = self.pose.features(xc, cc)
        hm = self.motion.features(x, conf)
        yp, ym = self.pose.predict(hp), self.motion.predict(hm)
        if self.cfg.fusion == "gated":
            g = torch.sigmoid(self.gate(torch.cat([hp, hm], dim=-1)))[..., None]
        else:
            g = torch.full_like(yp[..., :1], 0.5)
        return {"fused": g * yp + (1 - g) * ym, "pose": yp, "motion": ym, "gate": g[..., 0]}

    def forward(self, x: torch.Tensor, conf: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_streams(x, conf)["fused"]


# arch name -> model class; `LifterConfig.arch` accepts exactly these names (config.ARCHS)
LIFTERS: Registry[type[nn.Module]] = Registry("lifter arch")
LIFTERS.register("pose", PoseStream)  # Martinez baseline
LIFTERS.register("motion", MotionStream)  # VideoPose3D baseline
LIFTERS.register("two_stream", TwoStreamLifter)


def build_model(cfg: LifterConfig) -> nn.Module:
    """The model `cfg.arch` names, built from `cfg`."""
    return LIFTERS.get(cfg.arch)(cfg)
