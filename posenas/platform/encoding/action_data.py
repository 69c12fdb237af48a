"""Labelled action images (and fixed-length joint sequences) built from a dataset protocol, cached on disk.

The ENAS search, its final training and the baselines all read the same `protocol_split` output, so
"same data, same splits" holds by construction. Validation data is carved out of the protocol's
*training* units (never the test split): whole subjects, or whole groups where a dataset's folds are made
of groups (SBU's subject pairs, `SkeletonSequence.group`). Class labels are remapped to 0..C-1 over the classes of
the protocol (MSR AS1/AS2/AS3 become 8-class problems), in ascending order of the dataset's action
index, which matches `posenas.datasets.msr_action3d.subset_classes`.

Encoded images are cached as .npz files keyed by a hash of the joints themselves, the encoding
config, the label map and the augmentation settings; a cache hit therefore can never return images of
different data (e.g. lifted instead of Kinect poses that share a dataset path).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from posenas.core.config import ConfigBase, config_dataclass
from posenas.core.timeseries import resample_to_length
from posenas.datasets.sequence import SkeletonDataset, SkeletonSequence
from posenas.errors import ConfigError, PosenasError
from posenas.platform.encoding.pose_space import space_layout, to_pose_space
from posenas.platform.encoding.spmf import EncodingConfig, encode_sequence

CACHE_VERSION = 2  # 2: the pose space is part of the key


# --- containers ---------------------------------------------------------------------------------
@dataclass
class ActionImages:
    """N action images with labels 0..C-1; `seq_ids` name the source sequence (augmented: 'id#augK')."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    labels: np.ndarray  # int64 (N,)
    seq_ids: list[str]
    subjects: np.ndarray  # int64 (N,), -1 where unknown
    classes: list[str]

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images, dtype=np.uint8)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.subjects = np.asarray(self.subjects, dtype=np.int64)
        n = len(self.labels)
        if self.images.ndim != 4 or self.images.shape[0] != n or self.images.shape[-1] != 3:
            raise ValueError(f"images {self.images.shape} do not match {n} labels as (N, H, W, 3)")
        if len(self.seq_ids) != n or self.subjects.shape != (n,):
            raise ValueError("seq_ids/subjects length differs from labels")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"labels outside [0, {len(self.classes)})")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: np.ndarray | Sequence[int]) -> "ActionImages":
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        return ActionImages(self.images[idx], self.labels[idx], [self.seq_ids[i] for i in idx],
                            self.subjects[idx], list(self.classes))


@dataclass
class ActionSequences:
    """N joint sequences resampled to a fixed length, (N, T, P*J*3) float32, for non-image models (TCN)."""

    features: np.ndarray
    labels: np.ndarray
    seq_ids: list[str]
    subjects: np.ndarray
    classes: list[str]

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.subjects = np.asarray(self.subjects, dtype=np.int64)
        if self.features.ndim != 3 or self.features.shape[0] != len(self.labels):
            raise ValueError(f"features {self.features.shape} do not match {len(self.labels)} labels as (N, T, F)")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@config_dataclass(frozen=True)
class AugmentConfig(ConfigBase):
    """Random copies for the training part (and for test-time augmentation).

    Always: rotation about the up axis, per-axis scale, time crop. Optional levers (off by default, measured
    in `benchmarks/bench_action_ablation.py`): a left/right mirror with the joint swap (x negated: the body's
    left in the canonical spaces, the Kinect's horizontal axis in `native`), a speed change (time resampled by a random factor) and Gaussian joint
    noise in metres.
    """

    rotate_deg: float = 20.0
    up_axis: int = 1  # y is up for Kinect (MSR, UTKinect) and y is down for camera coordinates: both vertical
    scale: tuple[float, float] = (0.9, 1.1)  # per axis, so joint orientations change too
    crop: tuple[float, float] = (0.8, 1.0)  # kept fraction of the frames
    mirror: float = 0.0  # probability of a left/right mirror (x -> -x, left and right joints swapped)
    speed: tuple[float, float] = (1.0, 1.0)  # time-stretch factor range (1.2: played 20 % faster)
    joint_noise: float = 0.0  # std of i.i.d. Gaussian noise added to every joint, metres

    def __post_init__(self) -> None:
        if not 0.0 <= self.rotate_deg <= 180.0:
            raise ConfigError("AugmentConfig", "rotate_deg", f"degrees in [0, 180], got {self.rotate_deg}")
        if not 0.0 <= self.mirror <= 1.0:
            raise ConfigError("AugmentConfig", "mirror", f"a probability in [0, 1], got {self.mirror}")
        if not 0.0 < self.speed[0] <= self.speed[1]:
            raise ConfigError("AugmentConfig", "speed", f"needs 0 < low <= high, got {self.speed}")
        if self.joint_noise < 0:
            raise ConfigError("AugmentConfig", "joint_noise", f"must be >= 0, got {self.joint_noise}")


