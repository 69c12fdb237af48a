"""Single-view 3D on real calibrated video, scored against multi-view triangulation.

The shared Pose2Sim "Demo_MultiPerson" capture (4 synchronised, calibrated cameras, several people)
gives a per-person pseudo ground truth: detect and track people in every view (the multi-person
MediaPipe detector + `PoseTracker`), associate the tracks across views (pairwise two-view
triangulation error of the same frames), triangulate every joint by DLT from the views that see it
(undistorted with the Qualisys calibration; views whose reprojection error is far off are dropped, a
joint is kept only with enough views and a small error). Then every single-view 3D estimate is scored,
for every camera and person, against that pseudo ground truth expressed in the camera's axes:

* P-MPJPE (per-pose similarity alignment) and MPJPE after root alignment (mid-hip at 0),
  on the 12 limb joints both skeletons define (shoulders, elbows, wrists, hips, knees, ankles): the
  lifter's h36m17 torso and head joints are mocap joints, MediaPipe's are not.
* Rows: the shipped lifter (two-stream, centred and causal), each stream of the two-stream model on
  its own (its pose-stream and motion-stream heads; no separately trained single-stream checkpoint
  ships), MediaPipe's own 3D (`pose_world_landmarks`), and the sequence mean pose (each person's
  pseudo-ground-truth poses, root-centred and averaged over the clip: a constant pose that knows the
  person's proportions - an oracle lower bar).

The capture is a test set: nothing here trains or selects anything on it. Writes
benchmarks/results/real_video.md and .json.

    .venv/bin/python benchmarks/bench_real_video.py [--data ../shared/data/pose2sim_multiperson]
        [--lifter LABEL=checkpoint.pt ...]   (extra lifter rows beside the shipped ones)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer

os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "pose2sim_multiperson"
EVAL_JOINTS = ("left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
               "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle")


# --- detection, tracking, association ----------------------------------------------------------------
def detect_views(videos: list[Path], cache: Path | None, detector_options: dict) -> dict[str, "object"]:
    """Tracked multi-person detections (mediapipe33, with world landmarks) per video stem; cached as pickles."""
    import pickle

    from posenas.platform.detection.detectors import get_detector
    from posenas.platform.detection.tracking import PoseTracker

    out, timing = {}, {}
    for v in videos:
        tag = hashlib.sha256(json.dumps(detector_options, sort_keys=True).encode()).hexdigest()[:10]
        key = cache / f"{v.stem}-{tag}.pkl" if cache else None
        if key is not None and key.is_file():
            out[v.stem] = pickle.loads(key.read_bytes())
            continue
        t0 = time.perf_counter()
        det = get_detector("mediapipe", **detector_options).detect_video(v)
        timing[v.stem] = time.perf_counter() - t0
        det.meta["detect_seconds"] = timing[v.stem]
        tracked = PoseTracker().track(det)
        out[v.stem] = tracked
        if key is not None:
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_bytes(pickle.dumps(tracked))
    return out


# --- single-view 3D estimates ----------------------------------------------------------------------------
def lift_streams(lifter, kp: np.ndarray, conf: np.ndarray, width: int, height: int) -> dict[str, np.ndarray]:
    """The two-stream model's fused output and each stream head's own, (T, 17, 3) metres each."""
    import torch

    from posenas.platform.lifting.inference import prepare_inputs

    x, c = prepare_inputs(kp, conf, width, height)
    left, right = lifter.config.pad
    xp = np.pad(x, ((left, right), (0, 0), (0, 0)), mode="edge")
    cp = np.pad(c, ((left, right), (0, 0)), mode="edge")
    model = lifter.model
    model.eval()
    with torch.no_grad():
        xs, cs = torch.from_numpy(xp)[None], torch.from_numpy(cp)[None]
        if hasattr(model, "forward_streams"):
            out = model.forward_streams(xs, cs)
            return {k: out[k][0].numpy() for k in ("fused", "pose", "motion")}
        return {"fused": model(xs, cs)[0].numpy()}


def _training_fps(lifter) -> float | None:
    """The frame rate of the lifter's training data, as its checkpoint records it."""
    fps = {src.get("fps") for src in (lifter.info.get("data") or {}).get("sources", []) if src.get("fps")}
    return float(fps.pop()) if len(fps) == 1 else None


