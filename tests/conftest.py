"""Shared fixtures (where the real datasets are, one local Ray per test module) and the test process's exit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TQDM_DISABLE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """POSENAS_DATA if set, else ../shared/data beside the repository."""
    env = os.environ.get("POSENAS_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


# --- the test process's own exit -------------------------------------------------------------------
# CI once died with SIGSEGV *after* "650 passed" was printed (stop 24, exit 139): the crash was in the
# interpreter's teardown, not in a test. By then this one process holds ~45 native threads (Ray's core
# worker and Tune's queues, MediaPipe graphs, torch pools, Arrow's S3 client), and finalising their
# modules in whatever order the interpreter picks is not something any test checks; the commands users
# run are tested as subprocesses with their exit codes checked. So the session releases what it can
# explicitly (Ray, Arrow's S3 SDK), runs the atexit handlers (pytest's own lock-file removal among them),
# then leaves with pytest's exit status, skipping module teardown and C++ static destructors.
# POSENAS_TEST_FULL_TEARDOWN=1 keeps the normal teardown, with faulthandler on, to chase such a crash.
_SESSION = pytest.StashKey[pytest.Session]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION] = session


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    import faulthandler
    import gc

    session = config.stash.get(_SESSION, None)
    if session is None:  # no session ran (e.g. --help)
        return
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    gc.collect()
    if "pyarrow._s3fs" in sys.modules:
        import pyarrow.fs

        pyarrow.fs.ensure_s3_finalized()
    if os.environ.get("POSENAS_TEST_FULL_TEARDOWN") == "1":
        faulthandler.enable(all_threads=True)
        return
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(session.exitstatus))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real datasets not found at {root} (set POSENAS_DATA)")
    return root


def _sub(name: str):
    @pytest.fixture(scope="session")
    def fixture(shared_data: Path) -> Path:
        p = shared_data / name
        if not p.exists():
            pytest.skip(f"{p} not found")
        return p

    return fixture


msr_root = _sub("msr_action3d")
utkinect_root = _sub("utkinect_action3d")
cmu_root = _sub("cmu_mocap")
pose2sim_root = _sub("pose2sim_multiperson")


@pytest.fixture(scope="module")
def ray_local():
    """One embedded Ray per test module (starting Ray costs ~4 s here)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_action_model(tmp_path_factory) -> Path:
    """An untrained 4-class cell network checkpoint in the canonical pose space (for API tests)."""
    from dataclasses import asdict

    import numpy as np
    import torch

    from posenas.platform.classification.cellnet import ChildNet, NetConfig
    from posenas.platform.classification.checkpoint import save_classifier
    from posenas.platform.classification.genotype import random_genotype
    from posenas.platform.encoding.pose_space import CANONICAL_SPACE
    from posenas.platform.encoding.spmf import EncodingConfig

    torch.manual_seed(0)
    g = random_genotype(2, np.random.default_rng(0))
    net = NetConfig(channels=4, num_nodes=2, num_classes=4)
    path = tmp_path_factory.mktemp("models") / "tiny_action.pt"
    save_classifier(path, ChildNet(g, net), "cellnet", {"genotype": g.to_dict(), "net": net.to_dict()},
                    ["wave", "kick", "clap", "bend"], asdict(EncodingConfig()), dict(CANONICAL_SPACE),
                    meta={"note": "untrained, tests only"})
    return path


@pytest.fixture(scope="session")
def real_clip(tmp_path_factory) -> Path:
    """The first 24 frames of the real multi-person capture (cam01), at half size, as an H.264 mp4."""
    root = shared_data_root() / "pose2sim_multiperson" / "videos" / "cam01.mp4"
    if not root.is_file():
        pytest.skip(f"{root} not found")
    import av
    import cv2

    from posenas.core.video import write_video

    with av.open(str(root)) as c:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), (544, 960))
                  for _, f in zip(range(24), c.decode(video=0))]
    path = tmp_path_factory.mktemp("clips") / "cam01_24.mp4"
    write_video(path, frames, 60.0)
    return path


