"""CMU Graphics Lab motion capture (BVH) as 3D training data for the 2D->3D lifter.

Two BVH conversions of CMU's ASF/AMC data occur in the wild and in our copy:

* `cmu43` - the BVH files from mocap.cs.cmu.edu (hip, abdomen, chest, ..., rButtock, rThigh, ...):
  43 joints, 120 fps, channels "Zrotation Xrotation Yrotation", lengths in **centimetres**. All
  clips share one generic skeleton (identical OFFSETs for every subject). Units checked on the data:
  walking clips move the root at 1.2-1.6 m/s, running (09_xx) at ~3.4 m/s, eye height ~1.5 m.
  Frame 0 is a reference T-pose (root rotation exactly zero) and frames 1-4 blend from it into the
  motion (limbs jump 10-30 cm per 1/120 s); `skip_reference=True` drops those 5 frames.
* `cmu31` - the ASF-style conversion (lhipjoint, lfemur, ..., lowerback, upperback, thorax, ...):
  31 joints, 30 fps, "Zrotation Yrotation Xrotation", lengths in ASF units of the CMU skeletons:
  `:units length 0.45`, i.e. 1 unit = 1/0.45 inch = 0.056444 m (the constant dm_control uses).
  Forward kinematics reproduces CMU's `*_worldpos.csv` to 1e-13 units.

Both are Y-up. Data faults found in our copy (reported as `Fault`s, never silently fixed): 09_10
has broken leg angles (legs sideways, pelvis 0.45 leg lengths above the ankles) and is dropped by
default; 07_12 (and 09_10) sit ~1 m lower than the others (root height ~0 instead of ~0.9 m) and
07_12's swing leg flexes unusually far - kept; a few clips have single-frame joint jumps > 15 m/s.

The default output is `h36m17` in metres (VideoPose3D order), built by the linear
recipes registered with each layout; their approximations are listed in `CMU43_APPROX` and
`CMU31_APPROX` and are chosen to match how 2D detector layouts (COCO, MediaPipe) are mapped to
h36m17, so a lifter trained on these targets sees the same joint definitions at test time.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Literal

import numpy as np

from posenas.datasets.bvh import BvhClip, BvhHierarchy, forward_kinematics, hierarchy_layout, read_bvh
from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split
from posenas.errors import DataFormatError, PosenasError
from posenas.core.skeleton import Layout, register_layout
from posenas.core.timeseries import resample_fps

INDEX_FILE = Path("index") / "cmu-mocap-index.tsv"
LABELS_GLOB = "subset_labels_*.tsv"
CM = 0.01
ASF_UNIT = 0.0254 / 0.45  # metres per CMU ASF length unit
REFERENCE_FRAMES = 5  # T-pose + 4 blend frames at the start of every cmu43 clip
MAX_JOINT_SPEED = 15.0  # m/s; faster h36m17 joints are marker/solver glitches, reported as faults
# Upright motion keeps the pelvis ~0.8-1.0 leg lengths above the lower ankle (median over a clip; the
# lowest clean clip, a jump, has 0.83). 09_10 has 0.45: its leg angles are broken (legs sideways).
MIN_PELVIS_LIFT = 0.6
# Held-out subjects for "cross_subject": 02 has walk, run and jump; 10 walks; 14 jumps and reaches.
# About a quarter of the frames; every coarse class of the walk/run/jump subset occurs in train and test.
TEST_SUBJECTS = (2, 10, 14)
_NAME = re.compile(r"^(\d+)_(\d+)$")

# --- the two CMU skeletons and their h36m17 recipes ---------------------------------------------
CMU43_JOINTS = (
    "hip", "abdomen", "chest", "neck", "head", "leftEye", "rightEye", "rCollar", "rShldr", "rForeArm",
    "rHand", "rThumb1", "rThumb2", "rIndex1", "rIndex2", "rMid1", "rMid2", "rRing1", "rRing2", "rPinky1",
    "rPinky2", "lCollar", "lShldr", "lForeArm", "lHand", "lThumb1", "lThumb2", "lIndex1", "lIndex2",
    "lMid1", "lMid2", "lRing1", "lRing2", "lPinky1", "lPinky2", "rButtock", "rThigh", "rShin", "rFoot",
    "lButtock", "lThigh", "lShin", "lFoot",
)
CMU31_JOINTS = (
    "hip", "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes", "rhipjoint", "rfemur", "rtibia", "rfoot",
    "rtoes", "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head", "lclavicle", "lhumerus",
    "lradius", "lwrist", "lhand", "lfingers", "lthumb", "rclavicle", "rhumerus", "rradius", "rwrist",
    "rhand", "rfingers", "rthumb",
)


def _one(name: str) -> dict[str, float]:
    return {name: 1.0}


def _mid(a: str, b: str) -> dict[str, float]:
    return {a: 0.5, b: 0.5}


# A BVH joint sits at its pivot: rThigh = hip joint, rShin = knee, rFoot = ankle, rShldr = shoulder,
# rForeArm = elbow, rHand = wrist.
CMU43_TO_H36M = {
    "pelvis": _mid("lThigh", "rThigh"),
    "right_hip": _one("rThigh"), "right_knee": _one("rShin"), "right_ankle": _one("rFoot"),
    "left_hip": _one("lThigh"), "left_knee": _one("lShin"), "left_ankle": _one("lFoot"),
    "spine": _mid("abdomen", "chest"),
    "thorax": _mid("lShldr", "rShldr"),
    "neck_nose": _mid("leftEye", "rightEye"),
    "head": {"head": 2.0, "neck": -1.0},
    "left_shoulder": _one("lShldr"), "left_elbow": _one("lForeArm"), "left_wrist": _one("lHand"),
    "right_shoulder": _one("rShldr"), "right_elbow": _one("rForeArm"), "right_wrist": _one("rHand"),
}
CMU43_APPROX = (
    "pelvis = mid-hips (rThigh/lThigh pivots), 2.6 cm above the BVH root",
    "spine = midpoint of the abdomen and chest pivots (the real, bending spine)",
    "thorax = mid-shoulders, as for COCO/MediaPipe",
    "neck_nose = midpoint of the eye joints (nose bridge, ~3 cm above the nose tip)",
    "head = head pivot + (head - neck): extrapolates the neck bone to the skull centre at eye height "
    "(~1.5 cm off in the rest pose, a few cm more when the head nods); like COCO mid-ears, not the head top",
)
CMU31_TO_H36M = {
    "pelvis": _mid("lfemur", "rfemur"),
    "right_hip": _one("rfemur"), "right_knee": _one("rtibia"), "right_ankle": _one("rfoot"),
    "left_hip": _one("lfemur"), "left_knee": _one("ltibia"), "left_ankle": _one("lfoot"),
    "spine": _one("upperback"),
    "thorax": _mid("lhumerus", "rhumerus"),
    "neck_nose": _one("head"),
    "head": {"head": 1.5, "upperneck": -0.5},
    "left_shoulder": _one("lhumerus"), "left_elbow": _one("lradius"), "left_wrist": _one("lwrist"),
    "right_shoulder": _one("rhumerus"), "right_elbow": _one("rradius"), "right_wrist": _one("rwrist"),
}
CMU31_APPROX = (
    "pelvis = mid-hips (lfemur/rfemur pivots), 1.8 units (10 cm) below the ASF root",
    "spine = upperback pivot; thorax = mid-shoulders (humerus pivots)",
    "neck_nose = head pivot (skull base, on the neck axis rather than at the nose)",
    "head = head pivot + half the upperneck->head bone: the skull centre, midway to the head top",
)


def _register_cmu_layouts() -> tuple[Layout, Layout]:
    def tree(names: tuple[str, ...], edges: dict[str, str]) -> tuple[int, ...]:
        return tuple(-1 if n not in edges else names.index(edges[n]) for n in names)

    p43 = {"abdomen": "hip", "chest": "abdomen", "neck": "chest", "head": "neck", "leftEye": "head",
           "rightEye": "head", "rButtock": "hip", "rThigh": "rButtock", "rShin": "rThigh", "rFoot": "rShin",
           "lButtock": "hip", "lThigh": "lButtock", "lShin": "lThigh", "lFoot": "lShin"}
    for s in "rl":
        p43.update({f"{s}Collar": "chest", f"{s}Shldr": f"{s}Collar", f"{s}ForeArm": f"{s}Shldr",
                    f"{s}Hand": f"{s}ForeArm"})
        for f in ("Thumb", "Index", "Mid", "Ring", "Pinky"):
            p43.update({f"{s}{f}1": f"{s}Hand", f"{s}{f}2": f"{s}{f}1"})
    p31 = {"lowerback": "hip", "upperback": "lowerback", "thorax": "upperback", "lowerneck": "thorax",
           "upperneck": "lowerneck", "head": "upperneck"}
    for s in "lr":
        p31.update({f"{s}hipjoint": "hip", f"{s}femur": f"{s}hipjoint", f"{s}tibia": f"{s}femur",
                    f"{s}foot": f"{s}tibia", f"{s}toes": f"{s}foot", f"{s}clavicle": "thorax",
                    f"{s}humerus": f"{s}clavicle", f"{s}radius": f"{s}humerus", f"{s}wrist": f"{s}radius",
                    f"{s}hand": f"{s}wrist", f"{s}fingers": f"{s}hand", f"{s}thumb": f"{s}wrist"})
    l43 = register_layout(Layout(
        "cmu43", CMU43_JOINTS, tree(CMU43_JOINTS, p43),
        "CMU mocap BVH from mocap.cs.cmu.edu (43 joints, centimetres)",
        to_h36m=CMU43_TO_H36M, approximations=CMU43_APPROX,
    ))
    l31 = register_layout(Layout(
        "cmu31", CMU31_JOINTS, tree(CMU31_JOINTS, p31),
        "CMU mocap ASF-style BVH (31 joints, ASF units of 0.056444 m)",
        to_h36m=CMU31_TO_H36M, approximations=CMU31_APPROX,
    ))
    return l43, l31


CMU43_LAYOUT, CMU31_LAYOUT = _register_cmu_layouts()
_KNOWN = {"cmu43": (CMU43_LAYOUT, CM, "cm"), "cmu31": (CMU31_LAYOUT, ASF_UNIT, "CMU ASF units (1/0.45 in)")}


def identify_skeleton(h: BvhHierarchy) -> str | None:
    """'cmu43', 'cmu31' or None, by the hierarchy's joint names and tree."""
    names = tuple(n for n, e in zip(h.names, h.end_site) if not e)
    for key, (lay, _, _) in _KNOWN.items():
        if names == lay.joints:
            ref = hierarchy_layout(h, "_probe", register=False)
            if ref.parents == lay.parents:
                return key
    return None


