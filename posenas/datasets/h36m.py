"""Human3.6M in the VideoPose3D preprocessed format, and the 2D/3D pairs a lifter trains on.

Files (as written by VideoPose3D's ``prepare_data_h36m.py`` / ``prepare_data_2d_h36m_*.py``)::

    data_3d_h36m.npz            positions_3d: 0-d object array holding
                                {subject: {action: (T, 32, 3) float32 world metres}}
    data_2d_h36m_<source>.npz   positions_2d: {subject: {action: [4 x (T, J, 2) pixels]}} (camera order
                                54138969, 55011271, 58860488, 60457274); metadata: {"num_joints",
                                "keypoints_symmetry", optionally "layout_name" ("h36m" or "coco")}

Reading them needs ``allow_pickle=True``: only open files from a source you trust.

What is included (documented choices):

* The 32 -> 17 reduction is VideoPose3D's (keep joints 0,1,2,3,6,7,8,12,13,14,15,17,18,19,25,26,27),
  which gives layout "h36m17". fps is 50.
* `INTRINSICS`: the four cameras' published intrinsics (centre, focal, radial k1..k3, tangential
  p1, p2, resolution 1000x1002 / 1000x1000). posenas projects with the OpenCV (Brown-Conrady)
  model; the dataset's own tangential term differs slightly (< 0.5 px at these coefficients).
* Extrinsics are NOT shipped. `load_extrinsics(path)` reads a JSON file
  ``{"S1": [cam0, cam1, cam2, cam3], ...}`` whose entries are either VideoPose3D-style
  ``{"orientation": [w, x, y, z], "translation": [x, y, z] (mm)}`` (camera pose in the world, so
  ``X_cam = R(q)^T (X - t)``) or ``{"R": 3x3, "t": [3] metres}`` with ``X_cam = R X + t``. Without
  a file, `load_h36m_pairs` estimates each (subject, camera) pose by PnP from the 2D/3D
  correspondences (exact for ground-truth 2D; its RMS reprojection error is reported).
* Protocols "p1" and "p2" are the same split (train S1, S5, S6, S7, S8; test S9, S11); they differ
  only in the metric (MPJPE vs P-MPJPE after Procrustes alignment).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from posenas.datasets.registry import register_loader
from posenas.datasets.sequence import Fault, SkeletonDataset, SkeletonSequence, Split
from posenas.errors import DataFormatError, PosenasError
from posenas.core.skeleton import convert_to_h36m

FPS = 50.0
KEEP_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)
_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
# Published Human3.6M intrinsics, per camera (same for every subject).
INTRINSICS: tuple[dict[str, Any], ...] = (
    {"id": "54138969", "center": (512.54150390625, 515.4514770507812),
     "focal_length": (1145.0494384765625, 1143.7811279296875),
     "radial_distortion": (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
     "tangential_distortion": (-0.0009756988729350269, -0.00142447161488235), "res_w": 1000, "res_h": 1002},
    {"id": "55011271", "center": (508.8486328125, 508.0649108886719),
     "focal_length": (1149.6756591796875, 1147.5916748046875),
     "radial_distortion": (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
     "tangential_distortion": (-0.0016190266469493508, -0.0027408944442868233), "res_w": 1000, "res_h": 1000},
    {"id": "58860488", "center": (519.8158569335938, 501.40264892578125),
     "focal_length": (1149.1407470703125, 1148.7989501953125),
     "radial_distortion": (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
     "tangential_distortion": (0.0014843869721516967, -0.0007599993259645998), "res_w": 1000, "res_h": 1000},
    {"id": "60457274", "center": (514.9682006835938, 501.88201904296875),
     "focal_length": (1145.5113525390625, 1144.77392578125),
     "radial_distortion": (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
     "tangential_distortion": (-0.0005872055771760643, -0.0018133620033040643), "res_w": 1000, "res_h": 1002},
)
_H36M_LEFT = [4, 5, 6, 11, 12, 13]
_COCO_LEFT = [1, 3, 5, 7, 9, 11, 13, 15]
_3D_RE = re.compile(r"^data_3d_h36m.*\.npz$")
_2D_RE = re.compile(r"^data_2d_h36m_(?P<source>.+)\.npz$")


class H36mPair(NamedTuple):
    """One (subject, action, camera) view: 2D input in pixels, 3D target in the camera frame (metres)."""

    subject: str
    action: str
    camera: int  # index 0..3 into CAMERA_IDS / INTRINSICS
    kp2d: np.ndarray  # (T, 17, 2) pixels, h36m17
    pose3d_cam: np.ndarray  # (T, 17, 3) metres, camera frame (absolute, not root-relative)


# --- reading the npz files --------------------------------------------------------------------
def _object_item(path: Path, key: str) -> Any:
    # np.load with allow_pickle would unpickle a bare (non-zip) file; accept only real .npz archives.
    if not zipfile.is_zipfile(path):
        raise DataFormatError(path, "not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=True) as data:
            if key not in data.files:
                raise DataFormatError(path, "missing array", field=key)
            arr = data[key]
            return arr.item() if arr.dtype == object and arr.shape == () else arr
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise DataFormatError(path, f"not a readable .npz file ({e})") from None


def reduce_32_to_17(positions: np.ndarray) -> np.ndarray:
    """(..., 32, 3) Human3.6M joints -> (..., 17, 3) h36m17, as VideoPose3D does."""
    if positions.shape[-2] != 32:
        raise ValueError(f"expected 32 joints, got {positions.shape[-2]}")
    return positions[..., KEEP_17, :]


def read_positions_3d(path: str | Path, reduce: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """data_3d_h36m.npz -> {subject: {action: (T, 17|32, 3) float32 world metres}}."""
    path = Path(path)
    d = _object_item(path, "positions_3d")
    if not isinstance(d, dict):
        raise DataFormatError(path, f"expected a dict subject -> action -> array, got {type(d).__name__}",
                              field="positions_3d")
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in d.items():
        if not isinstance(actions, dict):
            raise DataFormatError(path, "expected a dict action -> array", field=f"positions_3d[{subject}]")
        out[str(subject)] = {}
        for action, arr in actions.items():
            a = np.asarray(arr, dtype=np.float32)
            if a.ndim != 3 or a.shape[1:] != (32, 3):
                raise DataFormatError(path, f"expected (T, 32, 3), got {a.shape}",
                                      field=f"positions_3d[{subject}][{action}]")
            out[str(subject)][str(action)] = reduce_32_to_17(a) if reduce else a
    return out


def read_positions_2d(path: str | Path) -> tuple[dict[str, dict[str, list[np.ndarray]]], str]:
    """data_2d_h36m_<source>.npz -> ({subject: {action: [4 x (T, J, 2)]}}, layout name)."""
    path = Path(path)
    meta = _object_item(path, "metadata")
    if not isinstance(meta, dict):
        raise DataFormatError(path, "expected a dict", field="metadata")
    layout = _layout_of(path, meta)
    num_joints = 17
    d = _object_item(path, "positions_2d")
    if not isinstance(d, dict):
        raise DataFormatError(path, f"expected a dict subject -> action -> cameras, got {type(d).__name__}",
                              field="positions_2d")
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in d.items():
        if not isinstance(actions, dict):
            raise DataFormatError(path, "expected a dict action -> cameras", field=f"positions_2d[{subject}]")
        out[str(subject)] = {}
        for action, cams in actions.items():
            where = f"positions_2d[{subject}][{action}]"
            if not isinstance(cams, (list, tuple)) or len(cams) != 4:
                raise DataFormatError(path, "expected a list of 4 camera arrays", field=where)
            arrs = []
            for c, arr in enumerate(cams):
                a = np.asarray(arr, dtype=np.float32)
                # Some detection files keep a score column (T, 17, 3); only x, y are used.
                if a.ndim != 3 or a.shape[1] != num_joints or a.shape[2] not in (2, 3):
                    raise DataFormatError(path, f"expected (T, {num_joints}, 2), got {a.shape}", field=f"{where}[{c}]")
                arrs.append(np.ascontiguousarray(a[..., :2]))
            out[str(subject)][str(action)] = arrs
    return out, layout


def _layout_of(path: Path, meta: dict) -> str:
    """h36m17 or coco17, from metadata layout_name or, failing that, the left-joint symmetry list."""
    if meta.get("num_joints") != 17:
        raise DataFormatError(path, f"posenas reads 17-joint keypoints, metadata says {meta.get('num_joints')}",
                              field="metadata.num_joints")
    name = meta.get("layout_name")
    if name in ("h36m", "coco"):
        return f"{name}17"
    sym = meta.get("keypoints_symmetry")
    left = list(np.asarray(sym[0]).tolist()) if sym is not None and len(sym) == 2 else None
    if left == _H36M_LEFT:
        return "h36m17"
    if left == _COCO_LEFT:
        return "coco17"
    raise DataFormatError(path, f"cannot tell the keypoint layout (layout_name={name!r}, symmetry={sym!r})",
                          field="metadata.keypoints_symmetry")


# --- cameras ----------------------------------------------------------------------------------
def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) -> 3x3 rotation matrix."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def make_camera(index: int, R: np.ndarray | None = None, t: np.ndarray | None = None):
    """posenas Camera of H36M camera `index` (0..3) with extrinsics X_cam = R X_world + t (identity if None)."""
    from posenas.core.camera import Camera

    c = INTRINSICS[index]
    return Camera(
        R=np.eye(3) if R is None else R, t=np.zeros(3) if t is None else t,
        fx=c["focal_length"][0], fy=c["focal_length"][1], cx=c["center"][0], cy=c["center"][1],
        k=np.array(c["radial_distortion"]), p=np.array(c["tangential_distortion"]),
        width=c["res_w"], height=c["res_h"],
    )


def load_extrinsics(path: str | Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """JSON extrinsics file (see module docstring) -> {subject: [4 x (R, t)]} with X_cam = R X + t, metres."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid JSON: {e.msg}", line=e.lineno) from None
    if not isinstance(doc, dict):
        raise DataFormatError(path, "expected an object subject -> list of 4 cameras")
    out = {}
    for subject, cams in doc.items():
        if not isinstance(cams, list) or len(cams) != 4:
            raise DataFormatError(path, "expected a list of 4 cameras", field=subject)
        out[subject] = []
        for i, cam in enumerate(cams):
            where = f"{subject}[{i}]"
            try:
                if isinstance(cam, dict) and {"orientation", "translation"} <= set(cam):
                    rot = quaternion_to_matrix(np.asarray(cam["orientation"], dtype=np.float64).reshape(4))
                    pos = np.asarray(cam["translation"], dtype=np.float64).reshape(3) / 1000.0
                    R, t = rot.T, -rot.T @ pos
                elif isinstance(cam, dict) and {"R", "t"} <= set(cam):
                    R = np.asarray(cam["R"], dtype=np.float64).reshape(3, 3)
                    t = np.asarray(cam["t"], dtype=np.float64).reshape(3)
                else:
                    raise DataFormatError(path, "needs orientation+translation or R+t", field=where)
            except (ValueError, TypeError) as e:
                raise DataFormatError(path, f"bad values ({e})", field=where) from None
            out[subject].append((R, t))
    return out


