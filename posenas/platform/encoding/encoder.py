"""The pipeline's encoder stage: 3D pose clips -> action images, in the pose space the classifier learned in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from posenas.errors import PosenasError
from posenas.platform.encoding.pose_space import POSE_SPACES, space_layout, to_pose_space
from posenas.platform.encoding.spmf import EncodingConfig, encode_sequence

MIN_FRAMES = 1  # a photo is one frame: it is encoded as a still clip (see `encode`)


@dataclass
class ActionEncoder:
    """Turns each person's 3D track into one action image (`space` and `config` come from the classifier)."""

    config: EncodingConfig = field(default_factory=EncodingConfig)
    space: str = "canonical"

    def __post_init__(self) -> None:
        if self.space not in POSE_SPACES:
            raise PosenasError(f"unknown pose space {self.space!r}; available: {', '.join(POSE_SPACES)}")

    @classmethod
    def from_records(cls, encoding: dict[str, Any], space: dict[str, Any]) -> "ActionEncoder":
        """The encoder a classifier checkpoint asks for (its `encoding` and `space` records)."""
        return cls(EncodingConfig.from_dict(dict(encoding)), str(space.get("name", "native")))

    def person_joints(self, poses: np.ndarray, layout: str = "h36m17", left_handed: bool = False) -> list[np.ndarray | None]:
        """(T, P, J, 3) -> per person its frames with finite joints, in the encoder's space (None: too few)."""
        x = np.asarray(poses, dtype=np.float32)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise PosenasError(f"poses: expected (frames, persons, joints, 3), got shape {x.shape}")
        out: list[np.ndarray | None] = []
        for p in range(x.shape[1]):
            track = x[:, p : p + 1]
            ok = np.isfinite(track).all(axis=(1, 2, 3))
            if ok.sum() < MIN_FRAMES:
                out.append(None)
                continue
            out.append(to_pose_space(track[ok], layout, self.space, left_handed))
        return out

    def encode(self, joints: np.ndarray, clip_id: str = "<clip>", layout: str = "h36m17") -> np.ndarray:
        """One person's (T, 1, J, 3) joints in the encoder's space -> uint8 (size, size, 3) image.

        `layout` is the layout the poses came in (as given to `person_joints`); the encoder's space may
        change it (the canonical spaces are h36m17), and pair orders other than "index" need it.

        A single frame (a photo) is repeated once, i.e. encoded as a person standing still in that pose:
        the motion rows are then all zero, which is what a still clip would give.
        """
        x = np.asarray(joints)
        if len(x) == 1:
            x = np.concatenate([x, x])
        return encode_sequence(x, seq_id=clip_id, config=self.config, layout=space_layout(self.space, layout))
