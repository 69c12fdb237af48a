"""Skeleton sequences as colour images (SPMF, Enhanced-SPMF, joint-coordinate image) for image CNNs.

Pham et al. (Sensors 2020, and their earlier SPMF / Enhanced-SPMF papers) turn a 3D skeleton sequence
into an RGB image so that an ordinary 2D CNN (DenseNet, an ENAS-found cell network) can classify the
action. The layout used here:

* Joints of all persons are concatenated, giving N = P*J joints per frame (any layout, any P).
* Joint pairs: every unordered pair i <= j, K = N(N+1)/2 pairs. On the diagonal the pose features are
  zero, while the motion features are the joint's own displacement, the most telling motion cue.
  `pair_order` sets their rows, which matters because resizing averages neighbouring rows: "index"
  (the layout's file order, row-major), "chain" (joints in depth-first order along the kinematic tree,
  so a limb's joints are neighbours), "parts" (the same pairs in blocks of body part x body part) and
  "within_parts" (only pairs inside one body part: 50 instead of 210 pairs for 20 joints). All but
  "index" need the joints' layout (`Layout.chain_order`, `Layout.body_parts`).
* Pose feature of frame t (pair i, j): JJD = |p_t[j] - p_t[i]|, JJO = (p_t[j] - p_t[i]) / JJD.
* Motion feature between t and t+1: JJD = |p_{t+1}[j] - p_t[i]|, JJO its normalised direction. With
  `motion_stride=k` the motion column after frame t spans t -> min(t+k, T-1) instead, for sources whose
  frame-to-frame displacement is small next to the joint distances (Kinect at 15-30 fps); the image keeps
  its 2T - 1 columns.
* Columns (time axis, width): P_1, M_12, P_2, M_23, ..., P_T  (2T - 1 columns, pose and motion
  interleaved). Rows (height): the K JJD pixels on top, the K JJO pixels below (2K rows).
* JJD is min-max normalised over the whole sequence (pose and motion together, so the encoding is
  invariant to the subject's size and the sensor's units) and coloured with OpenCV's JET colour map;
  JJO components in [-1, 1] map linearly to [0, 255] (x -> R, y -> G, z -> B).
* The joint-coordinate image ("joints", after Du et al. 2015) has one row per joint and one column per
  frame, x/y/z as R/G/B, positions taken about the sequence's mean joint. Its options: `joint_scale`
  "per_axis" (each axis min-max normalised on its own, as Du et al.) or "isotropic" (one scale for all
  three axes, the widest axis's span, so the image keeps the motion's proportions and a small depth
  range is not stretched to full contrast); `joint_rows` "index" (the layout's file order) or "tree"
  (the depth-first walk of the kinematic tree that comes back along every bone, 2J - 1 rows, so
  neighbouring rows are always joined by a bone; needs the layout); `joint_motion` adds a block of
  per-frame velocity rows (central differences, zero velocity at mid-grey) under the position rows.
* Before any of this the joints can be denoised, for depth sensors whose per-frame joints jitter:
  `smooth_sigma` low-passes every coordinate along time (a Gaussian of that many frames, as Moving Pose
  does), and `rigid_bones` rebuilds each person from the root out with every bone at its clip-mean length
  (directions kept; needs the layout). Smoothing comes first, so the bones end exactly rigid.
* The image is resized to size x size (time and pair axes are both squeezed, as in the papers).
  With `frames=F` the sequence is first resampled linearly to F frames, so that the time axis (2F - 1
  columns) is set before encoding instead of squeezed after it, and a motion column always spans the
  same fraction of the action whatever its length.
* Enhanced-SPMF adds contrast-limited adaptive histogram equalisation (CLAHE). By default it is applied
  to the L channel of the CIE-Lab image (so hues, which carry the distance/orientation code, are kept)
  at full resolution before resizing; `clahe_mode="per_channel"` equalises R, G, B separately and
  `clahe_at="resized"` applies it to the final small image instead.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from posenas.core.config import ConfigBase, config_dataclass
from posenas.errors import ConfigError, PosenasError

ENCODINGS = ("enhanced_spmf", "spmf", "joints")
PAIR_ORDERS = ("index", "chain", "parts", "within_parts")
JOINT_SCALES = ("per_axis", "isotropic")
JOINT_ROWS = ("index", "tree")
JOINT_IMAGE_FIELDS = ("joint_scale", "joint_rows", "joint_motion")  # EncodingConfig fields of the joint image only
DENOISE_FIELDS = ("smooth_sigma", "rigid_bones")  # EncodingConfig fields that change the joints before any encoding


@config_dataclass(frozen=True)
class EncodingConfig(ConfigBase):
    """How a sequence becomes an image; hashed into the action-image cache key, so keep it plain data."""

    encoding: str = "enhanced_spmf"
    size: int = 32
    clahe_clip_limit: float = 2.0
    clahe_tile_grid: tuple[int, int] = (4, 4)
    clahe_mode: Literal["luminance", "per_channel"] = "luminance"
    clahe_at: Literal["full", "resized"] = "full"
    colormap: str = "JET"
    # Inter-area is the right kernel for the heavy downscaling of long sequences.
    interpolation: str = "area"
    # None: every captured frame is encoded; F >= 2: resample time to F frames first (see the module notes).
    frames: int | None = None
    # Row order (and set) of the joint pairs; see the module notes. Everything but "index" needs the layout.
    pair_order: Literal["index", "chain", "parts", "within_parts"] = "index"
    # frames a motion column spans (1: consecutive frames, as in the papers); see the module notes
    motion_stride: int = 1
    # the joint-coordinate image only ("joints"); see the module notes
    joint_scale: Literal["per_axis", "isotropic"] = "per_axis"
    joint_rows: Literal["index", "tree"] = "index"
    joint_motion: bool = False
    # denoising before encoding, any encoding (see the module notes): Gaussian sigma in frames (0: off)
    smooth_sigma: float = 0.0
    rigid_bones: bool = False

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            from posenas.errors import UnknownNameError

            raise UnknownNameError("action-image encoding", self.encoding, list(ENCODINGS))
        if self.size < 4:
            raise ConfigError("EncodingConfig", "size", f"image size must be >= 4, got {self.size}")
        if self.frames is not None and self.frames < 2:
            raise ConfigError("EncodingConfig", "frames", f"must be >= 2 (or unset), got {self.frames}")
        if self.motion_stride < 1:
            raise ConfigError("EncodingConfig", "motion_stride", f"must be >= 1, got {self.motion_stride}")
        if not self.smooth_sigma >= 0:  # also refuses NaN
            raise ConfigError("EncodingConfig", "smooth_sigma", f"must be >= 0 frames, got {self.smooth_sigma}")
        if self.pair_order not in PAIR_ORDERS:
            raise ConfigError("EncodingConfig", "pair_order",
                              f"must be one of {', '.join(PAIR_ORDERS)}, got {self.pair_order!r}")
        if self.joint_scale not in JOINT_SCALES:
            raise ConfigError("EncodingConfig", "joint_scale",
                              f"must be one of {', '.join(JOINT_SCALES)}, got {self.joint_scale!r}")
        if self.joint_rows not in JOINT_ROWS:
            raise ConfigError("EncodingConfig", "joint_rows",
                              f"must be one of {', '.join(JOINT_ROWS)}, got {self.joint_rows!r}")
        if self.encoding != "joints":  # a joint-image option on a pair image would be silently ignored
            for f in dataclasses.fields(self):
                if f.name in JOINT_IMAGE_FIELDS and getattr(self, f.name) != f.default:
                    raise ConfigError("EncodingConfig", f.name,
                                      f"applies to encoding 'joints' only, not {self.encoding!r}")


# --- checks -------------------------------------------------------------------------------------
def _as_tpj3(joints: np.ndarray, seq_id: str) -> np.ndarray:
    """(T, P, J, 3) or (T, J, 3) -> (T, P*J, 3) float64, after the checks that name the sequence."""
    a = np.asarray(joints, dtype=np.float64)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise PosenasError(f"sequence {seq_id}: expected 3D joints (T, P, J, 3), got shape {a.shape}")
    t, p, j, _ = a.shape
    if t < 2:
        raise PosenasError(f"sequence {seq_id}: {t} frame(s); action images need at least 2 frames")
    if p * j < 2:
        raise PosenasError(f"sequence {seq_id}: needs at least 2 joints, got {p * j}")
    bad = ~np.isfinite(a)
    if bad.any():
        frames = np.nonzero(bad.any(axis=(1, 2, 3)))[0]
        what = "all frames are" if frames.size == t else f"{frames.size} of {t} frames (first: {frames[0]}) are"
        raise PosenasError(f"sequence {seq_id}: {what} NaN/inf; fill or drop them before encoding")
    return a.reshape(t, p * j, 3)


def _persons_of(num_joints: int, option: str, value: str, layout: str | None):
    """(Layout, persons) for an option that orders the joints of every person of `layout` in turn."""
    if layout is None:
        raise PosenasError(f"{option} {value!r} needs the joints' layout (give layout=...)")
    from posenas.core.skeleton import get_layout

    lay = get_layout(layout)
    if num_joints % lay.num_joints:
        raise PosenasError(f"{option} {value!r}: {num_joints} joints are not whole persons of layout {layout} "
                           f"({lay.num_joints} joints)")
    return lay, num_joints // lay.num_joints


def pair_indices(num_joints: int, order: str = "index", layout: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the pair features: joint indices (i, j), each unordered pair (diagonal included) once.

    `num_joints` may span several persons of `layout` (persons concatenated): the order is then applied
    to every person, and a body part belongs to one person.
    """
    if order == "index":
        return np.triu_indices(num_joints)
    if order not in PAIR_ORDERS:
        raise ConfigError("EncodingConfig", "pair_order", f"must be one of {', '.join(PAIR_ORDERS)}, got {order!r}")
    from posenas.core.skeleton import BODY_PARTS

    lay, persons = _persons_of(num_joints, "pair_order", order, layout)
    j = lay.num_joints
    chain = np.asarray(lay.chain_order)
    parts = np.asarray(lay.body_parts)
    # joints of every person along the chain, persons one after another; their global body part
    seq = np.concatenate([p * j + chain for p in range(persons)])
    part = np.concatenate([p * len(BODY_PARTS) + parts[chain] for p in range(persons)])
    a, b = np.triu_indices(num_joints)  # positions in `seq`
    if order == "chain":
        return seq[a], seq[b]
    # parts: joints part-major (chain order inside a part), pairs in blocks (part of i, part of j)
    by_part = np.argsort(part, kind="stable")
    seq, part = seq[by_part], part[by_part]
    keep = slice(None) if order == "parts" else part[a] == part[b]
    a, b = a[keep], b[keep]
    rows = np.lexsort((b, a, part[b], part[a]))
    return seq[a[rows]], seq[b[rows]]