def estimate_extrinsics(
    points_world: np.ndarray, kp2d: np.ndarray, index: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """(R, t, RMS reprojection px) of H36M camera `index` from 3D world points (N, 3) and pixels (N, 2).

    PnP with the camera's known intrinsics and distortion (OpenCV); needs non-degenerate 3D points.
    """
    import cv2

    cam = make_camera(index)
    ok = np.isfinite(points_world).all(axis=1) & np.isfinite(kp2d).all(axis=1)
    obj = np.ascontiguousarray(points_world[ok], dtype=np.float64)
    img = np.ascontiguousarray(kp2d[ok], dtype=np.float64)
    if len(obj) < 6:
        raise PosenasError(f"camera {CAMERA_IDS[index]}: too few points ({len(obj)}) to estimate its pose")
    dist = np.array([cam.k[0], cam.k[1], cam.p[0], cam.p[1], cam.k[2]])
    good, rvec, tvec = cv2.solvePnP(obj, img, cam.K, dist, flags=cv2.SOLVEPNP_EPNP)
    if not good:
        raise PosenasError(f"camera {CAMERA_IDS[index]}: PnP failed")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, cam.K, dist, rvec, tvec)
    R = cv2.Rodrigues(rvec)[0]
    proj = make_camera(index, R, tvec.ravel()).project(obj)
    rms = float(np.sqrt(np.mean(np.sum((proj - img) ** 2, axis=-1))))
    return R, tvec.ravel(), rms