# --- side files: descriptions and coarse labels ------------------------------------------------


def _find_up(start: Path, rel: Path | str, pattern: bool = False, levels: int = 3) -> list[Path]:
    d = start if start.is_dir() else start.parent
    for _ in range(levels + 1):
        hits = sorted(d.glob(str(rel))) if pattern else ([d / rel] if (d / rel).is_file() else [])
        if hits:
            return hits
        if d.parent == d:
            break
        d = d.parent
    return []


def _read_tsv(path: Path) -> dict[str, str]:
    """motion id -> description column; checks the header so a wrong file fails loudly."""
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["motion", "description"]:
        raise DataFormatError(path, "expected a header 'motion<TAB>description...'", line=1)
    out = {}
    for i, r in enumerate(rows[1:], start=2):
        if not r or not r[0].strip():
            continue
        if len(r) < 2:
            raise DataFormatError(path, "expected at least 2 tab-separated columns", line=i)
        out[r[0].strip()] = r[1].strip()
    return out


def coarse_label(description: str) -> str:
    """walk / run / jump from a free-text CMU description (checked in that order: 'run' before 'walk')."""
    d = description.lower()
    if re.search(r"\bjump", d):
        return "jump"
    if re.search(r"\b(run|jog)", d):
        return "run"
    if re.search(r"\bwalk", d):
        return "walk"
    return "other"