# --- splits -------------------------------------------------------------------------------------
@dataclass
class ProtocolParts:
    """Sequences of a protocol's train / val / test parts and its 0..C-1 label map.

    `val_groups` are the held-out fold units (`SkeletonSequence.fold_unit`: subjects, or SBU pair folders);
    `val_subjects` the subject ids of the val part (the same list where the folds are made of subjects).
    Both are empty when val is a random fraction of sequences.
    """

    train: list[SkeletonSequence]
    val: list[SkeletonSequence]
    test: list[SkeletonSequence]
    label_map: dict[int, int]
    classes: list[str]
    val_subjects: list[int] = field(default_factory=list)
    val_groups: list[str | int] = field(default_factory=list)


def _action_key(seq: SkeletonSequence) -> int:
    if seq.action is None:
        raise PosenasError(f"sequence {seq.seq_id}: has no action label")
    return int(seq.action)


def label_map_for(dataset: SkeletonDataset, sequences: Iterable[SkeletonSequence],
                  protocol: str | None = None) -> tuple[dict[int, int], list[str]]:
    """Action index -> 0..C-1 over the protocol's classes (from meta['protocol_classes'] when given)."""
    declared = (dataset.meta.get("protocol_classes") or {}).get(protocol) if protocol else None
    actions = sorted(int(a) for a in declared) if declared else sorted({_action_key(s) for s in sequences})
    names = []
    by_action = {int(s.action): s.action_name for s in dataset.sequences if s.action is not None}
    for a in actions:
        if dataset.classes and 0 <= a < len(dataset.classes):
            names.append(str(dataset.classes[a]))
        else:
            names.append(str(by_action.get(a) or a))
    return {a: k for k, a in enumerate(actions)}, names


def _sorted_units(units: Iterable[str | int]) -> list[str | int]:
    """Fold units in a stable order (numbers as numbers, so subject draws match earlier releases)."""
    units = set(units)
    try:
        return sorted(units)
    except TypeError:  # mixed ids (some sequences with a group, some without)
        return sorted(units, key=repr)


