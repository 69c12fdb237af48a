"""MSR Action3D (Li, Zhang & Liu, CVPRW 2010): Kinect v1 skeletons, its standard protocols, and 2D/3D pairs.

Two versions of every sequence ship with the dataset:

* `MSRAction3DSkeletonReal3D/aNN_sNN_eNN_skeleton3D.txt`: 20 rows `x y z c` per frame, Kinect camera
  coordinates in metres (y up, z away from the camera), `c` the tracking confidence.
* `MSRAction3DSkeleton20joints/aNN_sNN_eNN_skeleton.txt`: 20 rows `u v depth c` per frame (CRLF), pixels
  of the 320x240 depth image and depth in Kinect units (1/250 m).

Both are the same skeletons: `u = 285.63 x/z + 160`, `v = 120 - 285.63 y/z`, `depth = 250 z`, fitted on
every frame of the data (residual 0.25 px = integer rounding). `KINECT_320` holds that camera (a
`posenas.core.camera.Camera`, whose axes have y down: `project_kinect` flips y first), which is what
makes `load_msr_pairs` real 2D/3D training pairs for a lifter.

Conventions (documented choices):

* fps is 15 (the capture rate given by the authors); `action` is 0-based (a01 -> 0).
* Frames whose 20 joints are all zero (skeleton not tracked; 23 sequences have some) are kept, with
  confidence 0, and reported as a kept `Fault`; a sequence that is all zeros (a13_s09_e02) is dropped.
* In the screen files, 85 `v` values are the int32 sentinel 2147483647 (joints above the image, v < 0).
  They get confidence 0; where the Real3D file is available they are recomputed from it with
  `project_kinect` (the same projection that produced every other value); a kept `Fault` reports each file.
* Loading a folder turns a malformed file into a dropped `Fault` (file, line, reason) and loads the rest;
  loading one file alone raises `DataFormatError`.
* AS1/AS2/AS3 splits keep the 0..19 action labels; `subset_classes(name)` gives the 8 actions of a
  subset in label order, so `subset_classes("AS1").index(seq.action)` is the 0..7 label.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from posenas.core.camera import Camera
from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split
from posenas.errors import DataFormatError, PosenasError, UnknownNameError

FPS = 15.0
NUM_JOINTS = 20
REAL3D_DIR = "MSRAction3DSkeletonReal3D"
SCREEN_DIR = "MSRAction3DSkeleton20joints"
CVPR12_LIST = "files_used_in_cvpr12_paper.txt"

ACTION_NAMES: tuple[str, ...] = (
    "high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch", "high throw",
    "draw x", "draw tick", "draw circle", "hand clap", "two hand wave", "side-boxing", "bend",
    "forward kick", "side kick", "jogging", "tennis swing", "tennis serve", "golf swing",
    "pick up & throw",
)
# The three 8-action subsets of Li et al., as 1-based action numbers (a02 -> 2).
AS_SUBSETS: dict[str, tuple[int, ...]] = {
    "AS1": (2, 3, 5, 6, 10, 13, 18, 20),
    "AS2": (1, 4, 7, 8, 9, 11, 12, 14),
    "AS3": (6, 14, 15, 16, 17, 18, 19, 20),
}

# Screen values at or above this are the int32 overflow sentinel (2147483647), not pixels.
_SENTINEL_MIN = 1e9
_NAME_RE = re.compile(r"^a(\d\d)_s(\d\d)_e(\d\d)_skeleton(3D)?\.txt$")
_ID_RE = re.compile(r"^a(\d\d)_s(\d\d)_e(\d\d)$")

Version = Literal["real3d", "screen"]
Subset = Literal["all", "cvpr12"]


# The Kinect v1 depth camera at 320x240 (fitted on the data). Its world frame is the Kinect's camera frame
# with y flipped: Kinect coordinates have y up, `Camera` (OpenCV) has y down.
KINECT_320 = Camera(R=np.eye(3), t=np.zeros(3), fx=285.63, fy=285.63, cx=160.0, cy=120.0, width=320, height=240)
_Y_UP_TO_DOWN = np.array([1.0, -1.0, 1.0], np.float32)


def kinect_to_camera(xyz: np.ndarray) -> np.ndarray:
    """Kinect camera coordinates (..., 3), y up -> OpenCV camera axes (y down, as `KINECT_320` expects)."""
    return np.asarray(xyz, np.float32) * _Y_UP_TO_DOWN


def project_kinect(xyz: np.ndarray) -> np.ndarray:
    """Kinect camera coordinates (..., 3) in metres -> pixels (..., 2); NaN where z <= 0 (untracked zeros)."""
    return KINECT_320.project_camera(kinect_to_camera(xyz)).astype(np.float32, copy=False)


# --- parsing ---------------------------------------------------------------------------------


def parse_numeric_table(data: bytes, path: str | Path, ncols: int) -> np.ndarray:
    """Whitespace-separated numbers, `ncols` per non-blank line -> (rows, ncols) float32.

    Parses the whole file in one go and checks the column count of every line with vectorised token
    counting, so a clean file costs two numpy passes; only a bad one pays for a line scan to name the
    offending line. Raises `DataFormatError` (path, line) on an empty file, a wrong column count, a
    non-number or NaN/inf.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0 or not (buf > 32).any():
        raise DataFormatError(path, "empty file (no numbers)")
    ws = buf <= 32  # space, tab, CR, LF and other control bytes
    starts = ~ws
    starts[1:] &= ws[:-1]
    # 0-based line index of every token: how many newlines precede its first byte
    token_line = np.searchsorted(np.flatnonzero(buf == 10), np.flatnonzero(starts))
    per_line = np.bincount(token_line)
    bad = np.nonzero((per_line != 0) & (per_line != ncols))[0]
    if bad.size:
        ln = int(bad[0])
        raise DataFormatError(path, f"expected {ncols} numbers per row, found {per_line[ln]}", line=ln + 1)
    try:
        values = np.array(data.split(), dtype=np.float32)
    except ValueError:
        _raise_first_non_number(data, path)
        raise  # unreachable: the scan always finds the bad token
    finite = np.isfinite(values)
    if not finite.all():
        i = int(np.argmin(finite))
        raise DataFormatError(path, f"value {data.split()[i].decode(errors='replace')!r} is not finite",
                              line=int(token_line[i]) + 1, field=f"column {i % ncols + 1}")
    return values.reshape(-1, ncols)


