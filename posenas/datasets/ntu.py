"""NTU RGB+D 60/120 (Shahroudy et al. 2016; Liu et al. 2019) Kinect v2 `.skeleton` files.

File format (text, one value group per line)::

    <frames>
    per frame:  <bodies>
      per body: <bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                 handRightState isRestricted leanX leanY trackingState>     (10 values)
                <joints = 25>
                25 x <x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState>

File names are ``SsssCcccPpppRrrrAaaa.skeleton`` (setup, camera, performer, replication, action).

Conventions (documented choices):

* joints are camera-space x, y, z in metres (layout "ntu25"), fps 30; ``action`` is 0-based (A001 -> 0).
* Body selection: the Kinect sometimes reports extra bodies (noise, passers-by). Bodies are tracked
  by `bodyID`; the `max_bodies` (default 2) bodies with the most motion (sum over joints of the
  x/y/z variance across the frames where the body is present) are kept, most motion first in slot 0.
  The number of persons is that of the bodies kept (1 or 2 for a normal file).
* A frame where a kept body is absent has zero coordinates and confidence 0 (as the Kinect writes
  an untracked skeleton).
* Joint trackingState -> confidence: 2 (tracked) = 1, 1 (inferred) = 0.5, 0 (not tracked) = 0.
* A file with zero frames, or no body in any frame, becomes a dropped `Fault` (these are the files
  of the official "missing skeletons" list). A malformed line raises `DataFormatError` with the line
  for `read_ntu_skeleton`; loading a folder turns it into a dropped Fault unless ``strict=True``.
* Protocols: ``xsub`` / ``xview`` (NTU-60: the 20 training subjects; cameras 2, 3 train) and
  ``xsub120`` / ``xset120`` (NTU-120: 53 training subjects; even setups train).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split
from posenas.errors import DataFormatError, PosenasError

FPS = 30.0
NUM_JOINTS = 25
XSUB_TRAIN_SUBJECTS = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})
XSUB120_TRAIN_SUBJECTS = XSUB_TRAIN_SUBJECTS | frozenset({
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91,
    92, 93, 94, 95, 97, 98, 100, 103,
})
_NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
_TRACKING_CONF = np.array([0.0, 0.5, 1.0], dtype=np.float32)

ACTION_NAMES: tuple[str, ...] = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing",
    "tear up paper", "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses",
    "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving",
    "kicking something", "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person", "kicking other person", "pushing other person",
    "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # NTU RGB+D 120 additions (A061..A120)
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag",
    "take off bag", "put something into a bag", "take something out of a bag", "open a box",
    "move heavy objects", "shake fist", "throw up cap/hat", "hands up (both hands)", "cross arms",
    "arm circles", "arm swings", "running on the spot", "butt kicks (kick backward)", "cross toe touch",
    "side kick", "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five",
    "cheers and drink", "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person's ear", "exchange things with other person",
    "support somebody with hand", "finger-guessing game (playing rock-paper-scissors)",
)
assert len(ACTION_NAMES) == 120


@dataclass(frozen=True)
class NtuName:
    setup: int
    camera: int
    subject: int
    replication: int
    action: int  # 1-based, as in the file name


def parse_name(name: str) -> NtuName:
    """Fields of an `SsssCcccPpppRrrrAaaa` file stem."""
    m = _NAME_RE.match(Path(name).name.removesuffix(".skeleton"))
    if not m:
        raise DataFormatError(name, "file name must be SsssCcccPpppRrrrAaaa.skeleton")
    return NtuName(*(int(g) for g in m.groups()))


@dataclass
class RawBodies:
    """Everything one `.skeleton` file holds, per body ID: frames present, xyz (n, 25, 3), tracking (n, 25)."""

    num_frames: int
    bodies: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


class _Walker:
    """Walks the header lines (counts, body info) of a `.skeleton` file, keeping real line numbers."""

    def __init__(self, path: Path):
        self.path = path
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        self.entries = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
        self.k = 0
        self.last = len(lines)

    def lineno(self) -> int:
        return self.entries[self.k - 1][0] if self.k else 1

    def next(self, what: str) -> str:
        if self.k >= len(self.entries):
            raise DataFormatError(self.path, f"file ends where {what} was expected", line=self.last + 1)
        self.k += 1
        return self.entries[self.k - 1][1]

    def int(self, what: str) -> int:
        parts = self.next(what).split()
        if len(parts) != 1 or not parts[0].isdigit():
            raise DataFormatError(self.path, f"expected {what} (one non-negative integer), got {' '.join(parts)!r}",
                                  line=self.lineno())
        return int(parts[0])

    def skip(self, n: int, what: str) -> int:
        """Skip `n` lines (joint lines, parsed later in one go); returns the entry index of the first."""
        if self.k + n > len(self.entries):
            self.k = len(self.entries)
            self.next(what)
        self.k += n
        return self.k - n


def _parse_joint_lines(path: Path, lines: list[tuple[int, str]]) -> np.ndarray:
    """(n, 12) float64 from joint lines; one C-level parse, per-line checks only to locate an error."""
    try:
        vals = np.loadtxt([line for _, line in lines], dtype=np.float64, ndmin=2)
        if vals.shape == (len(lines), 12):
            return vals
    except ValueError:
        pass
    for n, line in lines:
        parts = line.split()
        if len(parts) != 12:
            raise DataFormatError(path, f"joint line must have 12 values, got {len(parts)}", line=n)
        if not all(_is_num(p) for p in parts):
            raise DataFormatError(path, "joint line has a value that is not a number", line=n)
    raise DataFormatError(path, "joint lines could not be parsed")  # unreachable for well-formed counts


def read_ntu_skeleton(path: str | Path) -> RawBodies:
    """Parse a `.skeleton` file; a malformed line raises DataFormatError naming file and line."""
    path = Path(path)
    r = _Walker(path)
    num_frames = r.int("the frame count")
    owner: list[tuple[str, int, int]] = []  # (body id, frame, first joint entry)
    for t in range(num_frames):
        for _ in range(r.int(f"the body count of frame {t + 1}")):
            info = r.next("a body info line").split()
            if len(info) != 10:
                raise DataFormatError(path, f"body info line must have 10 values, got {len(info)}", line=r.lineno())
            n = r.int("the joint count")
            if n != NUM_JOINTS:
                raise DataFormatError(path, f"expected {NUM_JOINTS} joints, got {n}", line=r.lineno())
            owner.append((info[0], t, r.skip(NUM_JOINTS, "a joint line")))
    joint_lines = [r.entries[k] for _, _, first in owner for k in range(first, first + NUM_JOINTS)]
    vals = _parse_joint_lines(path, joint_lines).reshape(-1, NUM_JOINTS, 12) if owner else np.zeros((0, 25, 12))
    ids = np.array([bid for bid, _, _ in owner], dtype=object)
    frames = np.array([t for _, t, _ in owner], dtype=np.int64)
    bodies = {}
    for bid in dict.fromkeys(ids.tolist()):
        sel = ids == bid
        arr = vals[sel]
        state = arr[:, :, 11].astype(np.int64)
        if not np.isin(arr[:, :, 11], (0, 1, 2)).all():
            raise DataFormatError(path, f"body {bid}: trackingState must be 0, 1 or 2", field="trackingState")
        bodies[bid] = (frames[sel], arr[:, :, :3].astype(np.float32), state)
    return RawBodies(num_frames, bodies)


def _is_num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def select_bodies(raw: RawBodies, max_bodies: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Keep the `max_bodies` bodies with the most motion: joints (T, P, 25, 3), confidence (T, P, 25), ids."""
    motion = {bid: float(xyz.var(axis=0).sum()) if len(frames) > 1 else 0.0
              for bid, (frames, xyz, _) in raw.bodies.items()}
    keep = sorted(motion, key=lambda b: -motion[b])[:max_bodies]
    joints = np.zeros((raw.num_frames, len(keep), NUM_JOINTS, 3), dtype=np.float32)
    conf = np.zeros((raw.num_frames, len(keep), NUM_JOINTS), dtype=np.float32)
    for slot, bid in enumerate(keep):
        frames, xyz, state = raw.bodies[bid]
        joints[frames, slot] = xyz
        conf[frames, slot] = _TRACKING_CONF[state]
    return joints, conf, keep