def split_sequences(dataset: SkeletonDataset, protocol: str, val_fraction: float = 0.2,
                    val_subjects: Sequence[int] | None = None, seed: int = 0,
                    val_groups: Sequence[str | int] | None = None) -> ProtocolParts:
    """Train/val/test sequences: val is whole training fold units, never one the test split has.

    The unit is `SkeletonSequence.fold_unit`: the subject (MSR Action3D, UTKinect, ...) or the group a loader
    declares (SBU: the subject-pair folder, since persons recur across SBU folds). `val_groups` names the
    held-out units explicitly; `val_subjects` is the same for datasets whose folds are made of subjects.
    Drawn units exclude those the test split contains (UTKinect leave-one-sequence-out shares its subject
    with training); where no unit is known or none is free, val is a random `val_fraction` of sequences.
    """
    train, test = dataset.split(protocol)
    if not train or not test:
        raise PosenasError(f"{dataset.name} protocol {protocol}: empty train ({len(train)}) or test ({len(test)})")
    label_map, classes = label_map_for(dataset, train + test, protocol)
    by_group = any(s.group is not None for s in train + test)
    unit = "group" if by_group else "subject"
    if val_subjects is not None and val_groups is not None:
        raise PosenasError(f"{dataset.name} {protocol}: give val_groups or val_subjects, not both")
    if val_subjects is not None and by_group:
        raise PosenasError(f"{dataset.name} {protocol}: folds are made of groups (e.g. subject pairs), not "
                           f"subjects; name the validation part with val_groups")
    explicit = val_groups if val_groups is not None else val_subjects
    test_units = {s.fold_unit for s in test if s.fold_unit is not None}
    units = _sorted_units(s.fold_unit for s in train if s.fold_unit is not None)
    rng = np.random.default_rng(seed)
    val: list[SkeletonSequence] = []
    chosen: list[str | int] = []
    if explicit is not None:
        chosen = _sorted_units(v if by_group else int(v) for v in explicit)
        bad = [v for v in chosen if v not in units]
        if bad:
            raise PosenasError(f"{dataset.name} {protocol}: val {unit}s {bad} are not training {unit}s {units}")
    elif val_fraction > 0 and len(units) >= 2 and all(s.fold_unit is not None for s in train):
        free = [u for u in units if u not in test_units]
        n = min(int(np.clip(round(val_fraction * len(units)), 1, len(units) - 1)), len(free))
        chosen = _sorted_units(free[i] for i in rng.choice(len(free), size=n, replace=False)) if n else []
    if chosen:
        val = [s for s in train if s.fold_unit in chosen]
        train = [s for s in train if s.fold_unit not in chosen]
    elif val_fraction > 0:  # no unit ids (or none outside the test split): hold out random training sequences
        idx = rng.permutation(len(train))
        n = int(np.clip(round(val_fraction * len(train)), 1, len(train) - 1))
        val_idx = set(idx[:n].tolist())
        val = [s for i, s in enumerate(train) if i in val_idx]
        train = [s for i, s in enumerate(train) if i not in val_idx]
    if test_units & set(chosen):
        raise PosenasError(f"{dataset.name} {protocol}: validation {unit}s "
                           f"{_sorted_units(test_units & set(chosen))} overlap the test split")
    val_subj = sorted({int(s.subject) for s in val if s.subject is not None}) if chosen else []
    return ProtocolParts(train, val, test, label_map, classes, val_subj, chosen)


# --- preprocessing and augmentation -------------------------------------------------------------
def clean_joints(seq: SkeletonSequence) -> np.ndarray:
    """3D joints without untracked frames (every joint exactly 0, as Kinect writes them)."""
    if seq.dims != 3:
        raise PosenasError(f"sequence {seq.seq_id}: action images need 3D joints, got {seq.dims}D")
    x = seq.joints
    keep = ~(x == 0).all(axis=(1, 2, 3))
    return x[keep]


def mirror_joints(joints: np.ndarray, layout: str = "h36m17") -> np.ndarray:
    """Left/right mirror (T, P, J, 3) of `layout` joints: x negated, left and right joints swapped.

    x is the body's left in the canonical spaces and the sensor's horizontal axis in the Kinect datasets'
    native space (y up, z depth): either way x -> -x is a mirror image of the scene.
    """
    from posenas.core.skeleton import get_layout

    x = np.asarray(joints)
    lay = get_layout(layout)
    if x.shape[-2] != lay.num_joints:
        raise PosenasError(f"mirror augmentation: joints have {x.shape[-2]} joints, layout {layout} has {lay.num_joints}")
    if not lay.lr_pairs:
        raise PosenasError(f"mirror augmentation: layout {layout} names no left/right joints to swap")
    out = x[..., lay.flip_permutation, :].copy()
    out[..., 0] = -out[..., 0]
    return out


def augment_joints(joints: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig(),
                   layout: str = "h36m17") -> np.ndarray:
    """One random copy (T', P, J, 3): optionally mirrored and time-stretched, then rotated about the up axis
    through the centroid, scaled, time-cropped, and optionally jittered."""
    if cfg.mirror > 0 and rng.uniform() < cfg.mirror:
        joints = mirror_joints(joints, layout)
    if cfg.speed != (1.0, 1.0) and joints.shape[0] >= 2:
        factor = rng.uniform(*cfg.speed)
        joints = resample_to_length(np.asarray(joints, np.float64), max(2, int(round(joints.shape[0] / factor))))
    t = joints.shape[0]
    keep = int(np.clip(round(rng.uniform(*cfg.crop) * t), min(2, t), t))
    start = int(rng.integers(0, t - keep + 1))
    x = joints[start:start + keep].astype(np.float64)
    centre = x.reshape(-1, 3).mean(axis=0)
    a = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    c, s = np.cos(a), np.sin(a)
    u = cfg.up_axis
    p, q = [k for k in range(3) if k != u]
    rot = np.eye(3)
    rot[p, p], rot[p, q], rot[q, p], rot[q, q] = c, -s, s, c
    scale = rng.uniform(*cfg.scale, size=3)
    out = ((x - centre) @ rot.T) * scale + centre
    if cfg.joint_noise > 0:
        out = out + rng.normal(0.0, cfg.joint_noise, size=out.shape)
    return out.astype(np.float32)


