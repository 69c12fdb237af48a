"""SBU Kinect Interaction (Yun et al., CVPRW 2012), "clean" version: two-person Kinect v1 skeletons.

Layout on disk: ``sXXsYY/AA/NNN/skeleton_pos.txt`` where ``sXXsYY`` is the (acting, reacting) subject
pair, ``AA`` the class 01..08 and ``NNN`` the take. Each row is ``frame#, PA(1..15) x,y,z,
PB(1..15) x,y,z`` (91 comma-separated values), joints in `sbu15` order (HEAD, NECK, TORSO,
L_SHOULDER, L_ELBOW, L_HAND, R_SHOULDER, R_ELBOW, R_HAND, L_HIP, L_KNEE, L_FOOT, R_HIP, R_KNEE, R_FOOT).

Units (option ``units``; ``meta["units"]`` of the dataset and of every sequence says which):

* ``"m"`` (default): metres, the unit of the other Kinect loaders (MSR Action3D, UTKinect, NTU), by the
  dataset README's inverse ``X = 1280 - 2560 x``, ``Y = 960 - 1920 y``, ``Z = 10000 z / 7.8125`` (mm),
  divided by 1000: the OpenNI real-world coordinates (Z is the distance from the sensor, 0..10 m; X, Y
  are centred on the optical axis, Y up). Isotropic: one metre is one metre along every axis.
* ``"mm"`` (alias ``"original"``): the same in millimetres.
* ``"normalized"``: the values as stored; x, y in [0, 1], z in [0, 7.8125]. Anisotropic (a unit of x is
  2.56 m, of y 1.92 m, of z 1.28 m), so distances and angles computed on them are distorted.

Conventions (documented choices): fps is 15 (the capture rate); ``action`` is 0-based (class 01 -> 0);
``subject`` is the acting subject XX, the pair is ``meta["subjects"]``; ``group`` is the pair folder
``sXXsYY``, the unit the official folds are made of (a person acts in several folds, so validation is carved
out of whole training pairs, see `SkeletonSequence.group`); there is no per-joint confidence (``confidence``
is None). Loading a folder turns a malformed file into a dropped `Fault`
(file, line); ``strict=True`` or `read_sbu_file` raise `DataFormatError` instead.
Protocols ``fold1``..``fold5`` are the official 5-fold cross-validation sets (test = that fold).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np

from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split
from posenas.errors import DataFormatError, PosenasError

FPS = 15.0
NUM_JOINTS = 15
FILE_NAME = "skeleton_pos.txt"
CLASS_NAMES: tuple[str, ...] = (
    "approaching", "departing", "kicking", "punching", "pushing", "hugging", "shaking hands", "exchanging",
)
# The official 5-fold split: subject-pair folders of each fold.
FOLDS: dict[str, tuple[str, ...]] = {
    "fold1": ("s01s02", "s03s04", "s05s02", "s06s04"),
    "fold2": ("s02s03", "s02s07", "s03s05", "s05s03"),
    "fold3": ("s01s03", "s01s07", "s07s01", "s07s03"),
    "fold4": ("s02s01", "s02s06", "s03s02", "s03s06"),
    "fold5": ("s04s02", "s04s03", "s04s06", "s06s02", "s06s03"),
}
_PAIR_RE = re.compile(r"^s(\d\d)s(\d\d)$")
_CLASS_RE = re.compile(r"^0[1-8]$")
_TAKE_RE = re.compile(r"^\d{3}$")

Units = Literal["m", "mm", "normalized", "original"]
_UNIT_NAMES = {"m": "m", "mm": "mm", "original": "mm", "normalized": "normalized"}


def to_original_units(joints: np.ndarray) -> np.ndarray:
    """Normalised SBU (..., 3) -> OpenNI real-world millimetres, by the dataset README's formulas."""
    j = np.asarray(joints, dtype=np.float32)
    out = np.empty_like(j)
    out[..., 0] = 1280.0 - j[..., 0] * 2560.0
    out[..., 1] = 960.0 - j[..., 1] * 1920.0
    out[..., 2] = j[..., 2] * (10000.0 / 7.8125)
    return out


def _unit_name(units: str) -> str:
    """The ``meta["units"]`` value of a `units` option ('original' is 'mm'); one clear error otherwise."""
    if units not in _UNIT_NAMES:
        raise PosenasError(f"sbu: option units must be one of {', '.join(_UNIT_NAMES)}, got {units!r}")
    return _UNIT_NAMES[units]