@pytest.fixture(scope="session")
def tiny_msr(msr_root: Path, tmp_path_factory) -> Path:
    """3 actions x 5 subjects x 1 execution of the real MSR Action3D (symlinks): a search epoch in seconds."""
    root = tmp_path_factory.mktemp("msr_tiny")
    real = root / "MSRAction3DSkeletonReal3D"
    real.mkdir()
    for a in ("02", "03", "05"):
        for s in ("01", "02", "03", "04", "05"):
            name = f"a{a}_s{s}_e01_skeleton3D.txt"
            (real / name).symlink_to(msr_root / "MSRAction3DSkeletonReal3D" / name)
    return root


# --- synthetic video and lifter for pipeline/extract tests ----------------------------------------
def _make_person_video(path: Path, n: int = 16, blank=(7, 8), fps: float = 25.0) -> Path:
    """A clip of the astronaut photo sliding right by 3 px a frame, with the `blank` frames empty."""
    import cv2
    from skimage import data

    from posenas.core.video import write_video

    crop = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        f = np.full((288, 352, 3), 40, np.uint8)
        if i not in blank:
            f[16:272, 20 + 3 * i : 276 + 3 * i] = crop
        frames.append(f)
    write_video(path, frames, fps)
    return path


def _small_lifter_checkpoint(path: Path) -> Path:
    """An untrained small two-stream lifter saved as a real checkpoint: tests the plumbing, not accuracy."""
    import torch

    from posenas.platform.lifting.checkpoint import save_checkpoint
    from posenas.platform.lifting.config import LifterConfig
    from posenas.platform.lifting.models import build_model

    torch.manual_seed(0)
    cfg = LifterConfig(filter_widths=(3, 3), pose_hidden=64, motion_channels=32)
    return save_checkpoint(path, build_model(cfg), cfg, meta={"note": "untrained, tests only"})


@pytest.fixture(scope="session")
def make_person_video():
    """`make_person_video(path, n=16, blank=(7, 8), fps=25.0) -> path` (see `_make_person_video`)."""
    return _make_person_video


@pytest.fixture(scope="session")
def small_lifter_checkpoint():
    """`small_lifter_checkpoint(path) -> path`: an untrained small lifter checkpoint."""
    return _small_lifter_checkpoint


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def _load_benchmark(name: str):
    """Import `benchmarks/<name>.py` as a module (benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # as `import` does; dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def load_benchmark():
    """`load_benchmark("bench_actions") -> module`, for tests of a benchmark script's options and tables."""
    return _load_benchmark


# =================================================================================================
# Writers that produce small files in each dataset's EXACT published format, for loader tests.
#
# None of SBU, NTU RGB+D, Human3.6M, OpenPose or COCO data is on this machine, so the tests write
# files the way the original tools do (same folder layout, separators, value counts, npz object
# arrays) and check that the loaders read back what was written. These writers deliberately do not
# use posenas code, so a loader bug cannot cancel out a writer bug. Tests reach them through the
# `writers` fixture.
# =================================================================================================


