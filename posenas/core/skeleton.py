"""Named joint layouts (names, parents, left/right pairs) and their conversion to `h36m17`.

Every conversion is a fixed linear map `W` (17 x J): `h36m = W @ joints`. Joints a layout does not
have are approximated from neighbours; the `approximations` of each layout say how, so a user can
judge what a converted skeleton means. Mirrored left/right weights keep symmetric skeletons
symmetric after conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from posenas.core.registry import Registry
from posenas.errors import UnknownNameError


# Body parts for grouping joints (`Layout.body_parts`): the trunk with the head, then the four limbs.
BODY_PARTS = ("trunk", "left_arm", "right_arm", "left_leg", "right_leg")


@dataclass(frozen=True)
class Layout:
    """A skeleton layout: joint names in file order and each joint's parent (-1 for the root)."""

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    description: str = ""
    # h36m17 joint name -> {source joint name: weight}; empty for h36m17 itself.
    to_h36m: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)
    approximations: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(f"layout {self.name}: {len(self.joints)} joints but {len(self.parents)} parents")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"layout {self.name}: duplicate joint names")
        roots = [i for i, p in enumerate(self.parents) if p < 0]
        if len(roots) != 1:
            raise ValueError(f"layout {self.name}: expected one root, found {len(roots)}")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        try:
            return self.joints.index(name)
        except ValueError:
            raise UnknownNameError(f"joint of layout {self.name}", name, list(self.joints)) from None

    @cached_property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs."""
        return tuple((i, p) for i, p in enumerate(self.parents) if p >= 0)

    @cached_property
    def lr_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left, right) joint index pairs, matched by name ("left_x" with "right_x")."""
        pairs = []
        for i, n in enumerate(self.joints):
            if n.startswith("left_"):
                r = "right_" + n[len("left_"):]
                if r in self.joints:
                    pairs.append((i, self.joints.index(r)))
        return tuple(pairs)

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """Joint order after a left/right mirror (for flip augmentation)."""
        perm = np.arange(self.num_joints)
        for left, right in self.lr_pairs:
            perm[left], perm[right] = right, left
        return perm

    @cached_property
    def chain_order(self) -> tuple[int, ...]:
        """Joints in depth-first order from the root (children in index order), so every limb is a run."""
        children: dict[int, list[int]] = {i: [] for i in range(self.num_joints)}
        for child, parent in self.bones:
            children[parent].append(child)
        order, stack = [], [self.parents.index(-1)]
        while stack:
            j = stack.pop()
            order.append(j)
            stack.extend(reversed(children[j]))
        return tuple(order)

    @cached_property
    def tree_walk(self) -> tuple[int, ...]:
        """Depth-first walk of the kinematic tree that comes back along every bone (2J - 1 joints).

        Every two consecutive entries are a bone, so a row-per-joint image in this order has only
        physically connected joints as neighbouring rows (the tree traversal of Liu et al., ECCV 2016).
        """
        children: dict[int, list[int]] = {i: [] for i in range(self.num_joints)}
        for child, parent in self.bones:
            children[parent].append(child)

        def walk(j: int) -> list[int]:
            out = [j]
            for c in children[j]:
                out += walk(c) + [j]
            return out

        return tuple(walk(self.parents.index(-1)))

    @cached_property
    def body_parts(self) -> tuple[int, ...]:
        """Each joint's body part (`BODY_PARTS` index): the nearest shoulder or hip above it sets its limb."""
        parts = []
        for j in range(self.num_joints):
            part, k = 0, j
            while k >= 0:
                name = self.joints[k]
                side = "left" if name.startswith("left_") else "right" if name.startswith("right_") else None
                limb = name.split("_", 1)[-1]
                if side is not None and limb in ("shoulder", "hip"):
                    part = BODY_PARTS.index(f"{side}_{'arm' if limb == 'shoulder' else 'leg'}")
                    break
                k = self.parents[k]
            parts.append(part)
        return tuple(parts)

    @cached_property
    def h36m_matrix(self) -> np.ndarray:
        """(17, J) conversion weights to h36m17."""
        if self.name == "h36m17":
            eye = np.eye(17, dtype=np.float32)
            eye.flags.writeable = False
            return eye
        if not self.to_h36m:
            raise ValueError(f"layout {self.name} has no conversion to h36m17")
        w = np.zeros((17, self.num_joints), dtype=np.float32)
        for row, target in enumerate(H36M17_JOINTS):
            recipe = self.to_h36m[target]
            for src, weight in recipe.items():
                w[row, self.index(src)] = weight
            if not np.isclose(w[row].sum(), 1.0):
                raise ValueError(f"layout {self.name}: weights for {target} sum to {w[row].sum()}")
        w.flags.writeable = False  # cached and shared: nobody may change it by accident
        return w

    def bone_lengths(self, joints: np.ndarray) -> np.ndarray:
        """Bone lengths (..., num_bones) of joints (..., J, D), in `bones` order."""
        child = np.array([c for c, _ in self.bones])
        parent = np.array([p for _, p in self.bones])
        return np.linalg.norm(joints[..., child, :] - joints[..., parent, :], axis=-1)

    def with_clip_mean_bones(self, joints: np.ndarray) -> np.ndarray:
        """Joints (T, J, D) rebuilt from the root out with every bone at its clip-mean length, directions kept.

        A sensor that infers joints per frame lets a forearm stretch and shrink by centimetres; the person's
        bones do not. The root keeps its track; a joint on top of its parent (no direction) stays there.
        """
        x = np.asarray(joints, dtype=np.float64)
        if x.ndim != 3 or x.shape[1] != self.num_joints:
            raise ValueError(f"layout {self.name}: expected (T, {self.num_joints}, D) joints, got shape {x.shape}")
        out = x.copy()
        for j in self.chain_order:  # parents before children
            p = self.parents[j]
            if p < 0:
                continue
            bone = x[:, j] - x[:, p]
            length = np.linalg.norm(bone, axis=-1, keepdims=True)
            unit = np.divide(bone, length, out=np.zeros_like(bone), where=length > 1e-9)
            out[:, j] = out[:, p] + unit * np.nanmean(length)
        return out


