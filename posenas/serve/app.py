"""The posenas Serve application: an HTTP ingress (FastAPI, OpenAPI at /docs, Gradio demo at /ui) over
the detector, lifter and classifier deployments, composed with DeploymentHandles.

Run it with ``posenas serve``, ``serve run posenas.serve.app:app`` (defaults),
``serve run posenas.serve.app:build_app config=serve.yaml``, or deploy ``posenas/serve/deploy.yaml``
(a Serve config file) on a cluster with ``serve deploy``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the routes' annotations from here
from ray import serve
from ray.serve.handle import DeploymentHandle

from posenas.errors import PosenasError
from posenas.serve.config import ServeConfig, load_serve_config
from posenas.serve.deployments import ClassifierDeployment, DetectorDeployment, LifterDeployment
from posenas.serve.validate import KEYPOINT_SUFFIXES, ParsedClip, PoseClip, RequestError

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
VIDEO_CONTENT_TYPES = ("video/", "application/octet-stream")


def _replica_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning 'a replica went away under this request': retried, then answered 503."""
    from ray import exceptions as rex
    from ray.serve import exceptions as sex

    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "ActorUnschedulableError")
    errs = [getattr(rex, n) for n in names if hasattr(rex, n)]
    errs += [getattr(sex, n) for n in ("BackPressureError", "DeploymentUnavailableError") if hasattr(sex, n)]
    return tuple(errs)


def _cause(e: BaseException) -> BaseException:
    """A RayTaskError from a replica -> the exception the replica raised."""
    return getattr(e, "cause", None) or e


