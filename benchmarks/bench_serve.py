"""Serve latency and throughput: 64-frame 2D keypoint clips over HTTP vs the Pipeline called in-process.

One run, on 127.0.0.1, of a bounded load generator (a fixed number of requests per setting, a time
cap, at most --concurrency in flight; it stops by itself): p50/p99 latency and requests/s for each
(lifter/classifier max_batch_size, lifter replicas) setting; a concurrency-1 row against the in-process
`Pipeline.run_keypoints` on the same clips (the Serve overhead); and one row of the video endpoint
against in-process `Pipeline.run_video` on the same video. Each setting is deployed with `serve.run`
(the deployments whose options changed restart) and warmed up before it is timed.

    .venv/bin/python benchmarks/bench_serve.py [--requests 200] [--concurrency 16] [--classifier PATH]

Writes benchmarks/results/serve.md and serve.json. Clips are real MSR Action3D Kinect 2D joints (msr20,
320x240) cut to 64 frames when ../shared/data is present, else smooth random walks.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POSENAS_DATA") or REPO.parent / "shared" / "data")
FRAMES = 64


def load_clips(n: int) -> tuple[list[dict[str, Any]], str]:
    """n request clips of FRAMES frames: MSR Action3D screen joints when present, else random walks."""
    root = DATA / "msr_action3d" / "MSRAction3DSkeleton20joints"
    clips: list[dict[str, Any]] = []
    if root.is_dir():
        from posenas.datasets.msr_action3d import read_screen

        for f in sorted(root.glob("*_skeleton.txt")):
            try:
                uv, _, conf, _ = read_screen(f)
            except Exception:
                continue
            if len(uv) < FRAMES or (conf[:FRAMES] <= 0).all():
                continue
            clips.append({"layout": "msr20", "width": 320, "height": 240, "fps": 15.0, "id": f.stem,
                          "keypoints": uv[:FRAMES, None].round(2).tolist(),
                          "scores": np.clip(conf[:FRAMES, None], 0, 1).tolist()})
            if len(clips) >= n:
                break
        if clips:
            return clips, f"{len(clips)} MSR Action3D screen-joint clips (msr20, 320x240), first 64 frames"
    rng = np.random.default_rng(0)
    while len(clips) < n:
        kp = rng.uniform(80, 240, (1, 1, 17, 2)) + np.cumsum(rng.normal(0, 1, (FRAMES, 1, 17, 2)), axis=0)
        clips.append({"layout": "h36m17", "width": 320, "height": 320, "keypoints": kp.round(2).tolist()})
    return clips, "random-walk h36m17 clips (no shared data)"


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


async def load_run(url: str, clips: list[dict[str, Any]], requests: int, concurrency: int,
                   max_seconds: float) -> dict[str, Any]:
    """`requests` one-clip POST /v1/score, at most `concurrency` in flight, stopping after `max_seconds`."""
    import httpx

    lat: list[float] = []
    statuses: dict[int, int] = {}
    batch_sizes: list[float] = []
    sent = 0
    deadline = time.perf_counter() + max_seconds
    bodies = [json.dumps({"clips": [c], "return_poses": False}).encode() for c in clips]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            body = bodies[sent % len(bodies)]
            sent += 1
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/score", content=body, headers={"content-type": "application/json"})
            lat.append(time.perf_counter() - t0)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 200:
                batch_sizes.append(r.json()["clips"][0]["timings"].get("lift_batch_size", 1))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ok = statuses.get(200, 0)
    return {"requests": len(lat), "ok": ok, "statuses": statuses, "seconds": wall, "rps": ok / wall,
            "p50_ms": 1000 * pct(lat, 50), "p99_ms": 1000 * pct(lat, 99),
            "mean_lift_batch": float(np.mean(batch_sizes)) if batch_sizes else None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(
    requests: int = typer.Option(200, help="Requests per load setting."),
    concurrency: int = typer.Option(16, help="Requests in flight in the load runs."),
    max_seconds: float = typer.Option(45.0, help="Time cap of one load run."),
    batch_sizes: str = typer.Option("1,8,32", help="max_batch_size values (lifter and classifier)."),
    replicas: str = typer.Option("1,2", help="Lifter replica counts (at the middle batch size)."),
    classifier: Optional[Path] = typer.Option(None, help="Action model checkpoint (default: the shipped one)."),
    video: Optional[Path] = typer.Option(None, help="Video for the video row (default: the Pose2Sim cam01 clip)."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "serve", help="Writes OUT.md and OUT.json."),
) -> None:
    import httpx
    from ray import serve

    import ray
    from posenas.platform.pipeline import Pipeline
    from posenas.serve.app import build_app, start
    from posenas.serve.config import load_serve_config

    load_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    clips, clip_source = load_clips(32)
    pipeline_cfg = {"classifier": {"checkpoint": None if classifier is None else str(classifier)}}
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    # in-process baseline first (the server is not up yet: no competition for the 2 cores), with one torch
    # thread like each replica (Ray sets OMP_NUM_THREADS=1 for fractional-CPU actors)
    import torch

    torch.set_num_threads(1)
    pipe = Pipeline.from_config(pipeline_cfg)
    arrays = [(np.array(c["keypoints"], np.float32), np.array(c["scores"], np.float32) if "scores" in c else None)
              for c in clips]
    pipe.run_keypoints(*arrays[0], clips[0]["layout"], clips[0]["width"], clips[0]["height"])  # warm-up
    inproc = []
    for i in range(min(requests, 100)):
        (kp, sc), c = arrays[i % len(arrays)], clips[i % len(clips)]
        t0 = time.perf_counter()
        pipe.run_keypoints(kp, sc, c["layout"], c["width"], c["height"], c.get("fps", 30.0))
        inproc.append(time.perf_counter() - t0)
    models = pipe.model_ids(with_detector=False)
    video = video or DATA / "pose2sim_multiperson" / "videos" / "cam01.mp4"
    video_row: dict[str, Any] = {}
    if video.is_file():
        pipe.run_video(video)  # warm-up (loads the detector)
        t0 = time.perf_counter()
        res = pipe.run_video(video)
        video_row = {"video": str(video.relative_to(DATA) if video.is_relative_to(DATA) else video),
                     "frames": res.num_frames, "in_process_s": time.perf_counter() - t0,
                     "in_process_detect_s": res.timings.get("detect")}
    del pipe

    base = {"pipeline": pipeline_cfg, "port": port, "ui": {"enabled": False}}
    rows: list[dict[str, Any]] = []
    bs = [int(b) for b in batch_sizes.split(",")]
    reps = [int(r) for r in replicas.split(",")]
    mid = bs[len(bs) // 2]
    settings = [(b, 1) for b in bs] + [(mid, r) for r in reps if r != 1]
    first = True
    for b, r in settings:
        batch = {"max_batch_size": b, "max_ongoing_requests": max(32, b), "batch_wait_timeout_s": 0.005}
        cfg = load_serve_config({**base, "lifter": {**batch, "num_replicas": r, "ray_actor_options": {"num_cpus": 0.25}},
                                 "classifier": batch})
        t0 = time.perf_counter()
        if first:
            start(cfg, num_cpus=2)
            first = False
        else:
            serve.run(build_app(cfg), name=cfg.app_name, route_prefix=cfg.route_prefix)
        deploy_s = time.perf_counter() - t0
        asyncio.run(load_run(url, clips, 2 * concurrency, concurrency, 30))  # warm-up
        res = asyncio.run(load_run(url, clips, requests, concurrency, max_seconds))
        rows.append({"kind": "load", "max_batch_size": b, "lifter_replicas": r, "concurrency": concurrency,
                     "deploy_s": deploy_s, **res})
        print(f"batch {b:>3} replicas {r}: {res['rps']:.1f} req/s p50 {res['p50_ms']:.0f} ms "
              f"p99 {res['p99_ms']:.0f} ms (mean lift batch {res['mean_lift_batch']})", flush=True)
        if (b, r) == (mid, 1):
            one = asyncio.run(load_run(url, clips, min(requests, 100), 1, max_seconds))
            rows.append({"kind": "overhead", "max_batch_size": b, "lifter_replicas": 1, "concurrency": 1, **one})

    if video_row:
        data = video.read_bytes()
        with httpx.Client(timeout=600) as c:
            c.post(f"{url}/v1/score/video", files={"files": (video.name, data, "video/mp4")},
                   data={"return_poses": "false"})  # warm-up
            t0 = time.perf_counter()
            r = c.post(f"{url}/v1/score/video", files={"files": (video.name, data, "video/mp4")},
                       data={"return_poses": "false"})
            video_row["served_s"] = time.perf_counter() - t0
            video_row["served_status"] = r.status_code
            video_row["served_detect_s"] = r.json()["clips"][0]["timings"].get("detect") if r.status_code == 200 else None
    serve.shutdown()
    ray.shutdown()

    inproc_row = {"kind": "in_process", "requests": len(inproc), "p50_ms": 1000 * pct(inproc, 50),
                  "p99_ms": 1000 * pct(inproc, 99), "rps": len(inproc) / sum(inproc)}
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                          "load_average": load_start},
              "clips": clip_source, "frames_per_clip": FRAMES, "models": models, "rows": rows, "in_process": inproc_row,
              "video": video_row, "command": "benchmarks/bench_serve.py " + " ".join(
                  f"--{k} {v}" for k, v in {"requests": requests, "concurrency": concurrency, "batch-sizes": batch_sizes,
                                           "replicas": replicas}.items())
                  + (f" --classifier {classifier}" if classifier else "")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    md = render_md(result)
    out.with_suffix(".md").write_text(md)
    print(md)


def render_md(r: dict[str, Any]) -> str:
    lines = [
        "# Serve benchmark: 64-frame 2D keypoint clips over HTTP",
        "",
        f"Machine: {r['machine']['cpus']} CPUs ({r['machine']['platform']}), shared with other jobs "
        f"(load average {r['machine'].get('load_average', '?')} at the start). "
        f"Clips: {r['clips']}. Models: lifter `{r['models'].get('lifter')}`, classifier "
        f"`{r['models'].get('classifier')}`. Client and server on 127.0.0.1, one `/v1/score` request per clip "
        "(lift + classify), `return_poses: false`.",
        "",
        f"Command: `.venv/bin/python {r['command']}`",
        "",
        "| setting | max_batch_size | lifter replicas | in flight | requests | ok | req/s | p50 ms | p99 ms | mean lift batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ip = r["in_process"]
    lines.append(f"| in-process `Pipeline.run_keypoints` | - | - | 1 | {ip['requests']} | {ip['requests']} | "
                 f"{ip['rps']:.1f} | {ip['p50_ms']:.1f} | {ip['p99_ms']:.1f} | - |")
    for row in r["rows"]:
        name = "Serve, concurrency 1 (overhead)" if row["kind"] == "overhead" else "Serve load"
        lines.append(f"| {name} | {row['max_batch_size']} | {row['lifter_replicas']} | {row['concurrency']} | "
                     f"{row['requests']} | {row['ok']} | {row['rps']:.1f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                     f"{row['mean_lift_batch'] if row['mean_lift_batch'] is None else round(row['mean_lift_batch'], 1)} |")
    over = [row for row in r["rows"] if row["kind"] == "overhead"]
    if over:
        lines += ["", f"Serve overhead at concurrency 1 (p50 served - p50 in-process): "
                      f"{over[0]['p50_ms'] - ip['p50_ms']:.1f} ms per clip."]
    v = r.get("video") or {}
    if v.get("served_s") is not None:
        lines += ["", "| video | frames | in-process `Pipeline.run_video` s | of which detect s | `POST /v1/score/video` s "
                      "| of which detect s |", "|---|---:|---:|---:|---:|---:|",
                  f"| {v['video']} | {v['frames']} | {v['in_process_s']:.2f} | {v['in_process_detect_s']:.2f} | "
                  f"{v['served_s']:.2f} | {(v.get('served_detect_s') or float('nan')):.2f} |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    typer.run(main)
