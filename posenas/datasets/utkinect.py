"""UTKinect-Action3D (Xia, Chen & Aggarwal, CVPRW 2012): Kinect v1 skeletons cut into labelled action segments.

`joints/joints_sNN_eNN.txt` holds one continuous recording per row `frame x1 y1 z1 ... x20 y20 z20`
(Kinect SDK v1 joint order, metres); `actionLabel.txt` gives, per recording, the first and last frame
number of each of the 10 actions. Every segment becomes one `SkeletonSequence` holding the rows whose
frame number lies in [start, end].

Conventions (documented choices):

* fps is 30: frame numbers count the 30 fps RGB frames. Skeleton rows are sparser and irregular (one row
  every ~2-6 frame numbers), so each sequence keeps its `meta["frame_numbers"]`, and
  `meta["effective_fps"]` gives rows per second of the segment for anyone who resamples.
* Repeated frame numbers (as in the original files) are distinct, consecutive skeletons, not copies
  (checked: they differ by 1-13 cm). `duplicates="keep"` (default) keeps every row; `"first"` keeps the
  first row of each frame number. `meta["duplicate_frame_numbers"]` counts them either way.
* `confidence` is None: the files carry none (and hold no untracked all-zero rows).
* The NaN segment (s10_e02 carry) is reported as a dropped `Fault` and with `warnings.warn`: 199 segments.
* Protocols: "cross_subject" (odd subjects train, even test) and 20 leave-one-sequence-out splits
  "loso/sNN_eNN" (the test side is the 10 segments of that recording).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from posenas.datasets.msr_action3d import parse_numeric_table
from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split
from posenas.errors import DataFormatError, PosenasError, UnknownNameError

FPS = 30.0
NUM_JOINTS = 20
ACTIONS: tuple[str, ...] = (
    "walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull", "waveHands", "clapHands",
)
LABEL_FILES = {"original": "actionLabel.txt", "modified": "actionLabel_modified.txt"}

_FILE_RE = re.compile(r"^joints_s(\d\d)_e(\d\d)\.txt$")
_HEADER_RE = re.compile(r"^s(\d\d)_e(\d\d)$")


@dataclass(frozen=True)
class Segment:
    """One labelled action of a recording; start/end are NaN-free frame numbers (inclusive)."""

    recording: str  # "s01_e01"
    action: str
    start: int
    end: int
    line: int


def read_labels(path: str | Path) -> tuple[list[Segment], list[Fault]]:
    """Parse actionLabel(.txt|_modified.txt); NaN bounds become Faults, other errors raise."""
    p = Path(path)
    segments: list[Segment] = []
    faults: list[Fault] = []
    current: str | None = None
    seen: set[str] = set()
    for ln, raw in enumerate(p.read_text(errors="replace").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if _HEADER_RE.match(line):
            current, seen = line, set()
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep:
            raise DataFormatError(p, f"expected 'sNN_eNN' or 'action: start end', got {line!r}", line=ln)
        if current is None:
            raise DataFormatError(p, "action line before any 'sNN_eNN' header", line=ln)
        if name not in ACTIONS:
            raise DataFormatError(p, f"unknown action {name!r}; expected one of {', '.join(ACTIONS)}",
                                  line=ln, field="action")
        if name in seen:
            raise DataFormatError(p, f"action {name!r} appears twice for {current}", line=ln, field="action")
        seen.add(name)
        bounds = rest.split()
        if len(bounds) != 2:
            raise DataFormatError(p, f"expected 'start end', got {rest.strip()!r}", line=ln, field=name)
        try:
            start, end = (float(b) for b in bounds)
        except ValueError:
            raise DataFormatError(p, f"frame numbers {rest.strip()!r} are not numbers", line=ln,
                                  field=name) from None
        seq_id = f"{current}_{name}"
        if not (np.isfinite(start) and np.isfinite(end)):
            msg = f"{current} {name}: start/end frame is {rest.strip()!r}; segment left out"
            faults.append(Fault(str(p), msg, line=ln, seq_id=seq_id, dropped=True))
            continue
        if start != int(start) or end != int(end) or start > end:
            raise DataFormatError(p, f"bad frame range {rest.strip()!r} (integers, start <= end)", line=ln,
                                  field=name)
        segments.append(Segment(current, name, int(start), int(end), ln))
    if not segments and not faults:
        raise DataFormatError(p, "no action segments found (empty label file?)")
    return segments, faults


def read_joints(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One joints_sNN_eNN.txt -> frame numbers (N,) int and joints (N, 20, 3) metres, in file order."""
    p = Path(path)
    table = parse_numeric_table(p.read_bytes(), p, 1 + 3 * NUM_JOINTS)
    frames = table[:, 0]
    bad = np.nonzero((frames != np.round(frames)) | (frames < 0))[0]
    if bad.size:
        raise DataFormatError(p, f"frame number {frames[bad[0]]!r} is not a non-negative integer",
                              line=int(bad[0]) + 1, field="frame")
    frames = frames.astype(np.int64)
    back = np.nonzero(np.diff(frames) < 0)[0]
    if back.size:
        i = int(back[0]) + 1
        raise DataFormatError(p, f"frame number {frames[i]} after {frames[i - 1]}: frames must not go back",
                              line=i + 1, field="frame")
    return frames, table[:, 1:].reshape(-1, NUM_JOINTS, 3)