def sequence_joints(seq: SkeletonSequence, space: str = "canonical") -> np.ndarray:
    """A sequence's clean 3D joints in the action models' pose space (see `pose_space`)."""
    return to_pose_space(clean_joints(seq), seq.layout, space, left_handed=seq.meta.get("handedness") == "left")


def _copies(seq: SkeletonSequence, augment: int, seed: int, index: int, cfg: AugmentConfig,
            space: str = "canonical") -> list[tuple[str, np.ndarray]]:
    base = sequence_joints(seq, space)
    out = [(seq.seq_id, base)]
    if augment and base.shape[0] >= 2:
        rng = np.random.default_rng([seed, index])
        layout = space_layout(space, seq.layout)
        out += [(f"{seq.seq_id}#aug{k + 1}", augment_joints(base, rng, cfg, layout)) for k in range(augment)]
    return out


# --- cache --------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """$POSENAS_CACHE/action_images, else ~/.cache/posenas/action_images."""
    base = os.environ.get("POSENAS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "posenas") / "action_images"


def _cache_key(dataset: SkeletonDataset, sequences: Sequence[SkeletonSequence], payload: dict) -> str:
    h = hashlib.sha1()
    h.update(json.dumps({"v": CACHE_VERSION, "name": dataset.name, "root": str(dataset.root), **payload},
                        sort_keys=True, default=str).encode())
    for s in sequences:
        h.update(s.seq_id.encode())
        h.update(np.ascontiguousarray(s.joints).tobytes())
    return h.hexdigest()


def _cached(path: Path | None, build):
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = build()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # parallel workers may build the same entry
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    return arrays


def _cache_path(cache_dir, use_cache: bool, dataset: SkeletonDataset, tag: str, key: str) -> Path | None:
    if not use_cache:
        return None
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return d / f"{dataset.name}-{tag}-{key[:20]}.npz"


# --- builders -----------------------------------------------------------------------------------
def build_action_images(dataset: SkeletonDataset, config: EncodingConfig, augment: int = 0, seed: int = 0,
                        sequences: Sequence[SkeletonSequence] | None = None,
                        label_map: dict[int, int] | None = None, classes: list[str] | None = None,
                        augment_config: AugmentConfig = AugmentConfig(), cache_dir: str | Path | None = None,
                        use_cache: bool = True, tag: str = "all", space: str = "canonical") -> ActionImages:
    """Encode sequences (default: the whole dataset) plus `augment` random copies of each.

    Give `label_map`/`classes` to label a protocol's part; without them the labels are the actions
    present, in ascending order. Augmented copies come right after their source sequence.
    """
    seqs = list(dataset.sequences if sequences is None else sequences)
    if label_map is None:
        label_map, classes = label_map_for(dataset, seqs)
    if classes is None:
        raise ValueError("classes must be given with label_map")
    for s in seqs:
        if _action_key(s) not in label_map:
            raise PosenasError(f"sequence {s.seq_id}: action {s.action} is not one of the protocol's classes")
    payload = {"config": config.to_dict(), "augment": augment, "seed": seed, "aug": asdict(augment_config),
               "labels": sorted(label_map.items()), "kind": "images", "space": space}
    path = _cache_path(cache_dir, use_cache, dataset, tag, _cache_key(dataset, seqs, payload))

    def build() -> dict[str, np.ndarray]:
        imgs, labels, ids, subj = [], [], [], []
        for i, s in enumerate(seqs):
            layout = space_layout(space, s.layout)  # the layout the joints have once in `space`
            for sid, joints in _copies(s, augment, seed, i, augment_config, space):
                imgs.append(encode_sequence(joints, seq_id=sid, config=config, layout=layout))
                labels.append(label_map[_action_key(s)])
                ids.append(sid)
                subj.append(-1 if s.subject is None else int(s.subject))
        empty = np.zeros((0, config.size, config.size, 3), np.uint8)
        return {"images": np.stack(imgs) if imgs else empty, "labels": np.asarray(labels, np.int64),
                "seq_ids": np.asarray(ids, dtype=str), "subjects": np.asarray(subj, np.int64)}

    a = _cached(path, build)
    return ActionImages(a["images"], a["labels"], [str(v) for v in a["seq_ids"]], a["subjects"], list(classes))


def protocol_split(dataset: SkeletonDataset, protocol: str, config: EncodingConfig, augment_train: int = 0,
                   val_fraction: float = 0.2, val_subjects: Sequence[int] | None = None, seed: int = 0,
                   augment_config: AugmentConfig = AugmentConfig(), cache_dir: str | Path | None = None,
                   use_cache: bool = True, space: str = "canonical", augment_test: int = 0
                   ) -> tuple[ActionImages, ActionImages | None, ActionImages]:
    """(train, val, test) action images of a protocol; val is None when val_fraction=0 and no val_subjects.

    The train part gets `augment_train` random copies; val and test are the plain sequences, unless
    `augment_test` > 0 adds that many random copies to val and test for test-time augmentation
    (`evaluate_classifier` averages a sequence's copies). Their random streams differ from the train part's.
    """
    parts = split_sequences(dataset, protocol, val_fraction, val_subjects, seed)

    def build(seqs, aug, part, aug_seed):
        return build_action_images(dataset, config, aug, aug_seed, seqs, parts.label_map, parts.classes,
                                   augment_config, cache_dir, use_cache, tag=f"{protocol}-{part}", space=space)

    train = build(parts.train, augment_train, "train", seed)
    val = build(parts.val, augment_test, "val", seed + 7919) if parts.val else None
    test = build(parts.test, augment_test, "test", seed + 104729)
    return train, val, test


def sequence_features(joints: np.ndarray, frames: int, seq_id: str = "<array>") -> np.ndarray:
    """(T, P, J, 3) -> (frames, P*J*3): centred on the sequence centroid and scaled to unit RMS radius."""
    x = np.asarray(joints, dtype=np.float64)
    if x.shape[0] < 2 or not np.isfinite(x).all():
        raise PosenasError(f"sequence {seq_id}: needs >= 2 finite frames, got {x.shape[0]} (or NaN values)")
    x = x - x.reshape(-1, 3).mean(axis=0)
    rms = np.sqrt((x**2).sum(-1).mean())
    x = x / (rms if rms > 1e-9 else 1.0)
    return resample_to_length(x, frames).reshape(frames, -1).astype(np.float32)


def protocol_split_sequences(dataset: SkeletonDataset, protocol: str, frames: int = 32, augment_train: int = 0,
                             val_fraction: float = 0.2, val_subjects: Sequence[int] | None = None, seed: int = 0,
                             augment_config: AugmentConfig = AugmentConfig(), space: str = "canonical"
                             ) -> tuple[ActionSequences, ActionSequences | None, ActionSequences]:
    """The same train/val/test parts as `protocol_split`, as fixed-length joint sequences (cheap, not cached)."""
    parts = split_sequences(dataset, protocol, val_fraction, val_subjects, seed)

    def build(seqs, aug):
        feats, labels, ids, subj = [], [], [], []
        for i, s in enumerate(seqs):
            for sid, joints in _copies(s, aug, seed, i, augment_config, space):
                feats.append(sequence_features(joints, frames, sid))
                labels.append(parts.label_map[_action_key(s)])
                ids.append(sid)
                subj.append(-1 if s.subject is None else int(s.subject))
        return ActionSequences(np.stack(feats), np.asarray(labels), ids, np.asarray(subj), list(parts.classes))

    return (build(parts.train, augment_train), build(parts.val, 0) if parts.val else None,
            build(parts.test, 0))