# --- pairs for the lifter ---------------------------------------------------------------------
def load_h36m_pairs(
    path_3d: str | Path,
    path_2d: str | Path,
    extrinsics: str | Path | None = None,
    subjects: tuple[str, ...] | None = None,
    faults: list[Fault] | None = None,
) -> list[H36mPair]:
    """(subject, action, camera, kp2d (T,17,2) px, pose3d_cam (T,17,3) m) for every view in both files.

    2D in COCO order (Detectron keypoints) is converted to h36m17 with the coco17 recipe. A 2D
    track longer than the 3D one is cut to the 3D length (as VideoPose3D does); a missing or
    shorter one is skipped and reported in `faults` (if a list is given). Without `extrinsics`
    each camera pose is estimated by PnP per subject; the RMS error goes to `faults` (kept).
    """
    pos3d = read_positions_3d(path_3d)
    pos2d, layout = read_positions_2d(path_2d)
    ext = load_extrinsics(extrinsics) if extrinsics is not None else None
    faults = faults if faults is not None else []
    pairs: list[H36mPair] = []
    for subject in sorted(pos3d, key=_subject_number):
        if subjects is not None and subject not in subjects:
            continue
        if subject not in pos2d:
            faults.append(Fault(str(path_2d), f"subject {subject} has no 2D keypoints", seq_id=subject))
            continue
        views: list[list[tuple[str, np.ndarray, np.ndarray]]] = [[] for _ in range(4)]
        for action in sorted(pos3d[subject]):
            p3 = pos3d[subject][action]
            if action not in pos2d[subject]:
                faults.append(Fault(str(path_2d), "no 2D keypoints for this action", seq_id=f"{subject}/{action}"))
                continue
            for c, kp in enumerate(pos2d[subject][action]):
                if len(kp) < len(p3):
                    faults.append(Fault(str(path_2d), f"camera {c}: {len(kp)} 2D frames < {len(p3)} 3D frames",
                                        seq_id=f"{subject}/{action}"))
                    continue
                kp = kp[: len(p3)]
                if layout != "h36m17":
                    kp = convert_to_h36m(kp, layout)
                views[c].append((action, kp, p3))
        for c in range(4):
            if not views[c]:
                continue
            if ext is not None:
                if subject not in ext:
                    raise PosenasError(f"{extrinsics}: no extrinsics for subject {subject}")
                R, t = ext[subject][c]
            else:
                # Up to 200 evenly spaced frames per action are plenty for 6 pose parameters.
                offsets = np.cumsum([0] + [len(p) for _, _, p in views[c]])[:-1]
                sel = np.concatenate([o + np.linspace(0, len(p) - 1, min(len(p), 200)).astype(int)
                                      for o, (_, _, p) in zip(offsets, views[c])])
                all3 = np.concatenate([p for _, _, p in views[c]])[sel].reshape(-1, 3)
                all2 = np.concatenate([k for _, k, _ in views[c]])[sel].reshape(-1, 2)
                R, t, rms = estimate_extrinsics(all3, all2, c)
                faults.append(Fault(str(path_2d), f"camera {CAMERA_IDS[c]} pose estimated by PnP, "
                                    f"RMS reprojection {rms:.2f} px", seq_id=subject, dropped=False))
            cam = make_camera(c, R, t)
            for action, kp, p3 in views[c]:
                pairs.append(H36mPair(subject, action, c, kp.astype(np.float32),
                                      cam.world_to_camera(p3).astype(np.float32)))
    return pairs


