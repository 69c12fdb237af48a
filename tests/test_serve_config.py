"""Serve config, request checks, size limits and the `posenas score` client without starting Ray."""

from __future__ import annotations

import asyncio
import json
import socket

import numpy as np
import pytest

from posenas.errors import DataFormatError, PosenasError
from posenas.serve.config import Limits, ServeConfig, load_serve_config
from posenas.serve.schemas import ScoreRequest, loc_to_field
from posenas.serve.validate import RequestError, parse_json_clips


def test_defaults_bind_localhost_and_map_to_deployment_options():
    cfg = load_serve_config(None)
    assert cfg.host == "127.0.0.1" and cfg.port == 8000
    opts = cfg.lifter.options()
    assert opts["num_replicas"] == 1 and "autoscaling_config" not in opts
    assert opts["ray_actor_options"]["num_cpus"] > 0 and opts["max_ongoing_requests"] >= cfg.lifter.max_batch_size


def test_autoscaling_replaces_num_replicas():
    cfg = load_serve_config({"classifier": {"autoscaling_config": {"min_replicas": 1, "max_replicas": 3},
                                            "ray_actor_options": {"num_cpus": 1, "num_gpus": 1}}})
    opts = cfg.classifier.options()
    assert "num_replicas" not in opts and opts["autoscaling_config"]["max_replicas"] == 3
    assert opts["ray_actor_options"]["num_gpus"] == 1


def test_yaml_file_and_overrides(tmp_path):
    p = tmp_path / "serve.yaml"
    p.write_text("port: 9001\nlifter: {max_batch_size: 4}\npipeline: {classifier: {top_k: 3}}\n")
    cfg = load_serve_config({"config": str(p)})  # what `serve run ...:build_app config=serve.yaml` passes
    assert cfg.port == 9001 and cfg.lifter.max_batch_size == 4 and cfg.pipeline.classifier.top_k == 3
    assert load_serve_config(p, port=9002, host=None).port == 9002


def test_repository_serve_yaml_is_valid():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cfg = load_serve_config(root / "serve.yaml")
    assert cfg.host == "127.0.0.1"


@pytest.mark.parametrize("text,field", [
    ("lifter: {max_batchsize: 4}\n", "lifter.max_batchsize"),
    ("lifter: {max_batch_size: 64, max_ongoing_requests: 8}\n", "lifter"),
    ("limits: {max_clips_per_request: 0}\n", "limits.max_clips_per_request"),
    ("pipeline: {classifier: {top_k: 0}}\n", "pipeline.classifier.top_k"),
])
def test_bad_config_names_the_field(tmp_path, text, field):
    p = tmp_path / "serve.yaml"
    p.write_text(text)
    with pytest.raises(DataFormatError) as e:
        ServeConfig.from_yaml(p)
    assert e.value.field == field and str(p) in str(e.value)


def test_bad_yaml_names_the_line(tmp_path):
    p = tmp_path / "serve.yaml"
    p.write_text("port: 1\nlifter: [\n")
    with pytest.raises(DataFormatError) as e:
        ServeConfig.from_yaml(p)
    assert e.value.line is not None


def test_loc_to_field():
    assert loc_to_field(("body", "clips", 2, "keypoints", 0, 1)) == ("clips[2].keypoints[0][1]", 2)
    assert loc_to_field(("colour",)) == ("colour", None)
    assert loc_to_field(()) == ("body", None)


def _parse(clip: dict, limits: Limits | None = None):
    return parse_json_clips(ScoreRequest.model_validate({"clips": [clip]}), limits or Limits())


def test_null_joints_become_missing_with_score_zero():
    kp = [[[[10.0, 20.0]] * 17]] * 3
    kp[1] = [[[10.0, 20.0]] * 16 + [[None, None]]]
    (pc,) = _parse({"layout": "h36m17", "width": 64, "height": 64, "keypoints": kp})
    assert np.isnan(pc.clip.keypoints[1, 0, 16]).all() and pc.clip.scores[1, 0, 16] == 0
    assert pc.clip.scores[0, 0, 16] == 1 and pc.id == "clip0"


