"""Lifter training and evaluation data: 2D inputs (normalised screen coords + confidence) paired with
root-relative 3D targets in camera coordinates (metres, h36m17).

Two kinds of source:
* 3D motion (CMU mocap BVH, any `SkeletonDataset` of 3D h36m17 joints) seen through random virtual
  cameras (`posenas.core.camera`), with detector-like 2D noise; fresh cameras every epoch.
* real 2D/3D pairs (MSR Action3D Kinect screen + Real3D, Human3.6M), used as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenas.errors import PosenasError
from posenas.platform.lifting.config import JointOffsetConfig, NoiseConfig
from posenas.core.skeleton import get_layout

H36M = get_layout("h36m17")
FLIP = H36M.flip_permutation


@dataclass
class Clip:
    """One lifter clip: x (T, 17, 2) normalised screen coords, conf (T, 17), y (T, 17, 3) root-relative
    camera-frame metres; `valid` (T,) marks frames whose target is real (untracked frames are False)."""

    x: np.ndarray
    conf: np.ndarray
    y: np.ndarray
    seq_id: str
    subject: int | None = None
    group: str = ""
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.valid is None:
            self.valid = np.ones(len(self.x), dtype=bool)

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Motion:
    """A 3D motion in world coordinates (T, 17, 3) metres, with its world's vertical axis."""

    joints: np.ndarray
    seq_id: str
    subject: int | None
    group: str
    up: str = "y"


@dataclass
class CameraRanges:
    """Where virtual cameras may stand; wide enough to cover handheld and tripod video of one person."""

    azimuth_deg: tuple[float, float] = (0.0, 360.0)
    elevation_deg: tuple[float, float] = (-10.0, 35.0)
    distance: tuple[float, float] = (3.0, 8.0)
    focal: tuple[float, float] = (600.0, 1600.0)
    roll_deg: tuple[float, float] = (-5.0, 5.0)
    sizes: tuple[tuple[int, int], ...] = ((1000, 1000), (1280, 720), (720, 1280), (640, 480))
    target_jitter: float = 0.5  # metres: the person is not always in the image centre
    segment: int = 120  # frames per camera (a walking subject leaves a fixed camera's view)