class Scorer:
    """What the HTTP routes and the Gradio demo call: validated clips/videos in, result dicts out."""

    def __init__(self, detector: DeploymentHandle, lifter: DeploymentHandle, classifier: DeploymentHandle,
                 config: ServeConfig):
        self.detector, self.lifter, self.classifier = detector, lifter, classifier
        self.config = config
        self.limits = config.limits
        self._retry_errors = _replica_errors()
        self._classes: list[str] | None = None
        self._models: dict[str, Any] | None = None
        self._model_ids: dict[str, str] | None = None

    async def call(self, method: Any, *args: Any) -> Any:
        """`await method.remote(*args)`, retried with backoff when the replica dies; then 503."""
        last: BaseException | None = None
        for attempt in range(self.config.request_retries + 1):
            try:
                out = await method.remote(*args)
            except self._retry_errors as e:
                last = e
                log.warning("replica failed under a request (%s); retry %d", type(e).__name__, attempt + 1)
                await asyncio.sleep(0.2 * 2 ** attempt)
                continue
            except Exception as e:
                c = _cause(e)
                if isinstance(c, RequestError):
                    raise c from None
                if isinstance(c, self._retry_errors):
                    last = c
                    await asyncio.sleep(0.2 * 2 ** attempt)
                    continue
                raise
            if isinstance(out, RequestError):
                raise out
            if isinstance(out, PosenasError):
                raise RequestError(422, str(out), getattr(out, "field", None))
            return out
        raise RequestError(503, f"a model replica is unavailable ({type(last).__name__}); retry shortly")

    async def classes(self) -> list[str]:
        if self._classes is None:
            self._classes = await self.call(self.classifier.classes)
        return self._classes

    async def model_ids(self) -> dict[str, str]:
        if self._model_ids is None:
            self._model_ids = await self.call(self.classifier.model_ids)
        return self._model_ids

    async def models(self) -> dict[str, Any]:
        if self._models is None:
            self._models = await self.call(self.classifier.model_info)
        return self._models

    async def health(self, timeout_s: float = 5.0) -> dict[str, bool]:
        async def ping(h: DeploymentHandle) -> bool:
            try:
                return bool(await asyncio.wait_for(h.ping.remote(), timeout_s))
            except Exception:
                return False

        names = ("detector", "lifter", "classifier")
        ok = await asyncio.gather(*(ping(getattr(self, n)) for n in names))
        return dict(zip(names, ok))

    def _clip_error(self, e: BaseException, index: int, prefix: str) -> RequestError:
        """A pipeline error about one clip -> 422 naming that clip's field."""
        field = getattr(e, "field", None)
        return RequestError(422, getattr(e, "reason", None) or str(e),
                            f"{prefix}[{index}]" + (f".{field}" if field else ""), index)

    async def classify(self, res: Any, index: int, prefix: str, poses: np.ndarray | None = None,
                       layout: str = "h36m17", left_handed: bool = False, track_ids: list[int] | None = None) -> Any:
        """Add the actions (and timings) to a lifted PipelineResult, or one of given `poses` in `layout`."""
        out = await self.call(self.classifier.classify, (res.pose_3d if poses is None else poses,
                                                         layout, left_handed, track_ids))
        if isinstance(out, Exception):
            raise self._clip_error(out, index, prefix)
        actions, timings, n = out
        res.actions = actions
        res.timings.update(timings)
        res.timings["classify_batch_size"] = n
        return res

    async def _score_one(self, pc: ParsedClip) -> Any:
        """One checked clip -> the PipelineResult `Pipeline.run_keypoints` / `run_poses` gives."""
        from posenas.core.skeleton import convert_to_h36m
        from posenas.platform.pipeline import POSE_LAYOUT, PipelineResult

        clip = pc.clip
        if isinstance(clip, PoseClip):
            x = clip.poses
            h = convert_to_h36m(x, clip.layout) if clip.layout != POSE_LAYOUT else x
            h = (h - h[:, :, :1]).astype(np.float32)
            ids = await self.model_ids()
            res = PipelineResult(pc.id, None, None, h, [], {k: v for k, v in ids.items() if k != "detector"}, {},
                                 {"frames": int(x.shape[0]), "persons": int(x.shape[1]), "input_layout": clip.layout})
            return await self.classify(res, pc.index, "clips", x, clip.layout, clip.left_handed)
        clip.clip_id = pc.id
        out = await self.call(self.lifter.lift, clip)
        if isinstance(out, Exception):
            raise self._clip_error(out, pc.index, "clips")
        res, n = out
        res.timings["lift_batch_size"] = n
        res.models = await self.model_ids()
        det = res.detections
        return await self.classify(res, pc.index, "clips", track_ids=None if det is None else det.track_ids)

    @staticmethod
    def to_json(res: Any, index: int, arrays: bool) -> dict[str, Any]:
        """`PipelineResult.to_dict` plus the clip index, the run statistics and every class probability."""
        d = res.to_dict(arrays=arrays)
        d["index"] = index
        d["stats"] = {k: v for k, v in res.stats.items() if k != "per_person" or arrays}
        for a, rec in zip(res.actions, d["actions"]):
            rec["probabilities"] = [round(float(p), 6) for p in a.probabilities]
        return d

    async def score_clips(self, clips: list[ParsedClip], return_poses: bool = True) -> dict[str, Any]:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(self._score_one(c) for c in clips))
        return {"clips": [self.to_json(r, c.index, return_poses) for r, c in zip(results, clips)],
                "classes": await self.classes(), "seconds": time.perf_counter() - t0}

    async def detect_video(self, path: Path, index: int, name: str) -> dict[str, Any]:
        """A saved upload -> its detections; checks size, duration and decodability before the detector runs."""
        from posenas.core.video import probe_video

        field = f"files[{index}]"
        size = path.stat().st_size
        if size == 0:
            raise RequestError(422, "empty file (0 bytes)", field, index)
        if size > self.limits.max_video_bytes:
            raise RequestError(413, f"{size} bytes exceed the server's limit of {self.limits.max_video_bytes} "
                                    "per video", field, index)
        try:
            info = probe_video(path)
        except PosenasError as e:
            raise RequestError(422, f"not a decodable video: {getattr(e, 'reason', e)}", field, index) from None
        seconds = info.num_frames / info.fps
        if seconds > self.limits.max_video_seconds:
            raise RequestError(413, f"{seconds:.1f} s of video exceed the server's limit of "
                                    f"{self.limits.max_video_seconds:g} s", field, index)
        det, t_detect, detector = await self.call(self.detector.detect, path.read_bytes(), path.suffix.lower(), index)
        return {"detections": det, "detect": t_detect, "detector": detector, "name": name, "index": index}

    async def score_video(self, video: dict[str, Any]) -> Any:
        """Detections of one video -> the PipelineResult `Pipeline.run_video` gives."""
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(video["name"]).stem)[:80]
        clip_id = stem or f"video{video['index']}"
        res = await self.call(self.lifter.lift_detections, video["detections"], clip_id, {"detect": video["detect"]})
        res.stats["detector"] = video["detector"]
        res.models = await self.model_ids()
        res.models["detector"] = video["detector"]
        det = res.detections
        return await self.classify(res, video["index"], "files", track_ids=None if det is None else det.track_ids)