def convert_to_h36m(joints: np.ndarray, layout: str | Layout) -> np.ndarray:
    """Map joints (..., J, D) of any registered layout to h36m17 (..., 17, D)."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    if joints.shape[-2] != lay.num_joints:
        raise ValueError(f"layout {lay.name} has {lay.num_joints} joints, array has {joints.shape[-2]}")
    return np.einsum("kj,...jd->...kd", lay.h36m_matrix, joints).astype(joints.dtype, copy=False)


def convert_confidence_to_h36m(conf: np.ndarray, layout: str | Layout) -> np.ndarray:
    """Confidence (..., J) -> (..., 17): a derived joint is only as sure as its least sure source."""
    lay = get_layout(layout) if isinstance(layout, str) else layout
    w = lay.h36m_matrix
    out = np.empty(conf.shape[:-1] + (17,), dtype=np.float32)
    for k in range(17):
        src = np.nonzero(w[k])[0]
        out[..., k] = conf[..., src].min(axis=-1)
    return out


# Every built-in layout is defined in this module, so lookups never depend on what was imported before.
_LAYOUTS: Registry[Layout] = Registry("skeleton layout")


def register_layout(layout: Layout) -> Layout:
    """Add a layout (e.g. one built from a BVH hierarchy) so it can be looked up by name."""
    return _LAYOUTS.register(layout.name, layout)


def get_layout(name: str) -> Layout:
    return _LAYOUTS.get(name)


def available_layouts() -> list[str]:
    return _LAYOUTS.names()


def _tree(pairs: list[tuple[str, str | None]]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    names = tuple(n for n, _ in pairs)
    return names, tuple(-1 if p is None else names.index(p) for _, p in pairs)


def _mid(*names: str) -> dict[str, float]:
    return {n: 1.0 / len(names) for n in names}


# --- h36m17: VideoPose3D order, the canonical layout for lifting -----------------------------
H36M17_JOINTS = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
H36M17_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

register_layout(Layout("h36m17", H36M17_JOINTS, H36M17_PARENTS, "Human3.6M 17 joints, VideoPose3D order"))


def _limbs(mapping: dict[str, str]) -> dict[str, dict[str, float]]:
    """Identity recipes for limb joints: h36m name -> source name."""
    return {k: {v: 1.0} for k, v in mapping.items()}


_LIMBS_SAME = {n: n for n in (
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)}

# Image keypoint layouts (COCO, MediaPipe) share one recipe: no pelvis/spine/thorax joints of their own.
_RGB_TO_H36M = {
    **_limbs(_LIMBS_SAME),
    "pelvis": _mid("left_hip", "right_hip"),
    "thorax": _mid("left_shoulder", "right_shoulder"),
    "spine": {"left_hip": 0.25, "right_hip": 0.25, "left_shoulder": 0.25, "right_shoulder": 0.25},
    "neck_nose": {"nose": 1.0},
    "head": _mid("left_ear", "right_ear"),
}
_RGB_APPROX = (
    "pelvis = mid-hips; thorax = mid-shoulders; spine = midpoint of pelvis and thorax",
    "neck_nose = nose; head = mid-ears (head centre, not the H36M head top)",
)

# --- coco17 -----------------------------------------------------------------------------------
_names, _parents = _tree([
    ("nose", None), ("left_eye", "nose"), ("right_eye", "nose"), ("left_ear", "left_eye"),
    ("right_ear", "right_eye"), ("left_shoulder", "nose"), ("right_shoulder", "nose"),
    ("left_elbow", "left_shoulder"), ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"),
    ("right_wrist", "right_elbow"), ("left_hip", "left_shoulder"), ("right_hip", "right_shoulder"),
    ("left_knee", "left_hip"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
    ("right_ankle", "right_knee"),
])
register_layout(Layout(
    "coco17", _names, _parents, "COCO keypoints (17)",
    to_h36m=_RGB_TO_H36M, approximations=_RGB_APPROX,
))

# --- mediapipe33 ------------------------------------------------------------------------------
_names, _parents = _tree([
    ("nose", None), ("left_eye_inner", "nose"), ("left_eye", "left_eye_inner"),
    ("left_eye_outer", "left_eye"), ("right_eye_inner", "nose"), ("right_eye", "right_eye_inner"),
    ("right_eye_outer", "right_eye"), ("left_ear", "left_eye_outer"), ("right_ear", "right_eye_outer"),
    ("left_mouth", "nose"), ("right_mouth", "nose"), ("left_shoulder", "nose"),
    ("right_shoulder", "nose"), ("left_elbow", "left_shoulder"), ("right_elbow", "right_shoulder"),
    ("left_wrist", "left_elbow"), ("right_wrist", "right_elbow"), ("left_pinky", "left_wrist"),
    ("right_pinky", "right_wrist"), ("left_index", "left_wrist"), ("right_index", "right_wrist"),
    ("left_thumb", "left_wrist"), ("right_thumb", "right_wrist"), ("left_hip", "left_shoulder"),
    ("right_hip", "right_shoulder"), ("left_knee", "left_hip"), ("right_knee", "right_hip"),
    ("left_ankle", "left_knee"), ("right_ankle", "right_knee"), ("left_heel", "left_ankle"),
    ("right_heel", "right_ankle"), ("left_foot_index", "left_ankle"), ("right_foot_index", "right_ankle"),
])
register_layout(Layout(
    "mediapipe33", _names, _parents, "MediaPipe Pose / BlazePose landmarks (33)",
    to_h36m=_RGB_TO_H36M, approximations=_RGB_APPROX,
))

# --- msr20: MSR Action3D file order (not the Kinect SDK order) --------------------------------
_names, _parents = _tree([
    ("right_shoulder", "neck"), ("left_shoulder", "neck"), ("neck", "spine"), ("spine", "hip_center"),
    ("right_hip", "hip_center"), ("left_hip", "hip_center"), ("hip_center", None),
    ("right_elbow", "right_shoulder"), ("left_elbow", "left_shoulder"), ("right_wrist", "right_elbow"),
    ("left_wrist", "left_elbow"), ("right_hand", "right_wrist"), ("left_hand", "left_wrist"),
    ("right_knee", "right_hip"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
    ("left_ankle", "left_knee"), ("right_foot", "right_ankle"), ("left_foot", "left_ankle"),
    ("head", "neck"),
])
_KINECT_TO_H36M = {
    **_limbs(_LIMBS_SAME),
    "pelvis": {"hip_center": 1.0},
    "spine": {"spine": 1.0},
    "thorax": {"neck": 1.0},
    "neck_nose": _mid("neck", "head"),
    "head": {"head": 1.0},
}
_KINECT_APPROX = (
    "pelvis = Kinect hip centre; spine = Kinect spine; thorax = shoulder centre",
    "neck_nose = midpoint of shoulder centre and head; head = Kinect head (head centre)",
    "hands and feet are dropped",
)
register_layout(Layout(
    "msr20", _names, _parents, "MSR Action3D skeleton files (20 joints, file order)",
    to_h36m=_KINECT_TO_H36M, approximations=_KINECT_APPROX,
))

# --- kinect20: Kinect SDK v1 order (UTKinect) -------------------------------------------------
_names, _parents = _tree([
    ("hip_center", None), ("spine", "hip_center"), ("neck", "spine"), ("head", "neck"),
    ("left_shoulder", "neck"), ("left_elbow", "left_shoulder"), ("left_wrist", "left_elbow"),
    ("left_hand", "left_wrist"), ("right_shoulder", "neck"), ("right_elbow", "right_shoulder"),
    ("right_wrist", "right_elbow"), ("right_hand", "right_wrist"), ("left_hip", "hip_center"),
    ("left_knee", "left_hip"), ("left_ankle", "left_knee"), ("left_foot", "left_ankle"),
    ("right_hip", "hip_center"), ("right_knee", "right_hip"), ("right_ankle", "right_knee"),
    ("right_foot", "right_ankle"),
])
register_layout(Layout(
    "kinect20", _names, _parents, "Kinect SDK v1 (20 joints; UTKinect-Action3D); 'neck' is the shoulder centre",
    to_h36m=_KINECT_TO_H36M, approximations=_KINECT_APPROX,
))

# --- ntu25: Kinect v2 (NTU RGB+D) -------------------------------------------------------------
_names, _parents = _tree([
    ("spine_base", None), ("spine_mid", "spine_base"), ("neck", "spine_shoulder"), ("head", "neck"),
    ("left_shoulder", "spine_shoulder"), ("left_elbow", "left_shoulder"), ("left_wrist", "left_elbow"),
    ("left_hand", "left_wrist"), ("right_shoulder", "spine_shoulder"), ("right_elbow", "right_shoulder"),
    ("right_wrist", "right_elbow"), ("right_hand", "right_wrist"), ("left_hip", "spine_base"),
    ("left_knee", "left_hip"), ("left_ankle", "left_knee"), ("left_foot", "left_ankle"),
    ("right_hip", "spine_base"), ("right_knee", "right_hip"), ("right_ankle", "right_knee"),
    ("right_foot", "right_ankle"), ("spine_shoulder", "spine_mid"), ("left_hand_tip", "left_hand"),
    ("left_thumb", "left_wrist"), ("right_hand_tip", "right_hand"), ("right_thumb", "right_wrist"),
])
register_layout(Layout(
    "ntu25", _names, _parents, "Kinect v2 (25 joints; NTU RGB+D)",
    to_h36m={
        **_limbs(_LIMBS_SAME),
        "pelvis": {"spine_base": 1.0},
        "spine": {"spine_mid": 1.0},
        "thorax": {"spine_shoulder": 1.0},
        "neck_nose": _mid("neck", "head"),
        "head": {"head": 1.0},
    },
    approximations=(
        "pelvis = spine base; spine = spine mid; thorax = spine shoulder",
        "neck_nose = midpoint of neck and head; head = Kinect head (head centre)",
    ),
))

# --- sbu15: SBU Kinect Interaction ------------------------------------------------------------
_names, _parents = _tree([
    ("head", "neck"), ("neck", "torso"), ("torso", None), ("left_shoulder", "neck"),
    ("left_elbow", "left_shoulder"), ("left_hand", "left_elbow"), ("right_shoulder", "neck"),
    ("right_elbow", "right_shoulder"), ("right_hand", "right_elbow"), ("left_hip", "torso"),
    ("left_knee", "left_hip"), ("left_foot", "left_knee"), ("right_hip", "torso"),
    ("right_knee", "right_hip"), ("right_foot", "right_knee"),
])
register_layout(Layout(
    "sbu15", _names, _parents, "SBU Kinect Interaction (15 joints, OpenNI)",
    to_h36m={
        **_limbs({k: v for k, v in _LIMBS_SAME.items() if "ankle" not in k and "wrist" not in k}),
        "left_ankle": {"left_foot": 1.0},
        "right_ankle": {"right_foot": 1.0},
        "left_wrist": {"left_hand": 1.0},
        "right_wrist": {"right_hand": 1.0},
        "pelvis": _mid("left_hip", "right_hip"),
        "spine": {"torso": 1.0},
        "thorax": {"neck": 1.0},
        "neck_nose": _mid("neck", "head"),
        "head": {"head": 1.0},
    },
    approximations=(
        "pelvis = mid-hips; spine = torso; thorax = neck",
        "ankles = OpenNI feet; wrists = OpenNI hands (OpenNI has no separate wrist/ankle)",
        "neck_nose = midpoint of neck and head",
    ),
))

del _names, _parents


# --- OpenPose BODY_25 layout ------------------------------------------------------------------
OPENPOSE25_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
_OPENPOSE25_PARENT = {
    "nose": "neck", "neck": "mid_hip", "right_shoulder": "neck", "right_elbow": "right_shoulder",
    "right_wrist": "right_elbow", "left_shoulder": "neck", "left_elbow": "left_shoulder",
    "left_wrist": "left_elbow", "mid_hip": None, "right_hip": "mid_hip", "right_knee": "right_hip",
    "right_ankle": "right_knee", "left_hip": "mid_hip", "left_knee": "left_hip", "left_ankle": "left_knee",
    "right_eye": "nose", "left_eye": "nose", "right_ear": "right_eye", "left_ear": "left_eye",
    "left_big_toe": "left_ankle", "left_small_toe": "left_big_toe", "left_heel": "left_ankle",
    "right_big_toe": "right_ankle", "right_small_toe": "right_big_toe", "right_heel": "right_ankle",
}
_LIMBS = (
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
register_layout(Layout(
    "openpose25",
    OPENPOSE25_JOINTS,
    tuple(-1 if _OPENPOSE25_PARENT[n] is None else OPENPOSE25_JOINTS.index(_OPENPOSE25_PARENT[n])
          for n in OPENPOSE25_JOINTS),
    "OpenPose BODY_25 (25 joints)",
    to_h36m={
        **{n: {n: 1.0} for n in _LIMBS},
        "pelvis": {"mid_hip": 1.0},
        "thorax": {"neck": 1.0},
        "spine": {"mid_hip": 0.5, "neck": 0.5},
        "neck_nose": {"nose": 1.0},
        "head": {"left_ear": 0.5, "right_ear": 0.5},
    },
    approximations=(
        "pelvis = MidHip; thorax = Neck (mid-shoulders); spine = midpoint of MidHip and Neck",
        "neck_nose = nose; head = mid-ears (head centre, not the H36M head top)",
    ),
))

# The layouts this module defines (loaders add their own, e.g. CMU mocap skeletons, on import).
BUILTIN_LAYOUTS: tuple[str, ...] = tuple(available_layouts())