# --- motion ------------------------------------------------------------------------------------
def smooth_motion(rng: np.random.Generator, frames: int, joints: int, scale: float = 1.0,
                  centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(frames, joints, 3) float64: a random body-sized point cloud drifting smoothly over time."""
    base = rng.uniform(-0.5, 0.5, (joints, 3)) * np.array([0.6, 0.6, 1.8]) * scale
    phase = rng.uniform(0, 2 * np.pi, (joints, 3))
    t = np.arange(frames)[:, None, None] / 10.0
    return base[None] + 0.05 * scale * np.sin(t + phase[None]) + np.asarray(centre)


# --- SBU Kinect Interaction --------------------------------------------------------------------
def write_sbu_take(root: Path, pair: str, cls: int, take: int, joints: np.ndarray) -> Path:
    """sXXsYY/AA/NNN/skeleton_pos.txt with rows 'frame#,PA x,y,z x15,PB x,y,z x15' (normalised units)."""
    assert joints.shape[1:] == (2, 15, 3)
    d = root / pair / f"{cls:02d}" / f"{take:03d}"
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for t, frame in enumerate(joints):
        vals = ",".join(f"{v:.6f}" for v in frame.reshape(-1))
        lines.append(f"{t + 1},{vals}")
    path = d / "skeleton_pos.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- NTU RGB+D -----------------------------------------------------------------------------------
def write_ntu_skeleton(path: Path, frames: list[list[dict]]) -> Path:
    """A `.skeleton` file. Each frame is a list of bodies {"id": str, "xyz": (25, 3), "state": (25,)}."""
    rng = np.random.default_rng(len(frames))
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for b in bodies:
            # bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState
            # isRestricted leanX leanY trackingState
            out.append(f"{b['id']} 0 1 1 1 1 0 {rng.uniform(-0.1, 0.1):.8f} {rng.uniform(-0.1, 0.1):.8f} 2")
            out.append("25")
            for (x, y, z), s in zip(b["xyz"], b["state"]):
                dx, dy = 256 + 300 * x / z, 212 - 300 * y / z
                cx, cy = 960 + 1050 * x / z, 540 - 1050 * y / z
                out.append(f"{x:.7g} {y:.7g} {z:.7g} {dx:.7g} {dy:.7g} {cx:.7g} {cy:.7g} "
                           f"0.9 0.1 0.2 0.3 {int(s)}")
    path.write_text("\r\n".join(out) + "\r\n")  # the NTU files use CRLF line ends
    return path


# --- Human3.6M (VideoPose3D npz) -----------------------------------------------------------------
def write_h36m_3d(path: Path, positions: dict[str, dict[str, np.ndarray]]) -> Path:
    """data_3d_h36m.npz as VideoPose3D's prepare_data_h36m.py writes it (a dict saved as an object array)."""
    np.savez_compressed(path, positions_3d=positions)
    return path


def write_h36m_2d(path: Path, positions: dict[str, dict[str, list[np.ndarray]]],
                  layout_name: str | None = "h36m") -> Path:
    """data_2d_h36m_<source>.npz with positions_2d and metadata, as VideoPose3D writes it."""
    meta = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    if layout_name == "coco":
        meta["keypoints_symmetry"] = [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]
    if layout_name is not None:
        meta["layout_name"] = layout_name
    np.savez_compressed(path, positions_2d=positions, metadata=meta)
    return path


def look_at_rt(eye, target, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV extrinsics (X_cam = R X + t) of a camera at `eye` looking at `target` (world z up)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion (w, x, y, z) (via OpenCV's Rodrigues, independent of posenas)."""
    import cv2

    rvec = cv2.Rodrigues(np.asarray(m, dtype=np.float64))[0].ravel()
    angle = np.linalg.norm(rvec)
    axis = rvec / angle if angle > 0 else np.array([1.0, 0.0, 0.0])
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def videopose_extrinsics(R: np.ndarray, t: np.ndarray) -> dict:
    """VideoPose3D-style {"orientation": q (camera-to-world, w x y z), "translation": centre in mm}."""
    centre = -R.T @ t
    return {"orientation": matrix_to_quaternion(R.T).tolist(), "translation": (centre * 1000.0).tolist()}


def project_opencv(points: np.ndarray, R, t, intr: dict) -> np.ndarray:
    """Pixels (..., 2) of world points (..., 3) with cv2.projectPoints (OpenCV distortion model)."""
    import cv2

    fx, fy = intr["focal_length"]
    cx, cy = intr["center"]
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    k1, k2, k3 = intr["radial_distortion"]
    p1, p2 = intr["tangential_distortion"]
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    uv, _ = cv2.projectPoints(pts, cv2.Rodrigues(np.asarray(R, np.float64))[0], np.asarray(t, np.float64),
                              K, np.array([k1, k2, p1, p2, k3]))
    return uv.reshape(points.shape[:-1] + (2,))


# --- OpenPose -----------------------------------------------------------------------------------
def write_openpose_frame(folder: Path, video: str, frame: int, people: list[np.ndarray],
                         person_ids: list[int] | None = None) -> Path:
    """<video>_<frame:012d>_keypoints.json as OpenPose --write_json writes it (BODY_25)."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1.3, "people": []}
    for i, xyc in enumerate(people):
        doc["people"].append({
            "person_id": [person_ids[i] if person_ids else -1],
            "pose_keypoints_2d": [round(float(v), 3) for v in np.asarray(xyc).reshape(-1)],
            "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
            "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
            "hand_right_keypoints_3d": [],
        })
    path = folder / f"{video}_{frame:012d}_keypoints.json"
    path.write_text(json.dumps(doc))
    return path


# --- COCO ---------------------------------------------------------------------------------------
COCO_KEYPOINT_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
]


def write_coco(path: Path, images: list[dict], annotations: list[dict]) -> Path:
    """A COCO person-keypoints JSON (info, images, annotations, categories)."""
    doc = {
        "info": {"description": "posenas test"}, "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"supercategory": "person", "id": 1, "name": "person",
                        "keypoints": COCO_KEYPOINT_NAMES,
                        "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13]]}],
    }
    path.write_text(json.dumps(doc))
    return path


def coco_annotation(ann_id: int, image_id: int, xyv: np.ndarray, **extra) -> dict:
    xyv = np.asarray(xyv, dtype=np.float64)
    vis = xyv[:, 2] > 0
    x0, y0 = xyv[vis, :2].min(axis=0) if vis.any() else (0.0, 0.0)
    x1, y1 = xyv[vis, :2].max(axis=0) if vis.any() else (0.0, 0.0)
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "num_keypoints": int(vis.sum()), "area": float((x1 - x0) * (y1 - y0)),
            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
            "keypoints": [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(xyv.reshape(-1))], **extra}


@pytest.fixture(scope="session")
def writers() -> SimpleNamespace:
    """The dataset-format writers above (`writers.write_h36m_3d(...)`, ...)."""
    return SimpleNamespace(
        smooth_motion=smooth_motion,
        write_sbu_take=write_sbu_take,
        write_ntu_skeleton=write_ntu_skeleton,
        write_h36m_3d=write_h36m_3d,
        write_h36m_2d=write_h36m_2d,
        look_at_rt=look_at_rt,
        matrix_to_quaternion=matrix_to_quaternion,
        videopose_extrinsics=videopose_extrinsics,
        project_opencv=project_opencv,
        write_openpose_frame=write_openpose_frame,
        write_coco=write_coco,
        coco_annotation=coco_annotation,
        COCO_KEYPOINT_NAMES=COCO_KEYPOINT_NAMES,
    )


@pytest.fixture(scope="session")
def person_videos(tmp_path_factory) -> Path:
    """A folder of two short clips (6 and 5 frames) of the astronaut photo sliding right: a person
    MediaPipe finds, cheap enough for extract jobs on a cluster or an object store."""
    import cv2
    import numpy as np
    from skimage import data

    from posenas.core.video import write_video

    root = tmp_path_factory.mktemp("person_videos")
    crop = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    for name, n in (("walk", 6), ("jump", 5)):
        frames = []
        for i in range(n):
            f = np.full((288, 352, 3), 40, np.uint8)
            f[16:272, 20 + 3 * i: 276 + 3 * i] = crop
            frames.append(f)
        write_video(root / f"{name}.mp4", frames, 25.0)
    return root


@pytest.fixture(scope="session")
def action_model_checkpoint(tmp_path_factory) -> str | None:
    """None (the shipped action model) when it is installed, else a small untrained DenseNet checkpoint:
    tests of the plumbing (serving, CLI) then run before a model ships, without checking accuracy."""
    import dataclasses

    import torch

    from posenas.platform.classification.checkpoint import save_classifier
    from posenas.platform.classification.densenet import DenseNet, DenseNetConfig
    from posenas.platform.classification.inference import DEFAULT_CHECKPOINT
    from posenas.platform.encoding.spmf import EncodingConfig

    if DEFAULT_CHECKPOINT.is_file():
        return None
    classes = [f"action{i:02d}" for i in range(20)]
    torch.manual_seed(0)
    cfg = DenseNetConfig(num_classes=len(classes), growth_rate=4, block_config=(1, 1), init_features=8)
    enc = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(EncodingConfig()).items()}
    path = tmp_path_factory.mktemp("action_model") / "tiny_action.pt"
    return str(save_classifier(path, DenseNet(cfg), "densenet", cfg.to_dict(), classes, enc,
                               {"name": "canonical", "layout": "h36m17"}, meta={"note": "untrained, tests only"}))