def test_limits_are_checked_before_any_model():
    kp = [[[[1.0, 2.0]] * 17] * 3] * 5  # 5 frames, 3 persons
    with pytest.raises(RequestError) as e:
        _parse({"layout": "h36m17", "width": 64, "height": 64, "keypoints": kp}, Limits(max_persons_per_clip=2))
    assert e.value.status == 422 and e.value.field == "clips[0].keypoints" and e.value.clip == 0


def test_request_error_survives_pickling():
    import pickle

    e = pickle.loads(pickle.dumps(RequestError(413, "too big", "files[1]", 1)))
    assert (e.status, e.field, e.clip, e.message) == (413, "files[1]", 1, "too big")
    assert e.body()["field"] == "files[1]"


def test_body_limit_middleware_refuses_by_header_and_by_count():
    from posenas.serve.limits import BodyLimitMiddleware

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = BodyLimitMiddleware(app, default=10, per_prefix={"/big": 100})
    assert mw.limit_for("/big/x") == 100 and mw.limit_for("/v1") == 10

    def run(headers, chunks, path="/v1"):
        sent = []
        msgs = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return msgs.pop(0)

        async def send(m):
            sent.append(m)

        asyncio.run(mw({"type": "http", "path": path, "headers": headers}, receive, send))
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    status, body = run([(b"content-length", b"11")], [b"x" * 11])
    assert status == 413 and json.loads(body)["field"] == "body"
    assert run([], [b"x" * 6, b"x" * 6])[0] == 413  # chunked: counted as it streams
    assert run([], [b"x" * 6, b"x" * 6], path="/big")[0] == 200
    assert run([(b"content-length", b"5")], [b"x" * 5])[0] == 200


def test_client_refuses_unknown_files_before_sending(tmp_path):
    from posenas.serve.client import check_inputs

    p = tmp_path / "notes.txt"
    p.write_text("x")
    with pytest.raises(PosenasError, match="unsupported file type"):
        check_inputs([p])
    with pytest.raises(PosenasError, match="no such file"):
        check_inputs([tmp_path / "missing.mp4"])


def test_client_says_when_no_server_is_there(tmp_path):
    from posenas.serve.client import score_files

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    v = tmp_path / "a.mp4"
    v.write_bytes(b"x")
    with pytest.raises(PosenasError, match="no posenas server at"):
        score_files(f"http://127.0.0.1:{port}", [v], tmp_path / "out.parquet")


def test_client_retries_503_with_backoff(tmp_path):
    """A mock transport answers 503 twice, then 200: the client retries and gets the answer."""
    import httpx

    from posenas.serve.client import _one

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(503, json={"error": "busy"}, headers={"retry-after": "0"})
        return httpx.Response(200, json={"clips": []})

    p = tmp_path / "a.npz"
    p.write_bytes(b"x")

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
            return await _one(c, "http://x", p, asyncio.Semaphore(1), retries=3, backoff_s=0.01, return_poses=False)

    r = asyncio.run(go())
    assert r.status == 200 and r.attempts == 3 and calls == ["/v1/score"] * 3 and r.error is None

    calls.clear()

    def refuse(request):
        calls.append(1)
        return httpx.Response(422, json={"error": "files[0]: bad", "field": "files[0]"})

    async def go2():
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as c:
            return await _one(c, "http://x", p, asyncio.Semaphore(1), retries=3, backoff_s=0.01, return_poses=False)

    r = asyncio.run(go2())
    assert r.status == 422 and r.attempts == 1 and "bad" in r.error  # a 4xx is not retried


def test_serve_deploy_yaml_names_the_builder():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    doc = yaml.safe_load((root / "posenas" / "serve" / "deploy.yaml").read_text())
    (app,) = doc["applications"]
    assert app["import_path"] == "posenas.serve.app:build_app"
    assert doc["http_options"]["host"] == "127.0.0.1"
    load_serve_config(app["args"])  # the args are a valid posenas serve config