def load_sequence(path: str | Path, max_bodies: int = 2) -> SkeletonSequence:
    """One `.skeleton` file as a SkeletonSequence; raises DataFormatError if it holds no skeleton."""
    path = Path(path)
    name = parse_name(path.name)
    raw = read_ntu_skeleton(path)
    if raw.num_frames == 0 or not raw.bodies:
        raise DataFormatError(path, "no skeleton (zero frames or no body in any frame; such files are why NTU "
                                    "publishes a missing-skeletons list)")
    joints, conf, ids = select_bodies(raw, max_bodies)
    return SkeletonSequence(
        joints=joints, layout="ntu25", fps=FPS, seq_id=path.name.removesuffix(".skeleton"), subject=name.subject,
        action=name.action - 1,
        action_name=ACTION_NAMES[name.action - 1] if name.action <= len(ACTION_NAMES) else None,
        confidence=conf,
        meta={"units": "m", "setup": name.setup, "camera": name.camera, "replication": name.replication,
              "body_ids": ids, "bodies_in_file": len(raw.bodies), "source": str(path)},
    )


def protocols(sequences: list[SkeletonSequence]) -> dict[str, Split]:
    """xsub/xview (NTU-60) and xsub120/xset120 (NTU-120) splits of the given sequences."""
    rules = {
        "xsub": lambda s: s.subject in XSUB_TRAIN_SUBJECTS,
        "xview": lambda s: s.meta["camera"] in XVIEW_TRAIN_CAMERAS,
        "xsub120": lambda s: s.subject in XSUB120_TRAIN_SUBJECTS,
        "xset120": lambda s: s.meta["setup"] % 2 == 0,
    }
    out = {}
    for name, is_train in rules.items():
        train = tuple(s.seq_id for s in sequences if is_train(s))
        test = tuple(s.seq_id for s in sequences if not is_train(s))
        out[name] = Split(name, train, test)
    return out


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.rglob("*.skeleton"))