def _find_dirs(path: Path) -> tuple[Path, Path | None]:
    """(joints folder, file to load alone or None) for a dataset root, its joints/ folder or one file."""
    if path.is_file():
        return path.parent, path
    if (path / "joints").is_dir():
        return path / "joints", None
    return path, None


def utkinect_protocols(sequences: list[SkeletonSequence]) -> dict[str, Split]:
    """cross_subject (odd subjects train) and leave-one-sequence-out "loso/sNN_eNN" splits."""
    out = {
        "cross_subject": Split(
            "cross_subject",
            tuple(s.seq_id for s in sequences if s.subject % 2 == 1),
            tuple(s.seq_id for s in sequences if s.subject % 2 == 0),
        )
    }
    for rec in sorted({s.meta["recording"] for s in sequences}):
        name = f"loso/{rec}"
        out[name] = Split(
            name,
            tuple(s.seq_id for s in sequences if s.meta["recording"] != rec),
            tuple(s.seq_id for s in sequences if s.meta["recording"] == rec),
        )
    return out


@register_loader(
    "utkinect",
    detect=lambda p: _detect(p),
    description="UTKinect-Action3D skeletons (Kinect v1, metres) cut into 10 labelled actions per recording",
)
def load(
    path: Path,
    labels: Literal["original", "modified"] = "original",
    duplicates: Literal["keep", "first"] = "keep",
) -> SkeletonDataset:
    """Load UTKinect-Action3D from its root or joints/ folder (bad files -> Faults) or one joints file (raises).

    labels: "original" (actionLabel.txt) or "modified" (actionLabel_modified.txt, 7 corrected bounds).
    """
    path = Path(path)
    if not path.exists():
        raise PosenasError(f"{path}: no such file or directory")
    if labels not in LABEL_FILES:
        raise UnknownNameError("UTKinect label file", str(labels), list(LABEL_FILES))
    if duplicates not in ("keep", "first"):
        raise UnknownNameError("UTKinect duplicates policy", str(duplicates), ["keep", "first"])
    folder, single = _find_dirs(path)
    faults: list[Fault] = []

    if single is not None:
        m = _FILE_RE.match(single.name)
        if not m:
            raise DataFormatError(single, "not a UTKinect joints file name (joints_sNN_eNN.txt)")
        files = {f"s{m.group(1)}_e{m.group(2)}": single}
    else:
        files = {}
        for p in sorted(folder.iterdir()):
            if p.name.startswith(".") or not p.is_file() or p.name in LABEL_FILES.values():
                continue
            m = _FILE_RE.match(p.name)
            if not m:
                faults.append(Fault(str(p), "not a UTKinect joints file name (joints_sNN_eNN.txt)"))
                continue
            files[f"s{m.group(1)}_e{m.group(2)}"] = p
        if not files:
            raise DataFormatError(folder, "no UTKinect joints files (joints_sNN_eNN.txt) in this folder")

    label_path = folder / LABEL_FILES[labels]
    if not label_path.is_file():
        raise PosenasError(f"{label_path}: not found; UTKinect segments need the dataset's label file")
    segments, label_faults = read_labels(label_path)
    for f in label_faults:
        if f.seq_id.rsplit("_", 1)[0] in files:  # only recordings being loaded
            warnings.warn(f"{f.source}:{f.line}: {f.message}", stacklevel=2)
            faults.append(f)

    by_rec: dict[str, list[Segment]] = {}
    for seg in segments:
        by_rec.setdefault(seg.recording, []).append(seg)

    sequences: list[SkeletonSequence] = []
    for rec, p in sorted(files.items()):
        if rec not in by_rec:
            msg = f"{rec} has no segments in {label_path.name}"
            if single is not None:
                raise DataFormatError(label_path, msg)
            faults.append(Fault(str(p), msg, seq_id=rec))
            continue
        try:
            frames, joints = read_joints(p)
        except DataFormatError as e:
            if single is not None:
                raise
            faults.append(Fault.from_error(e, seq_id=rec))
            continue
        first = np.ones(len(frames), dtype=bool)
        first[1:] = frames[1:] != frames[:-1]
        repeated = frames[~first]  # frame numbers that occur more than once (one entry per extra row)
        if duplicates == "first":
            frames, joints = frames[first], joints[first]
        subject = int(rec[1:3])
        for seg in by_rec[rec]:
            seq_id = f"{rec}_{seg.action}"
            lo, hi = np.searchsorted(frames, [seg.start, seg.end + 1])
            if hi <= lo:
                faults.append(Fault(str(label_path), f"{rec} {seg.action}: no skeleton rows with frame "
                                                     f"numbers in [{seg.start}, {seg.end}]",
                                    line=seg.line, seq_id=seq_id))
                continue
            fn = frames[lo:hi]
            span = (fn[-1] - fn[0]) / FPS
            sequences.append(SkeletonSequence(
                joints=joints[lo:hi, None].copy(),  # segments may overlap: no shared views
                layout="kinect20",
                fps=FPS,
                seq_id=seq_id,
                subject=subject,
                action=ACTIONS.index(seg.action),
                action_name=seg.action,
                confidence=None,  # the files carry no tracking confidence
                meta={
                    "units": "m",
                    "source": str(p),
                    "recording": rec,
                    "execution": int(rec[5:7]),
                    "start_frame": seg.start,
                    "end_frame": seg.end,
                    "frame_numbers": fn.copy(),
                    "effective_fps": float((len(fn) - 1) / span) if span > 0 else None,
                    # extra rows sharing a frame number in the file (dropped when duplicates="first")
                    "duplicate_frame_numbers": int(((repeated >= seg.start) & (repeated <= seg.end)).sum()),
                },
            ))

    return SkeletonDataset(
        name="utkinect",
        root=folder.parent if folder.name == "joints" else folder,
        layout="kinect20",
        sequences=sequences,
        classes=list(ACTIONS),
        faults=faults,
        protocols=utkinect_protocols(sequences),
        meta={"labels": labels, "label_file": str(label_path), "duplicates": duplicates, "fps": FPS,
              "units": "m"},
    )


def _detect(p: Path) -> bool:
    if p.is_file():
        return bool(_FILE_RE.match(p.name))
    folder = p / "joints" if (p / "joints").is_dir() else p
    return (folder / LABEL_FILES["original"]).is_file() and any(folder.glob("joints_s*_e*.txt"))