# --- loading -----------------------------------------------------------------------------------


def _pelvis_lift(h36: np.ndarray) -> float:
    """Median height of the pelvis above the lower ankle, in leg lengths (h36m17 joints, Y up)."""
    leg = (np.linalg.norm(h36[:, 1] - h36[:, 2], axis=-1) + np.linalg.norm(h36[:, 2] - h36[:, 3], axis=-1)).mean()
    return float(np.median(h36[:, 0, 1] - h36[:, [3, 6], 1].min(axis=1)) / leg)


def _glitches(xyz_m: np.ndarray, fps: float) -> np.ndarray:
    """Frames t whose joints moved faster than MAX_JOINT_SPEED from t-1 (world coordinates)."""
    if xyz_m.shape[0] < 2:
        return np.zeros(0, dtype=np.int64)
    speed = np.linalg.norm(np.diff(xyz_m, axis=0), axis=-1).max(axis=-1) * fps
    return np.nonzero(speed > MAX_JOINT_SPEED)[0] + 1


def clip_to_sequence(
    clip: BvhClip,
    seq_id: str,
    layout: Literal["h36m17", "native"] = "h36m17",
    fps: float | None = None,
    skip_reference: bool = True,
    scale: float | None = None,
) -> tuple[SkeletonSequence, list[str]]:
    """One parsed clip -> a SkeletonSequence (T, 1, J, 3), plus notes on anything suspicious."""
    kind = identify_skeleton(clip.hierarchy)
    notes: list[str] = []
    if kind is None:
        if layout == "h36m17":
            raise DataFormatError(clip.path, "not a known CMU skeleton (cmu43/cmu31); use layout='native'")
        lay = hierarchy_layout(clip.hierarchy, f"bvh:{Path(clip.path).stem}")
        unit_scale, units = (1.0, "file units") if scale is None else (scale, "m")
    else:
        lay, unit_scale, file_units = _KNOWN[kind]
        units = "m"
        if scale is not None:
            unit_scale, units = scale, f"{file_units} x {scale}"
    src_fps = round(clip.fps, 3)
    motion = clip.motion
    skipped = 0
    if skip_reference and kind == "cmu43" and motion.shape[0] > REFERENCE_FRAMES and not motion[0, 3:6].any():
        motion = motion[REFERENCE_FRAMES:]
        skipped = REFERENCE_FRAMES
    out_fps, stride, interpolated = src_fps, 1, False
    if fps is not None:
        if fps <= 0 or fps > src_fps + 1e-6:
            raise PosenasError(f"{clip.path}: cannot resample {src_fps:g} fps to {fps:g} fps (only downsample)")
        ratio = src_fps / fps
        if abs(ratio - round(ratio)) < 1e-3:
            stride = int(round(ratio))
            motion = motion[::stride]
            out_fps = src_fps / stride
        else:
            interpolated, out_fps = True, float(fps)
    xyz = forward_kinematics(clip.hierarchy, motion, scale=unit_scale)
    if interpolated:
        xyz = resample_fps(xyz, src_fps, fps)
    h36 = np.einsum("kj,tjd->tkd", lay.h36m_matrix.astype(np.float64), xyz) if lay.to_h36m else None
    if layout == "h36m17":
        xyz, out_layout = h36, "h36m17"
    elif layout == "native":
        out_layout = lay.name
    else:
        raise PosenasError(f"layout must be 'h36m17' or 'native', got {layout!r}")
    implausible = False
    if units == "m" and h36 is not None:
        bad = _glitches(h36, out_fps)
        if bad.size:
            notes.append(f"{bad.size} frames with a joint faster than {MAX_JOINT_SPEED:g} m/s "
                         f"(first at output frame {int(bad[0])})")
        lift = _pelvis_lift(h36)
        if lift < MIN_PELVIS_LIFT:
            implausible = True
            notes.append(f"implausible poses: median pelvis height above the lower ankle is {lift:.2f} "
                         f"leg lengths (< {MIN_PELVIS_LIFT}; walking is ~0.95): broken joint angles")
    m = _NAME.match(seq_id)
    seq = SkeletonSequence(
        joints=xyz[:, None].astype(np.float32),
        layout=out_layout,
        fps=out_fps,
        seq_id=seq_id,
        subject=int(m.group(1)) if m else None,
        meta={
            "units": units, "source": clip.path, "skeleton": kind or lay.name, "source_fps": src_fps,
            "stride": stride, "interpolated": interpolated, "skipped_start_frames": skipped,
            "source_frames": clip.num_frames, "scale": unit_scale, "up_axis": "y",
            "implausible": implausible,
        },
    )
    return seq, notes


