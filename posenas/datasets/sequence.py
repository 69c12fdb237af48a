"""The one sequence and dataset type every loader returns, so later stages never care about file formats."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posenas.errors import DataFormatError


@dataclass
class SkeletonSequence:
    """One skeleton sequence: joints are (T, persons, J, 2|3) float32; confidence is (T, persons, J) in [0, 1].

    Units are those of the source (metres for 3D where the source is metric, pixels for 2D); `meta`
    says which (key "units") and keeps anything format-specific (camera, source file, frame numbers).

    `group` is the unit the dataset's folds are made of, where that is not the subject: SBU folds are
    subject-pair folders ("s01s02") and one person acts in several folds, so a loader sets `group` to the
    pair. Validation is carved out of whole training groups (`fold_unit`), so it never shares a unit
    with the test split. None (MSR Action3D, UTKinect, NTU, ...) means the folds are made of subjects.
    """

    joints: np.ndarray
    layout: str
    fps: float
    seq_id: str
    subject: int | None = None
    action: int | None = None
    action_name: str | None = None
    confidence: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    group: str | int | None = None

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, dtype=np.float32)
        if self.joints.ndim != 4 or self.joints.shape[-1] not in (2, 3):
            raise ValueError(
                f"{self.seq_id}: joints must be (T, persons, J, 2|3), got shape {self.joints.shape}"
            )
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float32)
            if self.confidence.shape != self.joints.shape[:3]:
                raise ValueError(
                    f"{self.seq_id}: confidence shape {self.confidence.shape} != joints {self.joints.shape[:3]}"
                )

    @property
    def fold_unit(self) -> str | int | None:
        """What a protocol's folds are made of for this sequence: `group` if set, else the subject."""
        return self.subject if self.group is None else self.group

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def num_persons(self) -> int:
        return int(self.joints.shape[1])

    @property
    def num_joints(self) -> int:
        return int(self.joints.shape[2])

    @property
    def dims(self) -> int:
        return int(self.joints.shape[3])


@dataclass(frozen=True)
class Fault:
    """A problem found while loading, reported instead of crashing or silently skipping."""

    source: str
    message: str
    line: int | None = None
    seq_id: str | None = None
    dropped: bool = True  # True when the sequence/segment was left out of the dataset

    @classmethod
    def from_error(cls, error: DataFormatError, seq_id: str | None = None, dropped: bool = True) -> Fault:
        """The fault a malformed file becomes when a folder is loaded (one bad file never stops the rest)."""
        message = error.reason if error.field is None else f"[{error.field}] {error.reason}"
        return cls(error.path, message, line=error.line, seq_id=seq_id, dropped=dropped)

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        what = "dropped" if self.dropped else "kept"
        return f"{where}: {self.message} ({what})"


@dataclass(frozen=True)
class Split:
    """Sequence ids of a protocol's train and test parts."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        overlap = set(self.train) & set(self.test)
        if overlap:
            raise ValueError(f"split {self.name}: {len(overlap)} sequences in both train and test")


@dataclass
class SkeletonDataset:
    """A loaded dataset: its sequences, class names, standard protocols and the faults met on the way."""

    name: str
    root: Path
    layout: str
    sequences: list[SkeletonSequence]
    classes: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    protocols: dict[str, Split] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences)

    def by_id(self) -> dict[str, SkeletonSequence]:
        return {s.seq_id: s for s in self.sequences}

    def split(self, protocol: str) -> tuple[list[SkeletonSequence], list[SkeletonSequence]]:
        """Train and test sequences of a named protocol, in dataset order."""
        from posenas.errors import UnknownNameError

        if protocol not in self.protocols:
            raise UnknownNameError(f"protocol of {self.name}", protocol, list(self.protocols))
        sp = self.protocols[protocol]
        train, test = set(sp.train), set(sp.test)
        return (
            [s for s in self.sequences if s.seq_id in train],
            [s for s in self.sequences if s.seq_id in test],
        )

    def summary(self) -> dict[str, Any]:
        """Counts a user wants to see first: sequences, frames, subjects, classes, faults."""
        subjects = sorted({s.subject for s in self.sequences if s.subject is not None})
        per_class = Counter(s.action_name for s in self.sequences if s.action_name is not None)
        return {
            "dataset": self.name,
            "root": str(self.root),
            "layout": self.layout,
            "sequences": len(self.sequences),
            "frames": int(sum(s.num_frames for s in self.sequences)),
            "persons_max": max((s.num_persons for s in self.sequences), default=0),
            "dims": sorted({s.dims for s in self.sequences}),
            "subjects": subjects,
            "classes": len(self.classes),
            "per_class": dict(per_class),
            "protocols": {k: (len(v.train), len(v.test)) for k, v in self.protocols.items()},
            "faults": [str(f) for f in self.faults],
        }