def _raise_first_non_number(data: bytes, path: str | Path) -> None:
    for ln, line in enumerate(data.splitlines(), start=1):
        for col, tok in enumerate(line.split(), start=1):
            try:
                float(tok)
            except ValueError:
                raise DataFormatError(path, f"{tok.decode(errors='replace')!r} is not a number",
                                      line=ln, field=f"column {col}") from None


def _frames(table: np.ndarray, path: Path) -> np.ndarray:
    if table.shape[0] % NUM_JOINTS:
        raise DataFormatError(
            path, f"{table.shape[0]} rows is not a multiple of {NUM_JOINTS} joints (truncated file?)",
            line=table.shape[0],
        )
    return table.reshape(-1, NUM_JOINTS, table.shape[1])


def read_real3d(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One Real3D file -> xyz (T, 20, 3) metres and confidence (T, 20)."""
    p = Path(path)
    a = _frames(parse_numeric_table(p.read_bytes(), p, 4), p)
    return np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., 3])


def read_screen(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One 20-joint screen file -> uv (T, 20, 2) pixels, depth (T, 20) in 1/250 m, confidence, sentinel mask.

    The sentinel mask (T, 20) marks joints whose u or v is the int32 overflow value; their uv is set to 0
    and their confidence to 0 so no caller ever sees 2e9 pixels.
    """
    p = Path(path)
    a = _frames(parse_numeric_table(p.read_bytes(), p, 4), p)
    sentinel = (np.abs(a[..., :2]) >= _SENTINEL_MIN).any(-1)
    uv = np.ascontiguousarray(a[..., :2])
    conf = np.ascontiguousarray(a[..., 3])
    if sentinel.any():
        uv[sentinel] = 0.0
        conf[sentinel] = 0.0
    return uv, np.ascontiguousarray(a[..., 2]), conf, sentinel


def parse_seq_id(name: str) -> tuple[int, int, int]:
    """'a13_s09_e02' (or a file name) -> (action 1..20, subject, execution)."""
    m = _NAME_RE.match(name) or _ID_RE.match(name)
    if not m:
        raise ValueError(f"{name!r} is not an MSR Action3D name (aNN_sNN_eNN)")
    a, s, e = (int(m.group(i)) for i in (1, 2, 3))
    if not 1 <= a <= len(ACTION_NAMES):
        raise ValueError(f"{name!r}: action a{a:02d} is outside a01..a20")
    return a, s, e


# --- protocols -------------------------------------------------------------------------------


def subset_classes(name: str) -> list[int]:
    """0-based action labels of an AS subset, sorted; their position is the subset's 0..7 label."""
    if name not in AS_SUBSETS:
        raise UnknownNameError("MSR Action3D action subset", name, list(AS_SUBSETS))
    return sorted(a - 1 for a in AS_SUBSETS[name])


def msr_protocols(sequences: Iterable[SkeletonSequence | MsrPair]) -> dict[str, Split]:
    """cross_subject (all actions; odd subjects train, even test) and AS1/AS2/AS3 (same, 8 actions).

    The one definition of MSR Action3D's protocols: the lifter's 2D/3D pairs are split by it too."""
    seqs = list(sequences)

    def split(name: str, actions: set[int] | None) -> Split:
        keep = [s for s in seqs if actions is None or s.action in actions]
        return Split(
            name,
            tuple(s.seq_id for s in keep if s.subject % 2 == 1),
            tuple(s.seq_id for s in keep if s.subject % 2 == 0),
        )

    out = {"cross_subject": split("cross_subject", None)}
    for name in AS_SUBSETS:
        out[name] = split(name, set(subset_classes(name)))
    return out


def read_cvpr12_list(root: Path) -> list[str]:
    """Sequence ids of files_used_in_cvpr12_paper.txt (557 in the official list)."""
    p = root / CVPR12_LIST
    if not p.is_file():
        raise PosenasError(f"{p}: not found; subset='cvpr12' needs the dataset's {CVPR12_LIST}")
    ids = []
    for ln, line in enumerate(p.read_text().splitlines(), start=1):
        tok = line.strip()
        if not tok:
            continue
        if not _ID_RE.match(tok):
            raise DataFormatError(p, f"{tok!r} is not a sequence id aNN_sNN_eNN", line=ln)
        ids.append(tok)
    return ids


# --- folder handling -------------------------------------------------------------------------


def _dataset_root(path: Path) -> Path:
    """The folder holding the version folders, for a dataset root, a version folder or a file."""
    if path.is_file():
        path = path.parent
    if path.name in (REAL3D_DIR, SCREEN_DIR):
        return path.parent
    return path


def _version_dir(root: Path, version: str) -> Path:
    return root / (REAL3D_DIR if version == "real3d" else SCREEN_DIR)


def _file_name(seq_id: str, version: str) -> str:
    return f"{seq_id}_skeleton3D.txt" if version == "real3d" else f"{seq_id}_skeleton.txt"


def _scan_folder(folder: Path, version: str, faults: list[Fault]) -> dict[str, Path]:
    """seq_id -> file for every file in a version folder; files with other names become Faults."""
    if not folder.is_dir():
        raise PosenasError(f"{folder}: no such folder")
    want_3d = version == "real3d"
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        m = _NAME_RE.match(p.name)
        if not m or bool(m.group(4)) != want_3d:
            faults.append(Fault(str(p), f"not an MSR Action3D {version} file name "
                                        f"({_file_name('aNN_sNN_eNN', version)})", dropped=True))
            continue
        try:
            parse_seq_id(p.name)
        except ValueError as e:
            faults.append(Fault(str(p), str(e), dropped=True))
            continue
        found[p.name[:11]] = p
    if not found:
        raise DataFormatError(folder, f"no MSR Action3D {version} files (aNN_sNN_eNN_...) in this folder")
    return found


def _zero_frames(values: np.ndarray) -> np.ndarray:
    """(T,) True where all 20 joints are exactly zero: Kinect lost the skeleton."""
    return ~values.reshape(values.shape[0], -1).any(axis=1)


def _load_one(path: Path, version: str, recover_from: Path | None):
    """Parse one file into arrays plus the kept-fault messages; raises DataFormatError."""
    notes: list[str] = []
    if version == "real3d":
        xyz, conf = read_real3d(path)
        zero = _zero_frames(xyz)
        if zero.all():
            raise DataFormatError(path, f"all {len(zero)} frames are zeros (no skeleton tracked)")
        joints, extra = xyz, {}
    else:
        uv, depth, conf, sentinel = read_screen(path)
        zero = _zero_frames(np.where(sentinel[..., None], 0.0, np.concatenate([uv, depth[..., None]], -1)))
        if zero.all():
            raise DataFormatError(path, f"all {len(zero)} frames are zeros (no skeleton tracked)")
        if sentinel.any():
            n = int(sentinel.sum())
            fixed = False
            if recover_from is not None and recover_from.is_file():
                try:
                    xyz, _ = read_real3d(recover_from)
                except DataFormatError:
                    xyz = None
                if xyz is not None and xyz.shape[0] == uv.shape[0]:
                    proj = project_kinect(xyz)
                    if np.isfinite(proj[sentinel]).all():
                        uv[sentinel] = proj[sentinel]
                        fixed = True
            how = "recomputed from the Real3D file with the Kinect projection" if fixed else "set to 0"
            t = int(np.argmax(sentinel.any(-1)))
            notes.append(f"{n} joints have the 2147483647 sentinel instead of pixels (first: frame {t}, "
                         f"joint {int(np.argmax(sentinel[t]))}); confidence 0, uv {how}")
        joints, extra = uv, {"depth": depth, "sentinel_joints": int(sentinel.sum())}
    if zero.any():
        notes.append(f"{int(zero.sum())} of {len(zero)} frames are all zeros (skeleton not tracked); "
                     "their confidence is 0")
    return joints, conf, zero, extra, notes


def _to_sequence(seq_id: str, path: Path, version: str, joints, conf, zero, extra) -> SkeletonSequence:
    a, s, e = parse_seq_id(seq_id)
    conf = conf.copy()
    conf[zero] = 0.0
    return SkeletonSequence(
        joints=joints[:, None],
        layout="msr20",
        fps=FPS,
        seq_id=seq_id,
        subject=s,
        action=a - 1,
        action_name=ACTION_NAMES[a - 1],
        confidence=conf[:, None],
        meta={
            "units": "m" if version == "real3d" else "px",
            # Real3D is x right, y up, z away from the sensor: a left-handed frame (mirrored Kinect SDK space)
            **({"handedness": "left"} if version == "real3d" else {}),
            "source": str(path),
            "execution": e,
            "version": version,
            "untracked_frames": int(zero.sum()),
            **extra,
        },
    )


@register_loader(
    "msr_action3d",
    detect=lambda p: _detect(p),
    description="MSR Action3D skeletons (Real3D metres or 20-joint screen pixels), 20 actions, 10 subjects",
)
def load(
    path: Path,
    version: Version | None = None,
    subset: Subset = "all",
    workers: int = 1,
) -> SkeletonDataset:
    """Load MSR Action3D from its root, a version folder, or one file (which raises on any fault).

    version: "real3d" (default; joints (T,1,20,3) metres) or "screen" (joints (T,1,20,2) pixels, depth in
    meta); inferred from a version folder or file name when not given. subset: "all" (567) or "cvpr12"
    (the 557 of files_used_in_cvpr12_paper.txt; needs the dataset root). workers: threads parsing files;
    1 by default because numpy's text parsing holds the GIL (2 threads measured no faster here).
    """
    path = Path(path)
    if not path.exists():
        raise PosenasError(f"{path}: no such file or directory")
    inferred = _infer_version(path)
    if version is None:
        version = inferred or "real3d"
    if version not in ("real3d", "screen"):
        raise UnknownNameError("MSR Action3D version", str(version), ["real3d", "screen"])
    if inferred is not None and inferred != version:
        raise PosenasError(f"{path}: is {inferred} data but version={version!r} was asked for")
    if subset not in ("all", "cvpr12"):
        raise UnknownNameError("MSR Action3D subset", str(subset), ["all", "cvpr12"])
    root = _dataset_root(path)
    faults: list[Fault] = []

    if path.is_file():
        try:
            parse_seq_id(path.name)
        except ValueError as e:
            raise DataFormatError(path, str(e)) from None
        files = {path.name[:11]: path}
    else:
        files = _scan_folder(_version_dir(root, version), version, faults)

    excluded: list[str] = []
    if subset == "cvpr12":
        wanted = read_cvpr12_list(root)
        excluded = sorted(set(files) - set(wanted))
        for sid in wanted:
            if sid not in files and not path.is_file():
                faults.append(Fault(str(_version_dir(root, version) / _file_name(sid, version)),
                                    f"listed in {CVPR12_LIST} but missing", seq_id=sid))
        files = {k: v for k, v in files.items() if k in set(wanted)}
        if not files:
            raise PosenasError(f"{path}: none of the {len(wanted)} sequences of {CVPR12_LIST} is here")

    def job(item: tuple[str, Path]):
        sid, p = item
        recover = _version_dir(root, "real3d") / _file_name(sid, "real3d") if version == "screen" else None
        try:
            return sid, p, _load_one(p, version, recover), None
        except DataFormatError as e:
            return sid, p, None, e

    items = sorted(files.items())
    if workers > 1:
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(job, items))
    else:
        results = [job(it) for it in items]

    sequences: list[SkeletonSequence] = []
    for sid, p, res, err in results:
        if err is not None:
            if path.is_file():
                raise err
            faults.append(Fault.from_error(err, seq_id=sid))
            continue
        joints, conf, zero, extra, notes = res
        faults.extend(Fault(str(p), n, seq_id=sid, dropped=False) for n in notes)
        sequences.append(_to_sequence(sid, p, version, joints, conf, zero, extra))

    return SkeletonDataset(
        name="msr_action3d",
        root=root,
        layout="msr20",
        sequences=sequences,
        classes=list(ACTION_NAMES),
        faults=faults,
        protocols=msr_protocols(sequences),
        meta={
            "version": version,
            "subset": subset,
            "fps": FPS,
            "units": "m" if version == "real3d" else "px",
            "excluded_by_subset": excluded,
            "protocol_classes": {k: subset_classes(k) for k in AS_SUBSETS},
            "camera": KINECT_320,
        },
    )