@dataclass
class LifterData:
    """Training sources and named evaluation splits, plus the record a checkpoint keeps about them."""

    motions: list[Motion] = field(default_factory=list)  # synthesised anew every epoch
    real_train: list[Clip] = field(default_factory=list)
    val: dict[str, list[Clip]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    cameras: CameraRanges = field(default_factory=CameraRanges)

    def train_clips(self, rng: np.random.Generator, views: int, noise: NoiseConfig | None) -> list[Clip]:
        """This epoch's training clips: fresh virtual views of every motion plus the real pairs."""
        clips = list(self.real_train)
        for m in self.motions:
            clips.extend(synthesize_clips(m, rng, views, noise, self.cameras))
        return clips

    def extend(self, other: LifterData) -> LifterData:
        self.motions += other.motions
        self.real_train += other.real_train
        self.val.update(other.val)
        self.info.setdefault("sources", []).extend(other.info.get("sources", [other.info]))
        return self


# --- 2D corruption ------------------------------------------------------------------------------
def corrupt_2d(
    kp: np.ndarray, rng: np.random.Generator, noise: NoiseConfig | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detector-like errors on exact pixels (T, J, 2): Gaussian jitter, rare large outliers (with low
    confidence, as detectors report), dropped joints. -> (pixels, confidence, dropped mask)."""
    t, j = kp.shape[:2]
    if noise is None:
        return kp.astype(np.float32), np.ones((t, j), np.float32), np.zeros((t, j), bool)
    out = kp + rng.normal(0.0, noise.sigma_px, kp.shape)
    conf = rng.uniform(0.7, 1.0, (t, j))
    outlier = rng.random((t, j)) < noise.outlier_prob
    out[outlier] += rng.normal(0.0, noise.outlier_px, (int(outlier.sum()), 2))
    conf[outlier] = rng.uniform(0.1, 0.7, int(outlier.sum()))
    dropped = rng.random((t, j)) < noise.drop_prob
    conf[dropped] = 0.0
    return out.astype(np.float32), conf.astype(np.float32), dropped


# --- joint-definition augmentation ---------------------------------------------------------------
_J = {n: i for i, n in enumerate(H36M.joints)}
# h36m17 joints moved by JointOffsetConfig: field -> ((joint, side), ...); side +1 left, -1 right, 0 mid-line
_OFFSET_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "hips": ((_J["left_hip"], 1), (_J["right_hip"], -1)),
    "shoulders": ((_J["left_shoulder"], 1), (_J["right_shoulder"], -1)),
    "nose": ((_J["neck_nose"], 0),),
    "head": ((_J["head"], 0),),
    "knees": ((_J["left_knee"], 1), (_J["right_knee"], -1)),
    "ankles": ((_J["left_ankle"], 1), (_J["right_ankle"], -1)),
}


def body_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame unit axes of an h36m17 body (T, 17, 3): (left, up, forward), each (T, 3).

    left = right hip -> left hip; up = pelvis -> thorax made orthogonal to it; forward = left x up, which
    holds for y-up and z-up worlds alike (both right-handed), so the world's up axis is not needed.
    """
    eps = 1e-9
    left = joints[:, _J["left_hip"]] - joints[:, _J["right_hip"]]
    left = left / (np.linalg.norm(left, axis=-1, keepdims=True) + eps)
    trunk = joints[:, _J["thorax"]] - joints[:, _J["pelvis"]]
    trunk = trunk - (trunk * left).sum(-1, keepdims=True) * left
    upv = trunk / (np.linalg.norm(trunk, axis=-1, keepdims=True) + eps)
    fwd = np.cross(left, upv)
    return left, upv, fwd


def sample_joint_offsets(rng: np.random.Generator, cfg: JointOffsetConfig) -> dict[str, np.ndarray] | None:
    """One clip's offsets: field name -> (outward, up, forward) metres; None for a clip left exact."""
    if rng.random() >= cfg.prob:
        return None
    return {name: cfg.scale * np.array([rng.uniform(lo, hi) for lo, hi in getattr(cfg, name)])
            for name in _OFFSET_GROUPS}


def apply_joint_offsets(joints: np.ndarray, offsets: dict[str, np.ndarray] | None,
                        detector_torso: bool = True) -> np.ndarray:
    """Move h36m17 joints (T, 17, 3) by per-clip body-frame offsets (see `JointOffsetConfig`): a left joint
    moves `outward` along the body's left axis, a right joint along its right, mid-line joints not sideways.
    With `detector_torso`, pelvis/thorax/spine are then rebuilt as detectors' conversions build them."""
    out = np.array(joints, dtype=np.float64, copy=True)
    if offsets is not None:
        left, upv, fwd = body_frame(out)
        for name, members in _OFFSET_GROUPS.items():
            o_out, o_up, o_fwd = offsets[name]
            for j, side in members:
                out[:, j] += side * o_out * left + o_up * upv + o_fwd * fwd
    if detector_torso:
        hips = out[:, [_J["left_hip"], _J["right_hip"]]].mean(1)
        shoulders = out[:, [_J["left_shoulder"], _J["right_shoulder"]]].mean(1)
        out[:, _J["pelvis"]] = hips
        out[:, _J["thorax"]] = shoulders
        out[:, _J["spine"]] = 0.5 * (hips + shoulders)
    return out.astype(joints.dtype, copy=False)


def _to_inputs(kp: np.ndarray, dropped: np.ndarray, w: int, h: int) -> np.ndarray:
    from posenas.core.normalize import normalize_screen

    x = normalize_screen(kp.astype(np.float32), w, h).astype(np.float32)
    x[dropped] = 0.0
    return x


# --- synthetic views of 3D motion --------------------------------------------------------------
def synthesize_clips(
    motion: Motion,
    rng: np.random.Generator,
    views: int,
    noise: NoiseConfig | None,
    ranges: CameraRanges | None = None,
    max_tries: int = 8,
    noise_rng: np.random.Generator | None = None,
) -> list[Clip]:
    """`views` virtual-camera clips per segment of `motion`; a camera that puts a joint behind it or the
    pelvis outside the image is redrawn (up to `max_tries`, then the view is skipped). Noise draws come
    from `noise_rng` when given, so the same camera seed gives the same cameras with or without noise."""
    from posenas.core.camera import random_camera, synthesize_pairs
    from posenas.core.normalize import root_relative

    r = ranges or CameraRanges()
    clips: list[Clip] = []
    t_all = motion.joints.shape[0]
    for s in range(0, t_all, r.segment):
        seg = motion.joints[s : s + r.segment]
        if len(seg) < 2 and s > 0:
            continue
        centre = seg[:, 0].mean(axis=0)
        for v in range(views):
            seg_in = seg
            jo = noise.joint_offsets if noise is not None else None
            if jo is not None:
                offsets = sample_joint_offsets(noise_rng or rng, jo)
                if offsets is not None or jo.detector_torso:
                    seg_in = apply_joint_offsets(seg, offsets, jo.detector_torso)
            for _ in range(max_tries):
                jitter = rng.uniform(-r.target_jitter, r.target_jitter, 3)
                jitter[1 if motion.up == "y" else 2] *= 0.5
                size = r.sizes[rng.integers(len(r.sizes))]
                cam = random_camera(
                    rng, centre + jitter, azimuth_deg=r.azimuth_deg, elevation_deg=r.elevation_deg,
                    distance=r.distance, focal=r.focal, size=size, up=motion.up, roll_deg=r.roll_deg,
                )
                try:
                    kp, cam_joints = synthesize_pairs(seg, cam)
                    if seg_in is not seg:  # detector-style joints for the 2D input only
                        kp, _ = synthesize_pairs(seg_in, cam)
                except ValueError:
                    continue
                if cam.in_image(kp[:, 0]).mean() < 0.9:
                    continue
                kp_n, conf, dropped = corrupt_2d(kp, noise_rng or rng, noise)
                clips.append(Clip(
                    x=_to_inputs(kp_n, dropped, cam.width, cam.height), conf=conf,
                    y=root_relative(cam_joints).astype(np.float32),
                    seq_id=f"{motion.seq_id}@{s}/v{v}", subject=motion.subject, group=motion.group,
                ))
                break
    return clips


def fixed_views(
    motions: list[Motion], seed: int, views: int, noise: NoiseConfig | None, ranges: CameraRanges | None = None
) -> list[Clip]:
    """Deterministic evaluation views: the same cameras for every model; noise drawn after the cameras
    from a separate stream, so 'exact' and 'noisy' splits share their cameras."""
    clips: list[Clip] = []
    for i, m in enumerate(motions):
        clips += synthesize_clips(m, np.random.default_rng([seed, i]), views, noise, ranges,
                                  noise_rng=np.random.default_rng([seed, i, 1]))
    return clips


# --- CMU mocap -----------------------------------------------------------------------------------
def load_cmu(
    root: str | Path,
    protocol: str = "cross_subject",
    fps: float = 30.0,
    val_views: int = 4,
    val_seed: int = 1234,
    val_noise: NoiseConfig | None = None,
    max_sequences: int | None = None,
) -> LifterData:
    """CMU mocap BVH (via the `cmu_mocap` loader) -> training motions (train subjects) and two
    evaluation splits on held-out subjects: 'cmu_exact' (exact 2D) and 'cmu_noisy' (same cameras, noisy 2D)."""
    from posenas.datasets import load_dataset

    ds = load_dataset(root, "cmu_mocap", fps=fps)
    if protocol not in ds.protocols:
        raise PosenasError(f"CMU dataset at {root} has no protocol {protocol!r}; available: {sorted(ds.protocols)}")
    train, test = ds.split(protocol)
    if max_sequences is not None:
        train, test = train[:max_sequences], test[: max(1, max_sequences // 3)]
    up = str(ds.meta.get("up_axis", "y"))

    def motions(seqs) -> list[Motion]:
        out = []
        for s in seqs:
            if s.layout != "h36m17":
                raise PosenasError(f"{s.seq_id}: expected h36m17 joints from the cmu_mocap loader, got {s.layout}")
            out.append(Motion(s.joints[:, 0].astype(np.float32), s.seq_id, s.subject, s.action_name or "", up))
        return out

    train_m, test_m = motions(train), motions(test)
    noise = val_noise or NoiseConfig()
    info = {
        "dataset": "cmu", "path": str(Path(root).resolve()), "protocol": protocol, "fps": fps,
        "train_subjects": sorted({m.subject for m in train_m if m.subject is not None}),
        "test_subjects": sorted({m.subject for m in test_m if m.subject is not None}),
        "train_sequences": len(train_m), "test_sequences": len(test_m),
        "train_frames": int(sum(len(m.joints) for m in train_m)),
        "val_views": val_views, "val_seed": val_seed, "val_noise": noise.to_dict(),
    }
    return LifterData(
        motions=train_m,
        val={
            "cmu_exact": fixed_views(test_m, val_seed, val_views, None),
            "cmu_noisy": fixed_views(test_m, val_seed, val_views, noise),
        },
        info={"sources": [info]},
    )


# --- MSR Action3D real pairs ---------------------------------------------------------------------
def msr_pair_to_clip(pair: Any) -> Clip:
    """Kinect screen pixels (320x240) + Real3D (y up) -> a Clip in OpenCV camera axes (y down), h36m17.

    Kinect confidence 0 means 'inferred' (a guessed position, not missing): it becomes 0.5; untracked
    frames get confidence 0 and are excluded from losses and metrics through `valid`.
    """
    from posenas.datasets.msr_action3d import ACTION_NAMES, KINECT_320, kinect_to_camera
    from posenas.core.normalize import normalize_screen, root_relative
    from posenas.core.skeleton import convert_confidence_to_h36m, convert_to_h36m

    y = root_relative(convert_to_h36m(kinect_to_camera(pair.xyz), "msr20")).astype(np.float32)
    uv = convert_to_h36m(pair.uv, "msr20")
    c20 = np.where(pair.valid, np.where(pair.conf > 0, 1.0, 0.5), 0.0).astype(np.float32)
    conf = convert_confidence_to_h36m(c20, "msr20")
    x = normalize_screen(uv, KINECT_320.width, KINECT_320.height).astype(np.float32)
    x[conf <= 0] = 0.0
    frame_ok = pair.valid.all(axis=1)
    return Clip(x=x, conf=conf, y=y, seq_id=pair.seq_id, subject=pair.subject,
                group=ACTION_NAMES[pair.action], valid=frame_ok)


def load_msr(root: str | Path, subset: str = "cvpr12", max_sequences: int | None = None) -> LifterData:
    """MSR Action3D real pairs, the dataset's cross-subject protocol (odd subjects train, even subjects form
    split 'msr_xsub')."""
    from posenas.datasets.msr_action3d import load_msr_pairs, msr_protocols

    pairs, faults = load_msr_pairs(root, subset=subset)
    split = msr_protocols(pairs)["cross_subject"]
    clips = {p.seq_id: msr_pair_to_clip(p) for p in pairs}
    train = [clips[i] for i in split.train]
    test = [clips[i] for i in split.test]
    if max_sequences is not None:
        train, test = train[:max_sequences], test[: max(1, max_sequences // 3)]
    info = {
        "dataset": "msr", "path": str(Path(root).resolve()), "protocol": "cross_subject (odd train, even test)",
        "subset": subset, "fps": 15.0,
        "train_subjects": sorted({c.subject for c in train}), "test_subjects": sorted({c.subject for c in test}),
        "train_sequences": len(train), "test_sequences": len(test),
        "train_frames": int(sum(len(c) for c in train)), "faults": len(faults),
    }
    return LifterData(real_train=train, val={"msr_xsub": test}, info={"sources": [info]})


# --- Human3.6M ------------------------------------------------------------------------------------
def load_h36m(
    path_3d: str | Path, path_2d: str | Path | None = None, extrinsics: str | Path | None = None,
    max_sequences: int | None = None,
) -> LifterData:
    """Human3.6M (VideoPose3D npz files) via `posenas.datasets.h36m.load_h36m_pairs`, the dataset's standard
    protocol: TRAIN_SUBJECTS (S1,5,6,7,8) train, TEST_SUBJECTS (S9,11) form split 'h36m'."""
    from posenas.datasets.h36m import INTRINSICS, TEST_SUBJECTS, TRAIN_SUBJECTS, load_h36m_pairs
    from posenas.core.normalize import normalize_screen, root_relative

    if path_2d is None:
        raise PosenasError("Human3.6M needs both the 3D positions file (--path) and the 2D keypoints file (--path-2d)")
    faults: list = []
    pairs = load_h36m_pairs(path_3d, path_2d, extrinsics=extrinsics, faults=faults)
    train, test = [], []
    for p in pairs:
        intr = INTRINSICS[p.camera]
        kp = np.asarray(p.kp2d, np.float32)
        clip = Clip(x=normalize_screen(kp, intr["res_w"], intr["res_h"]).astype(np.float32),
                    conf=np.ones(kp.shape[:2], np.float32),
                    y=root_relative(np.asarray(p.pose3d_cam, np.float32)).astype(np.float32),
                    seq_id=f"{p.subject}/{p.action}/{p.camera}", subject=int(p.subject.lstrip("S")),
                    group=p.action.split(" ")[0])
        if p.subject in TEST_SUBJECTS:
            test.append(clip)
        elif p.subject in TRAIN_SUBJECTS:
            train.append(clip)
    if max_sequences is not None:
        train, test = train[:max_sequences], test[: max(1, max_sequences // 3)]
    info = {"dataset": "h36m", "path": str(Path(path_3d).resolve()), "path_2d": str(Path(path_2d).resolve()),
            "protocol": f"{','.join(TRAIN_SUBJECTS)} train / {','.join(TEST_SUBJECTS)} test", "train_sequences": len(train),
            "test_sequences": len(test), "train_subjects": sorted({c.subject for c in train}),
            "test_subjects": sorted({c.subject for c in test}), "faults": len(faults)}
    return LifterData(real_train=train, val={"h36m": test}, info={"sources": [info]})


def load_source(dataset: str, path: str | Path, **options: Any) -> LifterData:
    """Dispatch by dataset name ('cmu', 'msr', 'h36m')."""
    from posenas.errors import UnknownNameError

    loaders = {"cmu": load_cmu, "msr": load_msr, "h36m": load_h36m}
    if dataset not in loaders:
        raise UnknownNameError("lifter dataset", dataset, list(loaders))
    if not Path(path).exists():
        raise PosenasError(f"{path}: no such file or directory")
    return loaders[dataset](path, **options)


# --- batches ------------------------------------------------------------------------------------------
@dataclass
class WindowBank:
    """Clips concatenated with edge padding, so a training sample is one contiguous slice: input
    frames [s, s + chunk + rf - 1) produce targets [s + pad_left, ... + chunk)."""

    x: np.ndarray
    conf: np.ndarray
    y: np.ndarray
    valid: np.ndarray
    starts: np.ndarray  # valid sample starts
    chunk: int
    rf: int
    left: int

    @classmethod
    def build(cls, clips: list[Clip], rf: int, pad: tuple[int, int], chunk: int) -> WindowBank:
        left, right = pad
        xs, cs, ys, vs, starts = [], [], [], [], []
        offset = 0
        for c in clips:
            t = len(c)
            if t == 0:
                continue
            extra = max(0, chunk - t)  # short clips: repeat the last frame, but never train on it
            xp = np.pad(c.x, ((left, right + extra), (0, 0), (0, 0)), mode="edge")
            cp = np.pad(c.conf, ((left, right + extra), (0, 0)), mode="edge")
            yp = np.pad(c.y, ((left, right + extra), (0, 0), (0, 0)), mode="edge")
            vp = np.pad(c.valid, (left, right + extra), constant_values=False)
            n_starts = max(1, t - chunk + 1)
            starts.append(offset + np.arange(n_starts))
            xs.append(xp), cs.append(cp), ys.append(yp), vs.append(vp)
            offset += len(xp)
        if not xs:
            raise PosenasError("no training clips")
        return cls(np.concatenate(xs), np.concatenate(cs), np.concatenate(ys), np.concatenate(vs),
                   np.concatenate(starts), chunk, rf, left)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Samples with these start offsets -> x (B, chunk+rf-1, J, 2), conf, y (B, chunk, J, 3), valid (B, chunk)."""
        win = idx[:, None] + np.arange(self.chunk + self.rf - 1)[None]
        out = idx[:, None] + self.left + np.arange(self.chunk)[None]
        return self.x[win], self.conf[win], self.y[out], self.valid[out]


def flip_batch(x: np.ndarray, conf: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror the scene about the image's vertical centre line: negate x, swap left/right joints."""
    x = x[..., FLIP, :].copy()
    x[..., 0] *= -1
    y = y[..., FLIP, :].copy()
    y[..., 0] *= -1
    return x, conf[..., FLIP], y