# --- dataset loader ---------------------------------------------------------------------------
def _subject_number(subject: str) -> int:
    m = re.match(r"^S(\d+)$", subject)
    return int(m[1]) if m else 10**6


def action_class(action: str) -> str | None:
    """'Directions 1' -> 'Directions', 'TakingPhoto' -> 'Photo'; None if not an H36M action."""
    base = re.sub(r"\s*\d+$", "", action)
    base = _ACTION_ALIASES.get(base, base)
    return base if base in ACTIONS else None


def _protocols(sequences: list[SkeletonSequence]) -> dict[str, Split]:
    train = tuple(s.seq_id for s in sequences if s.meta["subject_name"] in TRAIN_SUBJECTS)
    test = tuple(s.seq_id for s in sequences if s.meta["subject_name"] in TEST_SUBJECTS)
    return {name: Split(name, train, test) for name in ("p1", "p2")}


def _sequence(subject: str, action: str, joints: np.ndarray, layout: str, seq_id: str, **meta) -> SkeletonSequence:
    cls = action_class(action)
    return SkeletonSequence(
        joints=joints, layout=layout, fps=FPS, seq_id=seq_id, subject=_subject_number(subject)
        if _subject_number(subject) < 10**6 else None,
        action=ACTIONS.index(cls) if cls else None, action_name=cls,
        meta={"subject_name": subject, "action_take": action, **meta},
    )