def _detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".skeleton"
    return path.is_dir() and (next(path.glob("*.skeleton"), None) or next(path.glob("*/*.skeleton"), None)) is not None


@register_loader("ntu", detect=_detect, description="NTU RGB+D 60/120 .skeleton files (Kinect v2, 25 joints)")
def load(path: Path, max_bodies: int = 2, strict: bool = False) -> SkeletonDataset:
    """Load a folder of `.skeleton` files (or one file); empty files become dropped Faults."""
    path = Path(path)
    if max_bodies < 1:
        raise PosenasError(f"ntu: max_bodies must be >= 1, got {max_bodies}")
    files = _files(path)
    if not files:
        raise PosenasError(f"{path}: no .skeleton files found")
    sequences, faults = [], []
    for f in files:
        try:
            sequences.append(load_sequence(f, max_bodies))
        except DataFormatError as e:
            if strict or path.is_file():
                raise
            faults.append(Fault.from_error(e, seq_id=f.stem))
    max_action = max((s.action for s in sequences), default=0)
    classes = list(ACTION_NAMES[:60] if max_action < 60 else ACTION_NAMES)
    return SkeletonDataset(
        name="ntu", root=path, layout="ntu25", sequences=sequences, classes=classes, faults=faults,
        protocols=protocols(sequences), meta={"units": "m", "fps": FPS, "max_bodies": max_bodies},
    )