def read_sbu_file(path: str | Path, units: Units = "m") -> tuple[np.ndarray, np.ndarray]:
    """Parse one skeleton_pos.txt: (joints (T, 2, 15, 3) float32 in `units`, frame numbers (T,) int)."""
    path = Path(path)
    unit = _unit_name(units)
    rows, linenos = [], []
    for lineno, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = [p for p in line.strip().rstrip(",").split(",")]
        if len(parts) != 1 + 2 * NUM_JOINTS * 3:
            raise DataFormatError(path, f"expected 91 comma-separated values (frame + 2 x 15 x 3), got {len(parts)}",
                                  line=lineno)
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            bad = next(i for i, p in enumerate(parts) if not _is_float(p))
            raise DataFormatError(
                path, f"value {bad + 1} is not a number: {parts[bad].strip()!r}", line=lineno
            ) from None
        linenos.append(lineno)
    if not rows:
        raise DataFormatError(path, "no frames")
    arr = np.asarray(rows, dtype=np.float64)
    frames = arr[:, 0].astype(np.int64)
    joints = arr[:, 1:].reshape(-1, 2, NUM_JOINTS, 3).astype(np.float32)
    finite = np.isfinite(joints).all(axis=(1, 2, 3))
    if not finite.all():
        raise DataFormatError(path, "non-finite coordinate", line=linenos[int(np.argmin(finite))])
    if unit == "mm":
        joints = to_original_units(joints)
    elif unit == "m":
        joints = to_original_units(joints) / np.float32(1000.0)
    return joints, frames


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _seq_files(root: Path) -> list[Path]:
    """skeleton_pos.txt files under `root` (the dataset root, a pair folder, or one file)."""
    if root.is_file():
        return [root]
    return sorted(root.rglob(FILE_NAME))


def _ids(path: Path) -> tuple[str, int, int, int, str]:
    """(pair, acting subject, reacting subject, class 1..8, take) from .../sXXsYY/AA/NNN/skeleton_pos.txt."""
    take, cls, pair = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
    m = _PAIR_RE.match(pair)
    if not (m and _CLASS_RE.match(cls) and _TAKE_RE.match(take)):
        raise DataFormatError(path, "expected the folder layout sXXsYY/AA/NNN/skeleton_pos.txt (AA = 01..08)")
    return pair, int(m[1]), int(m[2]), int(cls), take


def load_sequence(path: str | Path, units: Units = "m") -> SkeletonSequence:
    """One SBU take as a two-person SkeletonSequence (group = its pair folder, the unit of the folds)."""
    path = Path(path)
    pair, a, b, cls, take = _ids(path)
    joints, frames = read_sbu_file(path, units)
    return SkeletonSequence(
        joints=joints, layout="sbu15", fps=FPS, seq_id=f"{pair}/{cls:02d}/{take}", subject=a,
        action=cls - 1, action_name=CLASS_NAMES[cls - 1], group=pair,
        meta={"units": _unit_name(units), "subjects": (a, b), "pair": pair,
              "take": take, "frames": frames, "source": str(path)},
    )


def fold_splits(sequences: list[SkeletonSequence]) -> dict[str, Split]:
    """The official folds: test = the pairs of one fold, train = the pairs of the other four."""
    out = {}
    for name, pairs in FOLDS.items():
        test = tuple(s.seq_id for s in sequences if s.meta["pair"] in pairs)
        train = tuple(s.seq_id for s in sequences if s.meta["pair"] not in pairs)
        out[name] = Split(name, train, test)
    return out


def _detect(path: Path) -> bool:
    if path.is_file():
        return path.name == FILE_NAME
    if not path.is_dir():
        return False
    if _PAIR_RE.match(path.name):
        return next(path.glob(f"*/*/{FILE_NAME}"), None) is not None
    return next(path.glob(f"s??s??/*/*/{FILE_NAME}"), None) is not None


@register_loader("sbu", detect=_detect, description="SBU Kinect Interaction (clean): sXXsYY/AA/NNN/skeleton_pos.txt")
def load(path: Path, units: Units = "m", strict: bool = False) -> SkeletonDataset:
    """Load the dataset root (or a pair folder, or one file) with the official 5 folds."""
    path = Path(path)
    unit = _unit_name(units)  # a bad option fails before any file is read
    files = _seq_files(path)
    if not files:
        raise PosenasError(f"{path}: no {FILE_NAME} files found")
    sequences, faults = [], []
    for f in files:
        try:
            sequences.append(load_sequence(f, units))
        except DataFormatError as e:
            if strict or path.is_file():
                raise
            faults.append(Fault.from_error(e))
    return SkeletonDataset(
        name="sbu", root=path, layout="sbu15", sequences=sequences, classes=list(CLASS_NAMES), faults=faults,
        protocols=fold_splits(sequences), meta={"units": unit, "fps": FPS},
    )