def _infer_version(path: Path) -> Version | None:
    if path.is_file():
        m = _NAME_RE.match(path.name)
        return None if not m else ("real3d" if m.group(4) else "screen")
    if path.name == REAL3D_DIR:
        return "real3d"
    if path.name == SCREEN_DIR:
        return "screen"
    return None


def _detect(p: Path) -> bool:
    if p.is_file():
        return bool(_NAME_RE.match(p.name))
    if p.name in (REAL3D_DIR, SCREEN_DIR):
        return True
    return (p / REAL3D_DIR).is_dir() or (p / SCREEN_DIR).is_dir()


# --- 2D/3D pairs for lifting -----------------------------------------------------------------


@dataclass
class MsrPair:
    """One sequence seen by both versions: Kinect 2D pixels and the matching 3D camera coordinates.

    conf is the Kinect tracking confidence (0 = joint inferred, or frame untracked); valid (T, 20) is
    False for untracked (all-zero) frames, which hold no skeleton at all, and for a screen sentinel that
    could not be recomputed (none in the real data). Train on `valid` joints only.
    """

    seq_id: str
    subject: int
    action: int
    uv: np.ndarray  # (T, 20, 2) float32 pixels of the 320x240 depth image
    xyz: np.ndarray  # (T, 20, 3) float32 metres, Kinect camera coordinates (y up)
    conf: np.ndarray  # (T, 20) float32
    valid: np.ndarray  # (T, 20) bool

    @property
    def num_frames(self) -> int:
        return int(self.xyz.shape[0])


