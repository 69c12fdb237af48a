"""Side-by-side result video: the input frame with the 2D skeleton, and the lifted 3D pose.

The 3D view is drawn with OpenCV lines through a fixed virtual camera (orthographic, turned 35
degrees about the vertical axis and tilted down 15 degrees) so consecutive frames are directly
comparable and rendering costs about a millisecond per frame, unlike a matplotlib figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from posenas.core.skeleton import get_layout

LEFT, RIGHT, CENTRE = (66, 135, 245), (235, 64, 52), (200, 200, 200)  # RGB
MIN_SCORE = 0.3  # 2D joints less sure than this are not drawn


def _colour(name: str) -> tuple[int, int, int]:
    if name.startswith("left_"):
        return LEFT
    if name.startswith("right_"):
        return RIGHT
    return CENTRE


def _view_matrix(azimuth_deg: float = 35.0, elevation_deg: float = 15.0) -> np.ndarray:
    """Rotation from camera axes (x right, y down, z forward) to the virtual view."""
    a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return (rx @ ry).astype(np.float32)


_VIEW = _view_matrix()


def draw_skeleton_2d(
    image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None, layout: str, thickness: int = 2,
    person_ids: list[int] | None = None,
) -> np.ndarray:
    """Draw one or more people's (P, J, 2) or (J, 2) pixel keypoints on a copy of an RGB image; with
    `person_ids`, each person's id is written above its head."""
    import cv2

    out = np.ascontiguousarray(image).copy()
    lay = get_layout(layout)
    kp = np.asarray(keypoints, np.float32).reshape(-1, lay.num_joints, 2)
    sc = np.ones(kp.shape[:2], np.float32) if scores is None else np.asarray(scores, np.float32).reshape(kp.shape[:2])
    ok = np.isfinite(kp).all(-1) & (sc >= MIN_SCORE)
    r = max(2, thickness + 1)
    for p in range(kp.shape[0]):
        for c, par in lay.bones:
            if ok[p, c] and ok[p, par]:
                cv2.line(out, tuple(int(v) for v in kp[p, c]), tuple(int(v) for v in kp[p, par]),
                         _colour(lay.joints[c]), thickness, cv2.LINE_AA)
        for j in np.nonzero(ok[p])[0]:
            cv2.circle(out, tuple(int(v) for v in kp[p, j]), r, _colour(lay.joints[j]), -1, cv2.LINE_AA)
        if person_ids is not None and p < len(person_ids) and ok[p].any():
            top = kp[p][ok[p]]
            x, y = int(top[:, 0].min()), int(top[:, 1].min()) - 3 * thickness
            _text(out, f"#{person_ids[p]}", (x, max(12, y)), 0.35 * thickness + 0.2, (255, 255, 0), thickness)
    return out


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int],
          thickness: int = 1) -> None:
    """Text with a dark outline, readable on any background."""
    import cv2

    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def draw_caption(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Write caption lines (e.g. the action label and top probabilities) at the top left of an RGB image."""
    if not lines:
        return image
    out = np.ascontiguousarray(image).copy()
    h = out.shape[0]
    scale = max(0.4, h / 900)
    thickness = max(1, h // 400)
    step = int(32 * scale) + 6
    for k, line in enumerate(lines):
        _text(out, line, (10, 10 + step * (k + 1)), scale, (255, 255, 255), thickness)
    return out


def draw_pose_3d(pose: np.ndarray | None, size: int, layout: str = "h36m17", metres_across: float = 2.2) -> np.ndarray:
    """A size x size RGB panel with root-relative 3D poses, (J, 3) or (P, J, 3) metres in camera axes (blank if
    None/NaN). Several persons are drawn side by side, each about its own root."""
    if pose is not None and np.asarray(pose).ndim == 3:
        poses = [q for q in np.asarray(pose, np.float32) if np.isfinite(q).all()]
        if len(poses) > 1:
            return _draw_many(poses, size, layout, metres_across)
        pose = poses[0] if poses else np.full(np.asarray(pose).shape[1:], np.nan, np.float32)
    import cv2

    panel = np.full((size, size, 3), 24, np.uint8)
    scale = size / metres_across
    centre = np.array([size / 2, size / 2], np.float32)

    def project(pts: np.ndarray) -> np.ndarray:
        v = pts @ _VIEW.T
        return v[..., :2] * scale + centre

    # A floor grid 0.9 m below the pelvis (about where the feet are), 2 m x 2 m, for depth cues.
    ticks = np.linspace(-1.0, 1.0, 5, dtype=np.float32)
    for t in ticks:
        for a, b in (((t, 0.9, -1.0), (t, 0.9, 1.0)), ((-1.0, 0.9, t), (1.0, 0.9, t))):
            pa, pb = project(np.array([a, b], np.float32))
            cv2.line(panel, tuple(int(v) for v in pa), tuple(int(v) for v in pb), (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(panel, "3D (m, root-relative)", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (180, 180, 180), 1, cv2.LINE_AA)
    if pose is None:
        return panel
    pose = np.asarray(pose, np.float32)
    if not np.isfinite(pose).all():
        cv2.putText(panel, "no pose", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (180, 180, 180), 1, cv2.LINE_AA)
        return panel
    lay = get_layout(layout)
    pts = project(pose)
    depth = (pose @ _VIEW.T)[:, 2]
    thickness = max(2, size // 160)
    # Far bones first so near ones are drawn over them.
    for c, par in sorted(lay.bones, key=lambda b: -(depth[b[0]] + depth[b[1]])):
        cv2.line(panel, tuple(int(v) for v in pts[c]), tuple(int(v) for v in pts[par]),
                 _colour(lay.joints[c]), thickness, cv2.LINE_AA)
    for j in range(lay.num_joints):
        cv2.circle(panel, tuple(int(v) for v in pts[j]), thickness + 1, _colour(lay.joints[j]), -1, cv2.LINE_AA)
    return panel


def _draw_many(poses: list[np.ndarray], size: int, layout: str, metres_across: float) -> np.ndarray:
    """Several persons in one panel: each pose offset along x by its slot, the panel widened in metres."""
    n = len(poses)
    spread = [q + np.array([(k - (n - 1) / 2) * 1.2, 0.0, 0.0], np.float32) for k, q in enumerate(poses)]
    panel = None
    for q in spread:
        single = draw_pose_3d(q, size, layout, metres_across * max(1.0, 0.6 * n))
        panel = single if panel is None else np.maximum(panel, single)
    return panel


def compose_frame(
    frame: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None, layout: str,
    pose_3d: np.ndarray | None, pose_layout: str = "h36m17", caption: list[str] | None = None,
    person_ids: list[int] | None = None,
) -> np.ndarray:
    """[frame with 2D skeletons, ids and caption | square 3D panel], both the frame's height."""
    left = draw_skeleton_2d(frame, keypoints, scores, layout, thickness=max(1, frame.shape[0] // 240),
                            person_ids=person_ids)
    left = draw_caption(left, caption or [])
    right = draw_pose_3d(pose_3d, frame.shape[0], pose_layout)
    return np.concatenate([left, right], axis=1)


def render_frames(
    frames: Iterable[np.ndarray], keypoints: np.ndarray, scores: np.ndarray, layout: str,
    poses_3d: np.ndarray | None, pose_layout: str = "h36m17", caption: list[str] | None = None,
    person_ids: list[int] | None = None,
) -> Iterator[np.ndarray]:
    """Composed frames for a clip: keypoints (T, P, J, 2), scores (T, P, J), poses_3d (T, P, 17, 3) or (T, 17, 3)."""
    for t, frame in enumerate(frames):
        if t >= len(keypoints):
            break
        pose = None if poses_3d is None else poses_3d[t]
        yield compose_frame(frame, keypoints[t], scores[t], layout, pose, pose_layout, caption, person_ids)


def render_video(
    video: str | Path, out: str | Path, keypoints: np.ndarray, scores: np.ndarray, layout: str,
    poses_3d: np.ndarray | None, fps: float, pose_layout: str = "h36m17", caption: list[str] | None = None,
    person_ids: list[int] | None = None,
) -> int:
    """Write the side-by-side H.264 mp4 (or a png when `out` ends in .png: one image); returns frames written."""
    import cv2

    from posenas.core.video import iter_frames, write_video

    frames = render_frames(iter_frames(video), keypoints, scores, layout, poses_3d, pose_layout, caption, person_ids)
    out = Path(out)
    if out.suffix.lower() == ".png":
        img = next(frames)
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        return 1
    return write_video(out, frames, fps)