# --- features -----------------------------------------------------------------------------------
def _dist_orient(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = b - a
    dist = np.linalg.norm(diff, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        orient = np.where(dist[..., None] > 1e-9, diff / dist[..., None], 0.0)
    return dist, orient


def pose_features(joints: np.ndarray, seq_id: str = "<array>", pair_order: str = "index",
                  layout: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Within-frame JJD (T, K) and JJO (T, K, 3) for the pairs of `pair_indices`, unnormalised."""
    x = _as_tpj3(joints, seq_id)
    i, j = pair_indices(x.shape[1], pair_order, layout)
    return _dist_orient(x[:, i], x[:, j])


def motion_features(joints: np.ndarray, seq_id: str = "<array>", pair_order: str = "index",
                    layout: str | None = None, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """JJD (T-1, K) and JJO (T-1, K, 3) from joint i at frame t to joint j at frame min(t + stride, T-1)."""
    x = _as_tpj3(joints, seq_id)
    i, j = pair_indices(x.shape[1], pair_order, layout)
    later = np.minimum(np.arange(1, x.shape[0]) + (stride - 1), x.shape[0] - 1)  # stride 1: frames 1..T-1
    return _dist_orient(x[:-1, i], x[later][:, j])


def interleave(pose: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """Stack along time as P_1, M_12, P_2, ..., M_{T-1,T}, P_T: (T, ...) and (T-1, ...) -> (2T-1, ...)."""
    if motion.shape[0] != pose.shape[0] - 1 or motion.shape[1:] != pose.shape[1:]:
        raise ValueError(f"pose {pose.shape} and motion {motion.shape} do not interleave")
    out = np.empty((2 * pose.shape[0] - 1,) + pose.shape[1:], dtype=np.result_type(pose, motion))
    out[0::2] = pose
    out[1::2] = motion
    return out


def _colormap(name: str) -> int:
    import cv2

    attr = f"COLORMAP_{name.upper()}"
    if not hasattr(cv2, attr):
        raise PosenasError(f"unknown OpenCV colour map {name!r}")
    return getattr(cv2, attr)


def spmf_raw(joints: np.ndarray, seq_id: str = "<array>", colormap: str = "JET", pair_order: str = "index",
             layout: str | None = None, motion_stride: int = 1) -> np.ndarray:
    """Full-resolution SPMF image, uint8 (2K, 2T-1, 3) RGB: JJD (colour-mapped) rows over JJO rows."""
    import cv2

    dp, op = pose_features(joints, seq_id, pair_order, layout)
    dm, om = motion_features(joints, seq_id, pair_order, layout, motion_stride)
    jjd = interleave(dp, dm)  # (2T-1, K)
    jjo = interleave(op, om)  # (2T-1, K, 3)
    lo, hi = float(jjd.min()), float(jjd.max())
    if hi - lo < 1e-9:
        raise PosenasError(f"sequence {seq_id}: all joint distances are equal (a frozen or collapsed skeleton)")
    d8 = np.round((jjd - lo) / (hi - lo) * 255.0).astype(np.uint8).T  # (K, 2T-1)
    d_rgb = cv2.cvtColor(cv2.applyColorMap(d8, _colormap(colormap)), cv2.COLOR_BGR2RGB)
    o_rgb = np.round((np.transpose(jjo, (1, 0, 2)) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    return np.concatenate([d_rgb, o_rgb], axis=0)


def joint_rows(num_joints: int, rows: str = "index", layout: str | None = None) -> np.ndarray:
    """Joint index of every row of the joint-coordinate image (`EncodingConfig.joint_rows`).

    `num_joints` may span several persons of `layout`; "tree" walks every person's tree in turn.
    """
    if rows == "index":
        return np.arange(num_joints)
    if rows not in JOINT_ROWS:
        raise ConfigError("EncodingConfig", "joint_rows", f"must be one of {', '.join(JOINT_ROWS)}, got {rows!r}")
    lay, persons = _persons_of(num_joints, "joint_rows", rows, layout)
    walk = np.asarray(lay.tree_walk)
    return np.concatenate([p * lay.num_joints + walk for p in range(persons)])


def _to_uint8(x: np.ndarray, lo: np.ndarray, span: np.ndarray) -> np.ndarray:
    return np.round((x - lo) / span * 255.0).clip(0, 255).astype(np.uint8)


def joints_raw(joints: np.ndarray, seq_id: str = "<array>", scale: str = "per_axis", rows: str = "index",
               motion: bool = False, layout: str | None = None) -> np.ndarray:
    """Joint-coordinate image, uint8 (R, T, 3): row = joint (`joint_rows`), column = frame, x/y/z -> R/G/B.

    Positions are taken about the sequence's mean joint, so where the subject stands does not matter but
    its motion along each axis does; `scale` sets how they fill 0..255 (see the module notes). With
    `motion` the velocity rows (R more, same order) follow, zero velocity at 127.5.
    """
    if scale not in JOINT_SCALES:
        raise ConfigError("EncodingConfig", "joint_scale", f"must be one of {', '.join(JOINT_SCALES)}, got {scale!r}")
    x = _as_tpj3(joints, seq_id)
    x = x[:, joint_rows(x.shape[1], rows, layout)]
    x = x - x.reshape(-1, 3).mean(axis=0)
    lo, hi = x.reshape(-1, 3).min(axis=0), x.reshape(-1, 3).max(axis=0)
    if scale == "per_axis":
        span = np.where(hi - lo > 1e-9, hi - lo, 1.0)
    else:  # the widest axis fills 0..255, the others keep their proportion about the middle grey
        span = np.full(3, max(float((hi - lo).max()), 1e-9))
        lo = (lo + hi) / 2 - span / 2
    blocks = [_to_uint8(x, lo, span)]  # (T, R, 3)
    if motion:
        v = np.gradient(x, axis=0)
        peak = np.abs(v).reshape(-1, 3).max(axis=0)
        peak = np.maximum(peak if scale == "per_axis" else np.full(3, peak.max()), 1e-9)
        blocks.append(_to_uint8(v, -peak, 2 * peak))
    return np.ascontiguousarray(np.transpose(np.concatenate(blocks, axis=1), (1, 0, 2)))


def denoise(joints: np.ndarray, seq_id: str = "<array>", smooth_sigma: float = 0.0, rigid_bones: bool = False,
            layout: str | None = None) -> np.ndarray:
    """(T, P, J, 3) or (T, J, 3) -> (T, P*J, 3) float64, smoothed along time and/or with rigid bones (see the
    module notes); `rigid_bones` needs the layout and treats the joints as whole persons of it."""
    from posenas.core.timeseries import smooth_gaussian

    x = smooth_gaussian(_as_tpj3(joints, seq_id), smooth_sigma)
    if rigid_bones:
        lay, persons = _persons_of(x.shape[1], "rigid_bones", "True", layout)
        j = lay.num_joints
        x = np.concatenate([lay.with_clip_mean_bones(x[:, p * j:(p + 1) * j]) for p in range(persons)], axis=1)
    return x


def clahe(image: np.ndarray, clip_limit: float = 2.0, tile_grid: tuple[int, int] = (4, 4),
          mode: str = "luminance") -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of an RGB uint8 image (same shape and dtype)."""
    import cv2

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"clahe expects uint8 (H, W, 3), got {image.dtype} {image.shape}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tuple(int(v) for v in tile_grid))
    if mode == "luminance":
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
        lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    if mode == "per_channel":
        return np.stack([op.apply(np.ascontiguousarray(image[..., c])) for c in range(3)], axis=-1)
    raise ValueError(f"clahe mode must be 'luminance' or 'per_channel', got {mode!r}")


def resize(image: np.ndarray, size: int, interpolation: str = "area") -> np.ndarray:
    """Square resize with OpenCV (area for shrinking, or 'linear'/'cubic'/'nearest')."""
    import cv2

    flags = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
             "nearest": cv2.INTER_NEAREST}
    if interpolation not in flags:
        raise ValueError(f"interpolation must be one of {sorted(flags)}, got {interpolation!r}")
    return cv2.resize(image, (size, size), interpolation=flags[interpolation])


def encode_sequence(joints: np.ndarray, encoding: str = "enhanced_spmf", size: int = 32,
                    seq_id: str = "<array>", config: EncodingConfig | None = None, layout: str | None = None,
                    **opts) -> np.ndarray:
    """One sequence (T, P, J, 3) or (T, J, 3) -> uint8 (size, size, 3) RGB action image.

    Pass either `config` or `encoding`/`size` plus any other `EncodingConfig` field as a keyword.
    `layout` (the joints' layout) is needed by every `pair_order` but "index", by `joint_rows="tree"` and by
    `rigid_bones`.
    Raises PosenasError naming `seq_id` for fewer than 2 frames, NaN/inf values or a degenerate skeleton.
    """
    cfg = config if config is not None else EncodingConfig(encoding=encoding, size=size, **opts)
    if cfg.smooth_sigma > 0 or cfg.rigid_bones:
        joints = denoise(joints, seq_id, cfg.smooth_sigma, cfg.rigid_bones, layout)
    if cfg.frames is not None:
        from posenas.core.timeseries import resample_to_length

        joints = resample_to_length(_as_tpj3(joints, seq_id), cfg.frames)
    if cfg.encoding == "joints":
        raw = joints_raw(joints, seq_id, cfg.joint_scale, cfg.joint_rows, cfg.joint_motion, layout)
        return resize(raw, cfg.size, cfg.interpolation)
    img = spmf_raw(joints, seq_id, cfg.colormap, cfg.pair_order, layout, cfg.motion_stride)
    enhance = cfg.encoding == "enhanced_spmf"
    if enhance and cfg.clahe_at == "full":
        img = clahe(img, cfg.clahe_clip_limit, cfg.clahe_tile_grid, cfg.clahe_mode)
    img = resize(img, cfg.size, cfg.interpolation)
    if enhance and cfg.clahe_at == "resized":
        img = clahe(img, cfg.clahe_clip_limit, cfg.clahe_tile_grid, cfg.clahe_mode)
    return img
