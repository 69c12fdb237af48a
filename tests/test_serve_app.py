"""The Serve application over real HTTP on 127.0.0.1: scoring equals the in-process Pipeline, every bad input
is a 4xx naming the field and clip, the `posenas score` client, the Gradio demo in a real browser, and a
replica killed under load.

One Serve instance (module scope, a free port) is shared by every test here; the fault test runs last.
The served action model is the shipped one when present, else a small untrained checkpoint (the tests
then check the serving, not the accuracy).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

LIMITS = {"max_request_bytes": 2 * 1024 * 1024, "max_clips_per_request": 8, "max_frames_per_clip": 600,
          "max_video_bytes": 3 * 1024 * 1024, "max_video_seconds": 30.0, "max_videos_per_request": 2}
REPO = Path(__file__).resolve().parents[1]
VIDEO = "pose2sim_multiperson/videos/cam01.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def astronaut_video(path: Path, n: int = 12, fps: float = 25.0) -> Path:
    """A short clip of a real photo of a person sliding right (as in test_pipeline)."""
    import cv2
    from skimage import data

    from posenas.core.video import write_video

    crop = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        f = np.full((288, 352, 3), 40, np.uint8)
        f[16:272, 20 + 3 * i: 276 + 3 * i] = crop
        frames.append(f)
    write_video(path, frames, fps)
    return path


def cut_video(src: Path, dst: Path, frames: int, scale: float) -> Path:
    """The first `frames` frames of a real video, resized by `scale`."""
    import cv2

    from posenas.core.video import iter_frames, probe_video, write_video

    fps = probe_video(src).fps
    out = []
    for i, f in enumerate(iter_frames(src)):
        if i >= frames:
            break
        out.append(cv2.resize(f, (round(f.shape[1] * scale) // 2 * 2, round(f.shape[0] * scale) // 2 * 2),
                              interpolation=cv2.INTER_AREA))
    write_video(dst, out, fps)
    return dst


@pytest.fixture(scope="module")
def pipeline_config(action_model_checkpoint):
    return {"classifier": {"checkpoint": action_model_checkpoint}}


@pytest.fixture(scope="module")
def server(pipeline_config):
    from ray import serve

    import ray
    from posenas.serve.app import start

    port = free_port()
    cfg = {"pipeline": pipeline_config, "port": port, "limits": LIMITS,
           "lifter": {"max_batch_size": 8, "max_ongoing_requests": 16, "batch_wait_timeout_s": 0.01},
           "classifier": {"max_batch_size": 8, "max_ongoing_requests": 16, "batch_wait_timeout_s": 0.01},
           "ui": {"examples": []}}
    start(cfg, num_cpus=2)
    yield {"url": f"http://127.0.0.1:{port}", "config": cfg}
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def client(server):
    import httpx

    with httpx.Client(base_url=server["url"], timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def pipeline(pipeline_config):
    from posenas.platform.pipeline import Pipeline

    return Pipeline.from_config(pipeline_config)


@pytest.fixture(scope="module")
def msr_clip(msr_root):
    """A real MSR Action3D clip: Kinect 2D screen joints (msr20, 320x240) and the matching Real3D joints."""
    from posenas.datasets.msr_action3d import read_real3d, read_screen

    sid = "a02_s01_e01"
    uv, _, conf, _ = read_screen(msr_root / "MSRAction3DSkeleton20joints" / f"{sid}_skeleton.txt")
    xyz, _ = read_real3d(msr_root / "MSRAction3DSkeletonReal3D" / f"{sid}_skeleton3D.txt")
    t = min(64, len(uv), len(xyz))
    return {"uv": uv[:t, None].astype(np.float32), "conf": np.clip(conf[:t, None], 0, 1).astype(np.float32),
            "xyz": xyz[:t, None].astype(np.float32)}


def keypoint_request(clip, **extra):
    return {"layout": "msr20", "width": 320, "height": 240, "fps": 15.0, "keypoints": clip["uv"].tolist(),
            "scores": clip["conf"].tolist(), **extra}


def assert_same_result(served: dict, local, atol: float = 1e-4) -> None:
    """An HTTP answer equals the in-process PipelineResult: 3D poses and every class probability."""
    assert served["frames"] == local.num_frames
    pose = np.array([[[[np.nan if v is None else v for v in j] for j in p] for p in f] for f in served["pose_3d"]])
    np.testing.assert_allclose(pose, local.pose_3d, atol=atol)
    assert [a["label"] for a in served["actions"]] == [a.label for a in local.actions]
    for a, b in zip(served["actions"], local.actions):
        np.testing.assert_allclose(a["probabilities"], b.probabilities, atol=atol)
    assert served["models"]["lifter"] == local.models["lifter"]
    assert served["models"]["classifier"] == local.models["classifier"]


# --- good requests ------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_score_json_equals_pipeline(client, pipeline, msr_clip):
    r = client.post("/v1/score", json={"clips": [keypoint_request(msr_clip, id="kp"),
                                                 {"layout": "msr20", "poses": msr_clip["xyz"].tolist(),
                                                  "left_handed": True, "id": "xyz"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    kp, xyz = body["clips"]
    assert (kp["index"], kp["clip_id"], xyz["index"], xyz["clip_id"]) == (0, "kp", 1, "xyz")
    assert body["classes"] == pipeline.classes
    local = pipeline.run_keypoints(msr_clip["uv"], msr_clip["conf"], "msr20", 320, 240, 15.0, "kp")
    assert_same_result(kp, local)
    local3d = pipeline.run_poses(msr_clip["xyz"], "msr20", left_handed=True, clip_id="xyz")
    assert_same_result(xyz, local3d)
    assert "detector" not in xyz["models"]


@pytest.mark.realdata
def test_score_keypoint_file_uploads(client, pipeline, msr_clip, tmp_path):
    from posenas.datasets.keypoints import write_keypoints

    paths = [write_keypoints(tmp_path / f"clip.{fmt}", "msrclip", msr_clip["uv"], msr_clip["conf"], "msr20",
                             15.0, 320, 240) for fmt in ("npz", "parquet")]
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    r = client.post("/v1/score", files=files)
    assert r.status_code == 200, r.text
    clips = r.json()["clips"]
    assert [c["index"] for c in clips] == [0, 1] and {c["clip_id"] for c in clips} == {"msrclip"}
    local = pipeline.run_keypoints(msr_clip["uv"], msr_clip["conf"], "msr20", 320, 240, 15.0, "msrclip")
    for c in clips:
        assert_same_result(c, local)


def test_concurrent_clips_share_batches(client, msr_clip_or_random):
    """Eight concurrent one-clip requests: all answered, and the lifter batched some of them together."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"clips": [msr_clip_or_random], "return_poses": False}
    with ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(lambda _: client.post("/v1/score", json=body), range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    assert all("pose_3d" not in a.json()["clips"][0] for a in answers)
    sizes = [a.json()["clips"][0]["timings"]["lift_batch_size"] for a in answers]
    assert max(sizes) > 1, sizes


@pytest.fixture(scope="module")
def msr_clip_or_random():
    rng = np.random.default_rng(0)
    base = rng.uniform(80, 240, (1, 1, 17, 2))
    kp = base + np.cumsum(rng.normal(0, 1, (32, 1, 17, 2)), axis=0)
    return {"layout": "h36m17", "width": 320, "height": 320, "keypoints": kp.round(2).tolist()}


def test_video_equals_pipeline_run_video(client, pipeline, tmp_path):
    video = astronaut_video(tmp_path / "astro.mp4")
    r = client.post("/v1/score/video", files={"files": ("astro.mp4", video.read_bytes(), "video/mp4")})
    assert r.status_code == 200, r.text
    (clip,) = r.json()["clips"]
    assert clip["clip_id"] == "astro" and clip["models"]["detector"] == "mediapipe"
    local = pipeline.run_video(video)
    assert_same_result(clip, local, atol=1e-3)
    kp = np.array([[[[np.nan if v is None else v for v in j] for j in p] for p in f] for f in clip["keypoints_2d"]])
    np.testing.assert_allclose(kp, local.keypoints_2d, atol=1e-3)


def test_models_health_docs(client, pipeline):
    models = client.get("/v1/models").json()
    assert models["classifier"]["classes"] == pipeline.classes
    assert models["lifter"]["id"] == pipeline.model_ids()["lifter"]
    assert {"space", "genotype", "data", "metrics"} <= set(models["classifier"])
    health = client.get("/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"
    spec = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/score/video", "/v1/models", "/v1/health"} <= set(spec["paths"])
    assert "ScoreRequest" in spec["components"]["schemas"] and "ClipIn" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


# --- bad requests: a 4xx naming the field and the clip ---------------------------------------------------
GOOD = {"layout": "h36m17", "width": 320, "height": 240, "keypoints": [[[[100.0, 100.0]] * 17]] * 4}


def _clip(**change):
    c = json.loads(json.dumps(GOOD))
    c.update(change)
    return {k: v for k, v in c.items() if v is not None}


BAD_JSON = [
    ("malformed", b'{"clips": [', 400, "body", None),
    ("not utf8", b"\xff\xfe{}", 400, "body", None),
    ("no clips", {"clips": []}, 422, "clips", None),
    ("unknown top-level field", {"clips": [GOOD], "colour": 1}, 422, "colour", None),
    ("unknown clip field", {"clips": [GOOD, _clip(colour=1)]}, 422, "clips[1].colour", 1),
    ("keypoints and poses", {"clips": [_clip(poses=[[[[0.0, 0.0, 0.0]] * 17]] * 4)]}, 422, "clips[0]", 0),
    ("no image size", {"clips": [_clip(width=None)]}, 422, "clips[0]", 0),
    ("text instead of number", {"clips": [_clip(keypoints=[[[["a", 1]] * 17]])]}, 422,
     "clips[0].keypoints[0][0][0][0]", 0),
    ("wrong last dimension", {"clips": [_clip(keypoints=[[[[1.0, 2.0, 3.0]] * 17]] * 4)]}, 422,
     "clips[0].keypoints", 0),
    ("ragged frames", {"clips": [_clip(keypoints=[[[[1.0, 2.0]] * 17], [[[1.0, 2.0]] * 16]])]}, 422,
     "clips[0].keypoints", 0),
    ("joints do not match layout", {"clips": [GOOD, _clip(layout="coco17", keypoints=[[[[1.0, 2.0]] * 16]] * 4)]},
     422, "clips[1].keypoints", 1),
    ("unknown layout", {"clips": [GOOD, GOOD, _clip(layout="nonexistent")]}, 422, "clips[2].layout", 2),
    ("scores shape", {"clips": [_clip(scores=[[[1.0] * 16]] * 4)]}, 422, "clips[0].scores", 0),
    ("score above 1", {"clips": [_clip(scores=[[[1.0] * 16 + [2.0]]] * 4)]}, 422, "clips[0].scores[0][0][16]", 0),
    ("too many frames", {"clips": [_clip(keypoints=[[[[1.0, 2.0]] * 17]] * 601)]}, 422, "clips[0].keypoints", 0),
    ("too many clips", {"clips": [GOOD] * 9}, 413, "clips", None),
    ("pose clip of one frame", {"clips": [{"layout": "h36m17", "poses": [[[[0.0, 0.0, 0.0]] * 17]]}]}, 422,
     "clips[0].poses", 0),
    ("bad fps", {"clips": [_clip(fps=-1)]}, 422, "clips[0].fps", 0),
]


@pytest.mark.parametrize("name,body,status,field,clip", BAD_JSON, ids=[b[0] for b in BAD_JSON])
def test_bad_json_request(client, name, body, status, field, clip):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = client.post("/v1/score", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()
    assert err["field"] == field and err["clip"] == clip and err["status"] == status and err["error"]


@pytest.mark.parametrize("literal,where", [("NaN", "[1][0][3][0]"), ("Infinity", "[1][0][3][0]"),
                                           ("-Infinity", "[1][0][3][0]")])
def test_non_finite_literals_are_refused(client, literal, where):
    body = json.loads(json.dumps({"clips": [GOOD, GOOD]}))
    body["clips"][1]["keypoints"][1][0][3][0] = "__X__"
    raw = json.dumps(body).replace('"__X__"', literal)  # JSON has no NaN; Python's json writes these literals
    r = client.post("/v1/score", content=raw.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == f"clips[1].keypoints{where}" and r.json()["clip"] == 1


def test_null_joint_is_a_missing_joint(client):
    body = json.loads(json.dumps({"clips": [GOOD]}))
    body["clips"][0]["keypoints"][2][0][5] = [None, None]
    r = client.post("/v1/score", json=body)
    assert r.status_code == 200, r.text


def test_wrong_content_type(client):
    r = client.post("/v1/score", content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["field"] == "content-type"
    r = client.post("/v1/score/video", json={"clips": []})
    assert r.status_code == 415 and r.json()["field"] == "content-type"


def test_oversized_payloads(client):
    big = b'{"clips": [' + b" " * (LIMITS["max_request_bytes"] + 10) + b"]}"
    r = client.post("/v1/score", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"clips": ['
        for _ in range(LIMITS["max_request_bytes"] // 65536 + 2):
            yield b" " * 65536
        yield b"]}"

    r = client.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"


def _video_bytes(tmp: Path, seconds: float, fps: float = 2.0) -> bytes:
    from posenas.core.video import write_video

    p = tmp / f"long_{seconds}.mp4"
    write_video(p, [np.full((64, 64, 3), i % 255, np.uint8) for i in range(int(seconds * fps))], fps)
    return p.read_bytes()


@pytest.mark.parametrize("case", ["corrupt", "empty", "text part", "not a video type", "too long", "too big",
                                  "no files", "too many files"])
def test_bad_video_upload(client, tmp_path, case):
    good = _video_bytes(tmp_path, 2)
    files: list = [("files", ("ok.mp4", good, "video/mp4"))]
    data = None
    expect = (422, "files[1]", 1)
    if case == "corrupt":
        files.append(("files", ("bad.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20, "video/mp4")))
    elif case == "empty":
        files.append(("files", ("empty.mp4", b"", "video/mp4")))
    elif case == "text part":
        files, data, expect = [], {"files": "not a file"}, (422, "files[0]", 0)
    elif case == "not a video type":
        files.append(("files", ("notes.txt", b"hello", "text/plain")))
        expect = (415, "files[1]", 1)
    elif case == "too long":
        files.append(("files", ("long.mp4", _video_bytes(tmp_path, 40), "video/mp4")))
        expect = (413, "files[1]", 1)
    elif case == "too big":
        files.append(("files", ("big.mp4", good + b"\x00" * LIMITS["max_video_bytes"], "video/mp4")))
        expect = (413, "files[1]", 1)
    elif case == "no files":
        files, data, expect = [], {"return_poses": "true"}, (422, "files", None)
    elif case == "too many files":
        files = files * 3
        expect = (413, "files", None)
    if not files:  # a multipart body without a usable 'files' part
        files = [("other", ("x.bin", b"", "application/octet-stream"))]
    r = client.post("/v1/score/video", files=files, data=data)
    status, field, clip = expect
    assert r.status_code == status, r.text
    assert r.json()["field"] == field and r.json()["clip"] == clip


@pytest.mark.parametrize("case", ["wrong suffix", "corrupt npz", "corrupt parquet"])
def test_bad_keypoint_file_upload(client, case):
    name, payload, status = {"wrong suffix": ("clip.csv", b"a,b\n1,2\n", 415),
                             "corrupt npz": ("clip.npz", b"PK\x03\x04 not a zip", 422),
                             "corrupt parquet": ("clip.parquet", b"PAR1 broken", 422)}[case]
    r = client.post("/v1/score", files={"files": (name, payload, "application/octet-stream")})
    assert r.status_code == status, r.text
    assert r.json()["field"] == "files[0]" and r.json()["clip"] == 0


def test_upload_dirs_are_removed(client, tmp_path):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("posenas-upload-*")) | set(
        Path(tempfile.gettempdir()).glob("posenas-detect-*"))
    video = astronaut_video(tmp_path / "a.mp4", n=4)
    r = client.post("/v1/score/video", files={"files": ("a.mp4", video.read_bytes(), "video/mp4")})
    assert r.status_code == 200
    after = set(Path(tempfile.gettempdir()).glob("posenas-upload-*")) | set(
        Path(tempfile.gettempdir()).glob("posenas-detect-*"))
    assert after <= before


# --- the client ------------------------------------------------------------------------------------------
def test_score_client_cli(server, tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from posenas.cli import app
    from posenas.datasets.keypoints import write_keypoints

    kp = np.array(GOOD["keypoints"], np.float32) + np.arange(4)[:, None, None, None]
    npz = write_keypoints(tmp_path / "walk.npz", "walk", kp, np.ones(kp.shape[:3], np.float32), "h36m17", 30.0,
                          320, 240)
    video = astronaut_video(tmp_path / "astro.mp4", n=6)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    out = tmp_path / "scores.parquet"
    res = CliRunner().invoke(app, ["score", "--url", server["url"], "--out", str(out), "--concurrency", "2",
                                   str(npz), str(video), str(bad)])
    assert res.exit_code == 2, res.output  # one file failed
    df = pd.read_parquet(out)
    ok = df[df["error"].isna()]
    assert set(ok["file"]) == {str(npz), str(video)} and ok["label"].notna().all()
    err = df[df["file"] == str(bad)]
    assert len(err) == 1 and err["status"].iloc[0] == 422 and "decodable" in err["error"].iloc[0]
    assert json.loads(out.with_suffix(".json").read_text())[0]["response"]["clips"][0]["clip_id"] == "walk"


# --- the Gradio demo in a real browser --------------------------------------------------------------------
def test_demo_in_browser(server, tmp_path):
    """Never skipped: the real multi-person clip when ../shared/data is present, else the astronaut clip."""
    from playwright.sync_api import sync_playwright

    import os

    real = Path(os.environ.get("POSENAS_DATA") or REPO.parent / "shared" / "data") / VIDEO
    video = (cut_video(real, tmp_path / "cam01_cut.mp4", frames=40, scale=0.5) if real.is_file()
             else astronaut_video(tmp_path / "astronaut.mp4", n=24))
    shots = REPO / "benchmarks" / "results"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(f"{server['url']}/ui/", wait_until="load", timeout=60_000)
            page.locator("#run").wait_for(timeout=60_000)
            page.locator("#video-in input[type=file]").set_input_files(str(video))
            page.locator("#video-in video").wait_for(timeout=60_000)  # the upload is in
            page.locator("#run").click()
            page.locator("#downloads").get_by_text(".npz").first.wait_for(timeout=240_000)  # the run is done
            label = page.locator("#action-label")
            label.locator("dt").first.wait_for(timeout=120_000)  # class names with confidences
            page.locator("#probabilities .js-plotly-plot").wait_for(timeout=120_000)
            page.locator("#pose-3d .js-plotly-plot").wait_for(timeout=120_000)
            page.locator("#video-out video").wait_for(timeout=120_000)
            classes = json.loads(page.request.get(f"{server['url']}/v1/models").text())["classifier"]["classes"]
            text = label.inner_text()
            assert any(c in text for c in classes), text
            time.sleep(1.0)  # let the plots finish drawing before the screenshot
            page.screenshot(path=str(shots / "serve_demo.png"), full_page=True)

            page.locator("#video-in button[aria-label='Clear']").first.click(timeout=10_000)
            bad = tmp_path / "broken.mp4"
            bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
            page.locator("#video-in input[type=file]").set_input_files(str(bad))
            page.locator("#run").click()
            page.get_by_text("Cannot process this upload").first.wait_for(timeout=60_000)
        finally:
            browser.close()
    docs = REPO / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copyfile(shots / "serve_demo.png", docs / "serve_demo.png")


# --- a replica killed under load (last: it restarts a replica) ---------------------------------------------
def test_replica_killed_under_load(client, server, msr_clip_or_random):
    import httpx

    import ray

    def lifter_replicas() -> list[str]:
        return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                      if a["name"].startswith("SERVE_REPLICA::") and "#Lifter#" in a["name"])

    (victim,) = lifter_replicas()
    body = {"clips": [msr_clip_or_random], "return_poses": False}
    statuses: list[int] = []
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=server["url"], timeout=120) as c:
            while not stop.is_set():
                statuses.append(c.post("/v1/score", json=body).status_code)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "requests hung after the replica was killed"
    assert statuses and set(statuses) <= {200, 503}, statuses
    deadline = time.time() + 120
    while time.time() < deadline:  # Serve starts a new replica; later requests succeed
        r = client.post("/v1/score", json=body)
        if r.status_code == 200 and lifter_replicas() and lifter_replicas() != [victim]:
            break
        time.sleep(1.0)
    assert r.status_code == 200, r.text
    assert lifter_replicas() and lifter_replicas() != [victim]