def _detect(p: Path) -> bool:
    if p.is_file():
        return p.suffix.lower() == ".bvh"
    for pat in ("*.bvh", "*/*.bvh", "*/*/*.bvh"):
        for f in p.glob(pat):
            if _NAME.match(f.stem):
                return True
    return False


@register_loader(
    "cmu_mocap",
    detect=_detect,
    description="CMU motion capture BVH clips (cmu43 cm / cmu31 ASF units) as h36m17 metres, Y up",
)
def load(
    path: Path,
    layout: Literal["h36m17", "native"] = "h36m17",
    fps: float | None = None,
    skip_reference: bool = True,
    test_subjects: tuple[int, ...] = TEST_SUBJECTS,
    scale: float | None = None,
    drop_implausible: bool = True,
) -> SkeletonDataset:
    """Every .bvh below `path` (or the one file), with descriptions, coarse labels and a subject split.

    `fps` downsamples (integer ratios take every k-th frame, others interpolate positions linearly);
    `scale` overrides the metres-per-unit factor (needed for non-CMU skeletons).
    `drop_implausible` leaves out clips whose poses cannot be upright human motion (see
    MIN_PELVIS_LIFT; in our copy only 09_10), reporting them as faults.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.bvh"), key=lambda f: f.stem)
    if not files:
        raise PosenasError(f"{path}: no .bvh files found")
    faults: list[Fault] = []
    index_files = _find_up(path, INDEX_FILE)
    descriptions = _read_tsv(index_files[0]) if index_files else {}
    if not index_files:
        faults.append(Fault(str(path), f"no {INDEX_FILE} next to or above the data; no descriptions",
                            dropped=False))
    labels: dict[str, str] = {}
    for lf in _find_up(path, LABELS_GLOB, pattern=True) or _find_up(path, f"*/{LABELS_GLOB}", pattern=True):
        labels.update(_read_tsv(lf))  # subject column ignored: it has errors; the motion id is right

    sequences: list[SkeletonSequence] = []
    for f in files:
        try:
            clip = read_bvh(f)
            seq, notes = clip_to_sequence(clip, f.stem, layout=layout, fps=fps,
                                          skip_reference=skip_reference, scale=scale)
        except DataFormatError as e:
            if path.is_file():
                raise
            faults.append(Fault.from_error(e, seq_id=f.stem))
            continue
        drop = drop_implausible and seq.meta["implausible"]
        faults.extend(Fault(str(f), n, seq_id=f.stem, dropped=drop and n.startswith("implausible"))
                      for n in notes)
        if drop:
            continue
        desc = descriptions.get(f.stem)
        seq.meta["description"] = desc
        seq.action_name = labels.get(f.stem) or (coarse_label(desc) if desc else None)
        seq.meta["label_source"] = "subset_labels" if f.stem in labels else ("index" if desc else None)
        sequences.append(seq)

    classes = sorted({s.action_name for s in sequences if s.action_name})
    for s in sequences:
        s.action = classes.index(s.action_name) if s.action_name else None
    held = set(test_subjects)
    protocols = {
        "cross_subject": Split(
            "cross_subject",
            train=tuple(s.seq_id for s in sequences if s.subject is not None and s.subject not in held),
            test=tuple(s.seq_id for s in sequences if s.subject in held),
        )
    }
    layouts = sorted({s.layout for s in sequences})
    return SkeletonDataset(
        name="cmu_mocap",
        root=path,
        layout=layouts[0] if len(layouts) == 1 else ",".join(layouts),
        sequences=sequences,
        classes=classes,
        faults=faults,
        protocols=protocols,
        meta={
            "units": "m" if all(s.meta["units"] == "m" for s in sequences) else "mixed",
            "up_axis": "y",
            "test_subjects": sorted(held),
            "index": str(index_files[0]) if index_files else None,
            "approximations": {"cmu43": CMU43_APPROX, "cmu31": CMU31_APPROX},
            "acknowledgement": "The data used in this project was obtained from mocap.cs.cmu.edu. "
                               "The database was created with funding from NSF EIA-0196217.",
        },
    )