def load_msr_pairs(
    root: str | Path, subset: Subset = "cvpr12", max_reprojection_px: float = 2.0
) -> tuple[list[MsrPair], list[Fault]]:
    """Join the Real3D and screen versions of every sequence into 2D/3D pairs (layout msr20).

    Sequences whose versions disagree in frame count (a13_s09_e03: 936 vs 255), that are all zeros,
    that fail to parse, or whose pixels do not match the projected 3D joints (median error above
    `max_reprojection_px`) are left out and reported as Faults. Screen sentinel values are recomputed
    from the 3D joints with `project_kinect`.
    """
    root = _dataset_root(Path(root))
    if subset not in ("all", "cvpr12"):
        raise UnknownNameError("MSR Action3D subset", str(subset), ["all", "cvpr12"])
    faults: list[Fault] = []
    real = _scan_folder(_version_dir(root, "real3d"), "real3d", faults)
    screen = _scan_folder(_version_dir(root, "screen"), "screen", faults)
    ids = sorted(set(real) | set(screen))
    if subset == "cvpr12":
        keep = set(read_cvpr12_list(root))
        ids = [i for i in ids if i in keep]
        faults.extend(Fault(str(root / CVPR12_LIST), f"{sid} is listed but has no skeleton file", seq_id=sid)
                      for sid in sorted(keep - set(real) - set(screen)))

    def job(sid: str):
        if sid not in real or sid not in screen:
            missing = "Real3D" if sid not in real else "screen"
            have = screen.get(sid) or real.get(sid)
            return None, Fault(str(have), f"no {missing} version of this sequence", seq_id=sid)
        try:
            xyz, conf = read_real3d(real[sid])
            uv, _, _, sentinel = read_screen(screen[sid])
        except DataFormatError as e:
            return None, Fault.from_error(e, seq_id=sid)
        if xyz.shape[0] != uv.shape[0]:
            return None, Fault(str(real[sid]), f"{xyz.shape[0]} frames in Real3D but {uv.shape[0]} in "
                                               f"{screen[sid].name}", seq_id=sid)
        valid_frame = ~(_zero_frames(xyz) | _zero_frames(uv))
        if not valid_frame.any():
            return None, Fault(str(real[sid]), "all frames are zeros (no skeleton tracked)", seq_id=sid)
        proj = project_kinect(xyz)
        projectable = np.isfinite(proj).all(-1)
        ok = valid_frame[:, None] & ~sentinel & projectable
        err = float(np.median(np.linalg.norm(proj - uv, axis=-1)[ok])) if ok.any() else np.inf
        if not err <= max_reprojection_px:
            return None, Fault(str(screen[sid]), f"pixels do not match the projected Real3D joints "
                                                 f"(median {err:.1f} px)", seq_id=sid)
        fix = sentinel & projectable
        uv[fix] = proj[fix]
        a, s, _ = parse_seq_id(sid)
        valid = valid_frame[:, None] & ~(sentinel & ~projectable)
        conf = np.where(valid, conf, 0.0).astype(np.float32)
        return MsrPair(sid, s, a - 1, uv, xyz, conf, valid), None

    results = [job(sid) for sid in ids]
    pairs = [p for p, _ in results if p is not None]
    faults.extend(f for _, f in results if f is not None)
    return pairs, faults