def _save_upload(upload: Any, tmp: Path, index: int, limit: int) -> Path:
    """Copy an UploadFile into the private temp dir under a server-chosen name (never the client's path)."""
    import shutil

    suffix = Path(upload.filename or "").suffix.lower()
    if not suffix.isascii() or len(suffix) > 10 or not suffix[1:].isalnum():
        suffix = ""
    path = tmp / f"upload{index}{suffix}"
    upload.file.seek(0)
    with open(path, "wb") as f:
        shutil.copyfileobj(upload.file, f, length=1 << 20)
    if path.stat().st_size > limit:
        raise RequestError(413, f"{path.stat().st_size} bytes exceed the server's limit of {limit}",
                           f"files[{index}]", index)
    return path


def create_api(scorer: Scorer, config: ServeConfig):
    """The FastAPI app: /v1 routes, JSON errors, body-size limits, and the Gradio demo mounted at /ui."""
    import json

    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, RedirectResponse
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from posenas._version import __version__
    from posenas.serve.limits import BodyLimitMiddleware, BodyTooLarge
    from posenas.serve.schemas import ErrorOut, ScoreRequest, ScoreResponse, loc_to_field
    from posenas.serve.validate import parse_json_clips, parse_keypoint_file

    limits = config.limits
    api = FastAPI(title="posenas", version=__version__, docs_url="/docs", redoc_url=None,
                  description="RGB video to 3D poses and action labels. Errors: JSON `ErrorOut` naming the "
                              "field and clip index.")
    video_request_bytes = limits.max_videos_per_request * limits.max_video_bytes + (1 << 20)
    api.add_middleware(BodyLimitMiddleware, default=limits.max_request_bytes,
                       per_prefix={f"{API_PREFIX}/score/video": video_request_bytes,
                                   config.ui.path: limits.max_video_bytes + (1 << 20)})

    def error(e: RequestError) -> JSONResponse:
        headers = {"Retry-After": "1"} if e.status == 503 else None
        return JSONResponse(e.body(), status_code=e.status, headers=headers)

    def validation_error(exc: ValidationError | RequestValidationError) -> RequestError:
        errs = []
        for err in exc.errors():
            field, clip = loc_to_field(tuple(err.get("loc", ())))
            errs.append({"field": field, "clip": clip, "message": err.get("msg", "invalid")})
        first = errs[0] if errs else {"field": "body", "clip": None, "message": "invalid request"}
        return RequestError(422, first["message"], first["field"], first["clip"], errs)

    @api.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError):
        return error(exc)

    @api.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge):
        return error(RequestError(413, f"request exceeds the server's limit of {exc.limit} bytes", "body"))

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        return error(validation_error(exc))

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail), "field": None, "clip": None, "status": exc.status_code,
                             "errors": []}, status_code=exc.status_code)

    @api.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception):
        log.exception("internal error")
        return JSONResponse({"error": f"internal server error ({type(exc).__name__})", "field": None,
                             "clip": None, "status": 500, "errors": []}, status_code=500)

    async def read_form(request: Request, max_files: int):
        from starlette.formparsers import MultiPartException

        try:
            return await request.form(max_files=max_files, max_fields=32)
        except MultiPartException as e:
            raise RequestError(400, f"malformed multipart body: {e.message}", "body") from None
        except StarletteHTTPException as e:  # starlette's own limits on parts
            if "files" in str(e.detail).lower():
                raise RequestError(413, f"more files than the server's limit of {max_files}", "files") from None
            raise RequestError(400, f"multipart body refused: {e.detail}", "body") from None

    def upload_list(form: Any, max_files: int) -> list[Any]:
        from starlette.datastructures import UploadFile

        files = form.getlist("files")
        if not files:
            raise RequestError(422, "no file uploaded: send one or more parts named 'files'", "files")
        if len(files) > max_files:
            raise RequestError(413, f"{len(files)} files exceed the server's limit of {max_files}", "files")
        for i, f in enumerate(files):
            if not isinstance(f, UploadFile):
                raise RequestError(422, "expected a file part, got a text field", f"files[{i}]", i)
        return files

    def form_flag(form: Any, name: str, default: bool) -> bool:
        v = form.get(name)
        if v is None:
            return default
        if str(v).lower() in ("1", "true", "yes"):
            return True
        if str(v).lower() in ("0", "false", "no"):
            return False
        raise RequestError(422, f"expected true or false, got {str(v)[:40]!r}", name)

    score_doc = {
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                          "description": "posenas keypoint files (.npz / .parquet)"},
                "return_poses": {"type": "boolean"}}}},
        }},
    }
    ok_responses: dict[int | str, dict[str, Any]] = {200: {"model": ScoreResponse}}
    ok_responses.update({s: {"model": ErrorOut} for s in (400, 413, 415, 422, 503)})

    @api.post(f"{API_PREFIX}/score", response_model=None, responses=ok_responses,
              openapi_extra=score_doc, summary="Score a batch of 2D keypoint or 3D pose clips")
    async def score(request: Request):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            raw = await request.body()
            try:
                data = json.loads(raw)
            except UnicodeDecodeError:
                raise RequestError(400, "body is not UTF-8 JSON", "body") from None
            except json.JSONDecodeError as e:
                raise RequestError(400, f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}",
                                   "body") from None
            try:
                req = ScoreRequest.model_validate(data)
            except ValidationError as e:
                raise validation_error(e) from None
            clips = parse_json_clips(req, limits)
            return JSONResponse(await scorer.score_clips(clips, req.return_poses))
        if ctype == "multipart/form-data":
            form = await read_form(request, limits.max_clips_per_request)
            try:
                files = upload_list(form, limits.max_clips_per_request)
                return_poses = form_flag(form, "return_poses", True)
                with tempfile.TemporaryDirectory(prefix="posenas-upload-") as d:
                    clips: list[ParsedClip] = []
                    for i, f in enumerate(files):
                        suffix = Path(f.filename or "").suffix.lower()
                        if suffix not in KEYPOINT_SUFFIXES:
                            raise RequestError(415, f"expected a posenas keypoint file ({', '.join(KEYPOINT_SUFFIXES)})"
                                                    f", got {suffix or 'no extension'}", f"files[{i}]", i)
                        path = _save_upload(f, Path(d), i, limits.max_request_bytes)
                        clips += parse_keypoint_file(path, i, limits, len(clips))
            finally:
                await form.close()
            return JSONResponse(await scorer.score_clips(clips, return_poses))
        raise RequestError(415, f"content type {ctype or 'missing'}: send application/json or multipart/form-data",
                           "content-type")

    @api.post(f"{API_PREFIX}/score/video", response_model=None, responses=ok_responses,
              summary="Score uploaded videos: 2D keypoints, 3D poses and actions",
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "properties": {
                      "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                      "return_poses": {"type": "boolean"}}}}}}})
    async def score_video(request: Request):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "multipart/form-data":
            raise RequestError(415, f"content type {ctype or 'missing'}: upload videos as multipart/form-data "
                                    "parts named 'files'", "content-type")
        form = await read_form(request, limits.max_videos_per_request)
        t0 = time.perf_counter()
        try:
            files = upload_list(form, limits.max_videos_per_request)
            return_poses = form_flag(form, "return_poses", True)
            for i, f in enumerate(files):
                ft = (f.content_type or "").lower()
                if not ft.startswith(VIDEO_CONTENT_TYPES):
                    raise RequestError(415, f"content type {ft or 'missing'} is not a video", f"files[{i}]", i)
            with tempfile.TemporaryDirectory(prefix="posenas-upload-") as d:
                paths = [_save_upload(f, Path(d), i, limits.max_video_bytes) for i, f in enumerate(files)]
                names = [Path(f.filename or f"video{i}").name for i, f in enumerate(files)]
                dets = await asyncio.gather(*(scorer.detect_video(p, i, n)
                                              for i, (p, n) in enumerate(zip(paths, names))))
        finally:
            await form.close()
        results = await asyncio.gather(*(scorer.score_video(det) for det in dets))
        return JSONResponse({"clips": [scorer.to_json(r, i, return_poses) for i, r in enumerate(results)],
                             "classes": await scorer.classes(), "seconds": time.perf_counter() - t0})

    @api.get(f"{API_PREFIX}/models", summary="Served models: ids, classes, coordinate space, genotype, data, metrics")
    async def models():
        return {**(await scorer.models()), "detector": config.pipeline.detector.model_dump(mode="json"),
                "ids": await scorer.model_ids()}

    @api.get(f"{API_PREFIX}/health", summary="200 when every deployment answers, else 503")
    async def health():
        status = await scorer.health()
        ready = all(status.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "deployments": status},
                            status_code=200 if ready else 503)

    @api.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse(config.ui.path if config.ui.enabled else "/docs")

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        schema = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        req = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        comps.update(req.pop("$defs", {}))
        comps["ScoreRequest"] = req
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]

    if config.ui.enabled:
        import os

        if not os.environ.get("GRADIO_TEMP_DIR"):  # Gradio's uploads: a private dir, not the shared /tmp/gradio
            os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="posenas-gradio-")
        import gradio as gr

        from posenas.serve.ui import build_ui, example_dirs

        api = gr.mount_gradio_app(api, build_ui(scorer, config), path=config.ui.path,
                                  max_file_size=limits.max_video_bytes, allowed_paths=example_dirs(config))
    return api


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """HTTP entry point; the FastAPI app is built on the replica (`__serve_build_asgi_app__`)."""

    def __init__(self, detector: DeploymentHandle, lifter: DeploymentHandle, classifier: DeploymentHandle,
                 config: dict[str, Any]):
        self.config = ServeConfig.model_validate(config)
        self.scorer = Scorer(detector, lifter, classifier, self.config)

    def __serve_build_asgi_app__(self):
        return create_api(self.scorer, self.config)