def _find(path: Path, pattern: re.Pattern) -> list[Path]:
    if path.is_file():
        return [path] if pattern.match(path.name) else []
    return sorted(p for p in path.glob("*.npz") if pattern.match(p.name))


def _detect(path: Path) -> bool:
    return bool(_find(path, _3D_RE) or _find(path, _2D_RE)) if path.exists() else False


@register_loader("h36m", detect=_detect,
                 description="Human3.6M, VideoPose3D format (data_3d_h36m.npz / data_2d_h36m_<source>.npz)")
def load(path: Path, keypoints: str | None = None) -> SkeletonDataset:
    """3D world sequences (one per subject/action), or with `keypoints` = a 2D source name (e.g.
    "gt", "cpn_ft_h36m_dbb") or a data_2d file path, 2D sequences (one per subject/action/camera)."""
    path = Path(path)
    two_d = _find(path, _2D_RE)
    if path.is_file() and two_d:
        keypoints = keypoints or _2D_RE.match(path.name)["source"]
    if keypoints is None:
        files = _find(path, _3D_RE)
        if not files:
            raise PosenasError(f"{path}: no data_3d_h36m*.npz found")
        pos = read_positions_3d(files[0])
        seqs = [_sequence(s, a, arr[:, None], "h36m17", f"{s}/{a}", units="m", frame="world", source=str(files[0]))
                for s in sorted(pos, key=_subject_number) for a, arr in sorted(pos[s].items())]
        layout = "h36m17"
    else:
        folder = path.parent if path.is_file() else path
        f2 = path if two_d and path.is_file() else Path(keypoints) if keypoints.endswith(".npz") \
            else folder / f"data_2d_h36m_{keypoints}.npz"
        if not f2.is_file():
            found = [p.name for p in _find(folder, _2D_RE)]
            raise PosenasError(f"{f2}: no such 2D keypoint file; found: {found}")
        pos2, layout = read_positions_2d(f2)
        seqs = []
        for s in sorted(pos2, key=_subject_number):
            for a, cams in sorted(pos2[s].items()):
                for c, arr in enumerate(cams):
                    seqs.append(_sequence(
                        s, a, arr[:, None], layout, f"{s}/{a}/{CAMERA_IDS[c]}", units="pixels", camera=c,
                        camera_id=CAMERA_IDS[c], width=INTRINSICS[c]["res_w"], height=INTRINSICS[c]["res_h"],
                        source=str(f2)))
    return SkeletonDataset(
        name="h36m", root=path, layout=layout, sequences=seqs, classes=list(ACTIONS), protocols=_protocols(seqs),
        meta={"fps": FPS, "units": seqs[0].meta["units"] if seqs else None},
    )