def lift_resampled(lifter, kp: np.ndarray, conf: np.ndarray, width: int, height: int, fps: float,
                   train_fps: float) -> np.ndarray:
    """Lift a (T, 17, 2) track at the lifter's training frame rate: 2D linearly resampled to `train_fps`,
    lifted, 3D resampled back to the clip's frames. The motion stream then sees the speeds it was trained on."""
    t = len(kp)
    src = np.arange(t) / fps
    dst = np.arange(0.0, src[-1] + 1e-9, 1.0 / train_fps)

    def resample(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(a), -1)
        return np.stack([np.interp(b, a, flat[:, k]) for k in range(flat.shape[1])], 1).reshape((len(b),) + x.shape[1:])

    ok = np.isfinite(kp).all(-1) & (conf > 0)
    k2 = resample(np.where(ok[..., None], kp, 0.0), src, dst)
    c2 = resample(np.where(ok, conf, 0.0), src, dst)
    y = lifter.lift(k2.astype(np.float32), c2.astype(np.float32), width, height)
    return resample(y, dst, src).astype(np.float32)


def _scores(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame P-MPJPE, root-aligned MPJPE (mm) and per-joint aligned errors (N, 12) of (N, 12, 3) poses
    (mid-hip = root)."""
    from posenas.core.metrics import procrustes_align

    hips = [EVAL_JOINTS.index("left_hip"), EVAL_JOINTS.index("right_hip")]
    aligned = procrustes_align(pred, gt)
    pj = np.linalg.norm(aligned - gt, axis=-1) * 1000
    pr = pred - pred[:, hips].mean(1, keepdims=True)
    gr = gt - gt[:, hips].mean(1, keepdims=True)
    r = np.linalg.norm(pr - gr, axis=-1).mean(-1) * 1000
    return pj.mean(-1), r, pj


def main(
    data: Path = typer.Option(DEFAULT_DATA, help="pose2sim_multiperson folder (videos/, calibration/)."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "real_video", help="Results stem (.md, .json)."),
    cache: Optional[Path] = typer.Option(None, help="Cache tracked detections here (reruns skip detection)."),
    max_error: float = typer.Option(40.0, help="Triangulation: largest reprojection error (px) of a kept view."),
    min_views: int = typer.Option(2, help="Triangulation: views a joint needs (views beyond 2 are checked "
                                          "against each other; the worst is dropped while over --max-error)."),
    assoc_cost: float = typer.Option(60.0, help="Cross-view association: largest median 2-view error (px)."),
    num_poses: int = typer.Option(4, help="People per frame the detector looks for."),
    lifter: list[str] = typer.Option([], "--lifter", help="Extra lifter checkpoint as LABEL=PATH (or PATH: label = "
                                                           "file stem), repeatable; each adds its rows to the table."),
) -> None:
    from posenas.core.skeleton import get_layout
    from posenas.platform.detection.multiview import associate, read_qualisys, triangulate_person
    from posenas.platform.detection.tracking import fill_track_gaps
    from posenas.platform.lifting.inference import CAUSAL_CHECKPOINT, DEFAULT_CHECKPOINT, load_lifter

    extra = _parse_lifters(lifter)
    lifters = {"two-stream": load_lifter(DEFAULT_CHECKPOINT), "two-stream causal": load_lifter(CAUSAL_CHECKPOINT),
               **{label: load_lifter(path) for label, path in extra.items()}}
    t_start = time.perf_counter()
    cams = {c.name: c for c in read_qualisys(data / "calibration" / "Calib.qca.txt")}
    videos = sorted((data / "videos").glob("cam*.mp4"))
    tracked = detect_views(videos, cache, {"num_poses": num_poses})
    h36 = {n: d.to_layout("h36m17") for n, d in tracked.items()}
    lay = get_layout("h36m17")
    ev = [lay.index(j) for j in EVAL_JOINTS]
    und = {}
    for n, d in h36.items():
        kp = np.where((d.scores > 0.5)[..., None], d.keypoints, np.nan)
        und[n] = cams[n].undistort(kp)
    groups = associate(cams, und, assoc_cost)
    people = []
    for g in groups:
        X, err, nv = triangulate_person(cams, und, g, max_error, min_views)
        people.append({"views": g, "X": X, "err": err, "nv": nv})
    people.sort(key=lambda p: -np.isfinite(p["X"][:, ev]).all(-1).all(-1).sum())

    rows: dict[str, dict[str, list[np.ndarray]]] = {}

    per_joint: dict[str, list[np.ndarray]] = {}

    def add(method: str, cam: str, p: np.ndarray, r: np.ndarray, pj: np.ndarray) -> None:
        rows.setdefault(method, {}).setdefault(cam, []).append(np.stack([p, r], 1))
        per_joint.setdefault(method, []).append(pj)

    coverage = []
    for pi, person in enumerate(people):
        X = person["X"]
        valid = np.isfinite(X[:, ev]).all(-1).all(-1)
        mean_pose = X[valid][:, ev] - X[valid][:, ev].mean(1, keepdims=True)
        mean_pose = mean_pose.mean(0)
        for cam, slot in sorted(person["views"].items()):
            c = cams[cam]
            det = h36[cam].select_persons([slot])
            span = det.detected()[:, 0]
            frames = np.nonzero(valid & span)[0]
            coverage.append({"person": pi, "camera": cam, "track": slot, "frames_scored": int(len(frames))})
            if len(frames) == 0:
                continue
            gt = c.to_camera(X[frames][:, ev])
            filled = fill_track_gaps(det, max_gap=30)
            first, last = np.nonzero(span)[0][[0, -1]]
            kp, sc = filled.keypoints[first:last + 1, 0], filled.scores[first:last + 1, 0]
            sel = frames - first
            for tag, lifter_ in lifters.items():
                outs = lift_streams(lifter_, kp, sc, det.width, det.height)
                add(f"lifter {tag}", cam, *_scores(outs["fused"][sel][:, ev], gt))
                for stream in ("pose", "motion"):
                    if stream in outs:
                        add(f"lifter {tag}: {stream} stream alone", cam, *_scores(outs[stream][sel][:, ev], gt))
                train_fps = _training_fps(lifter_)
                if train_fps and abs(train_fps - det.fps) > 1:
                    res3d = lift_resampled(lifter_, kp, sc, det.width, det.height, det.fps, train_fps)
                    add(f"lifter {tag}, 2D resampled to its training {train_fps:g} fps", cam,
                        *_scores(res3d[sel][:, ev], gt))
            world = det.world[frames, 0][:, ev]
            ok = np.isfinite(world).all(-1).all(-1)
            if ok.any():
                add("MediaPipe world landmarks", cam, *_scores(world[ok], gt[ok]))
            const = np.repeat((mean_pose @ c.R.T)[None], len(frames), 0)  # world-fixed, seen from this camera
            add("sequence mean pose (oracle)", cam, *_scores(const, gt))

    cam_names = sorted(cams)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for method, per_cam in rows.items():
        table[method] = {}
        for cam in cam_names + ["all"]:
            arrs = per_cam.get(cam) if cam != "all" else [a for v in per_cam.values() for a in v]
            if not arrs:
                continue
            a = np.concatenate(arrs)
            table[method][cam] = {"p_mpjpe_median": float(np.median(a[:, 0])), "p_mpjpe_mean": float(a[:, 0].mean()),
                                  "mpjpe_root_median": float(np.median(a[:, 1])), "frames": int(len(a))}
    joints = {m: dict(zip(EVAL_JOINTS, np.round(np.median(np.concatenate(v), axis=0), 1).tolist()))
              for m, v in per_joint.items()}
    reproj = {}
    for pi, person in enumerate(people):
        e = person["err"][:, ev]
        reproj[f"person {pi}"] = {
            "views": person["views"], "median_px": float(np.nanmedian(e)) if np.isfinite(e).any() else None,
            "p90_px": float(np.nanpercentile(e, 90)) if np.isfinite(e).any() else None,
            "frames_all_joints": int(np.isfinite(person["X"][:, ev]).all(-1).all(-1).sum()),
            "two_view_share": float((person["nv"][:, ev] == 2).sum() / max(1, (person["nv"][:, ev] > 0).sum())),
            "mean_views": float(person["nv"][:, ev][person["nv"][:, ev] > 0].mean()) if (person["nv"][:, ev] > 0).any() else 0.0,
        }
    tracks = {n: {"tracks": d.meta["tracks"], "dropped": d.meta["dropped_tracks"],
                  "detect_seconds": d.meta.get("detect_seconds")} for n, d in tracked.items()}
    result = {"data": str(data), "cameras": cam_names,
              "extra_lifters": {label: {"path": str(path), "rows": f"lifter {label}",
                                        "command": (lifters[label].info.get("meta") or {}).get("command"),
                                        "held_out": {k: {m: round(1000 * v[m], 1) for m in ("mpjpe", "p_mpjpe")}
                                                     for k, v in (lifters[label].info.get("metrics") or {}).items()
                                                     if isinstance(v, dict) and "p_mpjpe" in v}}
                                for label, path in extra.items()}, "eval_joints": list(EVAL_JOINTS), "table": table, "per_joint_p_mpjpe_median": joints,
              "triangulation": reproj, "coverage": coverage, "tracks": tracks,
              "settings": {"max_error_px": max_error, "min_views": min_views, "assoc_cost_px": assoc_cost,
                           "num_poses": num_poses},
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "seconds": time.perf_counter() - t_start}
    md = _markdown(result)
    print(md)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))


def _parse_lifters(specs: list[str]) -> dict[str, Path]:
    """`--lifter LABEL=PATH` / `--lifter PATH` -> {label: path}; a missing file or a repeated label is a usage error."""
    out: dict[str, Path] = {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        p = Path(path if sep else spec)
        label = label if sep else p.stem
        if not p.is_file():
            raise typer.BadParameter(f"{p}: no such checkpoint file", param_hint="--lifter")
        if label in out or label in ("two-stream", "two-stream causal"):
            raise typer.BadParameter(f"label {label!r} used twice", param_hint="--lifter")
        out[label] = p
    return out


def _markdown(res: dict) -> str:
    cams = res["cameras"]
    lines = ["# Single-view 3D on real calibrated video (Pose2Sim Demo_MultiPerson, 4 cameras)", "",
             "Median P-MPJPE / root-aligned MPJPE in mm against 4-view DLT triangulation of the tracked MediaPipe "
             f"keypoints (pseudo ground truth), {len(res['eval_joints'])} limb joints; frames scored in brackets.", "",
             "| method | " + " | ".join(cams) + " | all |", "|---|" + "---|" * (len(cams) + 1)]
    for method, per in res["table"].items():
        cells = []
        for cam in cams + ["all"]:
            v = per.get(cam)
            cells.append("-" if v is None else f"{v['p_mpjpe_median']:.0f} / {v['mpjpe_root_median']:.0f} ({v['frames']})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    tab = res["table"]
    mp = tab.get("MediaPipe world landmarks", {})
    extra_rows = [e["rows"] for e in res.get("extra_lifters", {}).values()]
    for i, row in enumerate(["lifter two-stream causal"] + extra_rows):
        lf, goal = tab.get(row, {}), []
        for cam in cams:
            if cam in lf and cam in mp:
                rel = 100 * (1 - lf[cam]["p_mpjpe_median"] / mp[cam]["p_mpjpe_median"])
                goal.append((cam, rel))
        if not goal:
            continue
        text = ", ".join(f"{cam} {rel:+.0f}%" for cam, rel in goal) + ". " + (
            "Met." if all(rel >= 15 for _, rel in goal) else "Not met.")
        if i == 0:
            lines += ["", "Goal (shipped causal lifter >= 15% below MediaPipe world landmarks in median P-MPJPE on "
                      "every camera); lifter's improvement over MediaPipe: " + text]
        else:
            lines += ["", f"`{row}` (extra checkpoint {res['extra_lifters'][row[len('lifter '):]]['path']}) "
                      "against MediaPipe: " + text]
    pj = res["per_joint_p_mpjpe_median"]
    keys = [k for k in pj if k in ("lifter two-stream", "lifter two-stream causal", "MediaPipe world landmarks",
                                   "sequence mean pose (oracle)") or k in extra_rows]
    short = {j: j.replace("left_", "L ").replace("right_", "R ") for j in res["eval_joints"]}
    lines += ["", "Median aligned error per joint (mm, all cameras):", "",
              "| method | " + " | ".join(short[j] for j in res["eval_joints"]) + " |",
              "|---|" + "---|" * len(res["eval_joints"])]
    lines += [f"| {k} | " + " | ".join(f"{pj[k][j]:.0f}" for j in res["eval_joints"]) + " |" for k in keys]
    if res.get("extra_lifters"):
        lines += ["", "Extra lifters (`--lifter`), with the training command and held-out numbers (mm, MPJPE / P-MPJPE) "
                  "their checkpoints record:", ""]
        for label, e in res["extra_lifters"].items():
            held = ", ".join(f"{k} {v['mpjpe']:.1f} / {v['p_mpjpe']:.1f}" for k, v in e["held_out"].items())
            lines.append(f"- `{label}`: `{e['command']}`; {held or 'no held-out metrics recorded'}")
    lines += ["", "Triangulation (pseudo ground truth) reprojection error, px, on the scored joints:", ""]
    lines += ["| person | views (camera: track) | median | p90 | frames with all joints | mean views per joint "
              "| joints from 2 views only |", "|---|---|---|---|---|---|---|"]
    for name, r in res["triangulation"].items():
        views = ", ".join(f"{k}: {v}" for k, v in sorted(r["views"].items()))
        med = "-" if r["median_px"] is None else f"{r['median_px']:.1f}"
        p90 = "-" if r["p90_px"] is None else f"{r['p90_px']:.1f}"
        lines.append(f"| {name} | {views} | {med} | {p90} | {r['frames_all_joints']} | {r['mean_views']:.2f} "
                     f"| {100 * r['two_view_share']:.0f}% |")
    s = res["settings"]
    lines += ["", "Notes: the pseudo ground truth is triangulated from MediaPipe's own 2D keypoints, so it shares their "
              "joint definitions (where hips and shoulders sit), which favours MediaPipe's world landmarks; the lifter "
              "predicts CMU mocap joints. The stream rows are the heads of each two-stream model run alone (no "
              "separately trained single-stream checkpoint ships). The sequence mean pose uses each person's own "
              "pseudo ground truth (an oracle). Nothing was trained or tuned on this capture."]
    lines += ["", f"Settings: a joint is triangulated from >= {s['min_views']} views with every kept view within "
              f"{s['max_error_px']:.0f} px; tracks are associated across views below {s['assoc_cost_px']:.0f} px median "
              f"two-view error; detector num_poses={s['num_poses']}. {res['machine']}, {res['seconds']:.0f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    typer.run(main)