def build_app(args: dict[str, Any] | ServeConfig | None = None):
    """The Serve application (an application builder: `serve run posenas.serve.app:build_app config=x.yaml`)."""
    cfg = load_serve_config(args or None)
    pc = cfg.pipeline.model_dump(mode="json")
    det = DetectorDeployment.options(**cfg.detector.options()).bind(pc, cfg.limits.max_frames_per_clip)
    lift = LifterDeployment.options(**cfg.lifter.options()).bind(
        pc, cfg.lifter.max_batch_size, cfg.lifter.batch_wait_timeout_s)
    cls = ClassifierDeployment.options(**cfg.classifier.options()).bind(
        pc, cfg.classifier.max_batch_size, cfg.classifier.batch_wait_timeout_s)
    return Ingress.options(**cfg.ingress.options()).bind(det, lift, cls, cfg.model_dump(mode="json"))


def check_models(cfg: ServeConfig) -> None:
    """The served model files exist (a replica that cannot load its model would only fail inside Ray)."""
    from posenas.platform.classification.inference import DEFAULT_CHECKPOINT as ACTION_DEFAULT
    from posenas.platform.lifting.inference import DEFAULT_CHECKPOINT as LIFTER_DEFAULT

    for stage, path, default in (("lifter", cfg.pipeline.lifter.checkpoint, LIFTER_DEFAULT),
                                 ("classifier", cfg.pipeline.classifier.checkpoint, ACTION_DEFAULT)):
        p = Path(path) if path else default
        if not p.is_file():
            what = f"pipeline.{stage}.checkpoint {path}" if path else f"the shipped {stage} model {p}"
            raise PosenasError(f"{what}: no such file" + ("" if path else "; set pipeline." + stage +
                                                          ".checkpoint in the serve config"))


def start(config: ServeConfig | dict | str | Path | None = None, ray_address: str | None = None,
          num_cpus: int | None = None, **overrides: Any) -> DeploymentHandle:
    """Start (or connect to) Ray, start Serve on config.host:port and deploy; returns once the app is up."""
    from posenas.core.ray_runtime import init_ray

    cfg = load_serve_config(config, **overrides)
    check_models(cfg)
    init_ray(ray_address, num_cpus=num_cpus, log_to_driver=False)
    serve.start(http_options={"host": cfg.host, "port": cfg.port, "location": "HeadOnly"})
    return serve.run(build_app(cfg), name=cfg.app_name, route_prefix=cfg.route_prefix)


def __getattr__(name: str):
    """`posenas.serve.app:app` is the default application, built on first access (import stays cheap)."""
    if name == "app":
        return build_app()
    raise AttributeError(name)
