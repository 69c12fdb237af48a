"""`posenas score --url URL FILES...`: send keypoint files (npz / Parquet), score requests (.json) or videos
to a running posenas server and collect one Parquet (and JSON) of results.

At most `concurrency` requests are in flight; a 503 (server busy, replica restarting) or a dropped
connection is retried with exponential backoff (honouring Retry-After); a 4xx is the file's fault and
is reported for that file without stopping the others.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posenas.errors import PosenasError

KEYPOINT_SUFFIXES = (".npz", ".parquet")
JSON_SUFFIXES = (".json",)
RETRY_STATUS = (502, 503, 504)


@dataclass
class FileResult:
    path: str
    status: int | None = None
    response: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _kind(path: Path) -> str:
    from posenas.core.video import VIDEO_SUFFIXES

    s = path.suffix.lower()
    if s in KEYPOINT_SUFFIXES:
        return "keypoints"
    if s in JSON_SUFFIXES:
        return "json"
    if s in VIDEO_SUFFIXES:
        return "video"
    raise PosenasError(f"{path}: unsupported file type {s or '(none)'}; give videos "
                       f"({', '.join(VIDEO_SUFFIXES)}), keypoint files (.npz, .parquet) or score requests (.json)")


def check_inputs(paths: list[Path]) -> list[Path]:
    """Every input exists and has a known type (checked before any request is sent)."""
    if not paths:
        raise PosenasError("give at least one file to score")
    for p in paths:
        if not p.is_file():
            raise PosenasError(f"{p}: no such file")
        _kind(p)
    return paths


async def _post(client: Any, url: str, path: Path, return_poses: bool) -> Any:
    import mimetypes

    kind = _kind(path)
    data = path.read_bytes()
    if kind == "json":
        return await client.post(f"{url}/v1/score", content=data, headers={"content-type": "application/json"})
    ctype = (mimetypes.guess_type(path.name)[0] or "application/octet-stream") if kind == "video" \
        else "application/octet-stream"
    endpoint = "/v1/score/video" if kind == "video" else "/v1/score"
    return await client.post(f"{url}{endpoint}", files={"files": (path.name, data, ctype)},
                             data={"return_poses": str(return_poses).lower()})


async def _one(client: Any, url: str, path: Path, sem: asyncio.Semaphore, retries: int, backoff_s: float,
               return_poses: bool) -> FileResult:
    import time

    import httpx

    res = FileResult(str(path))
    async with sem:
        t0 = time.perf_counter()
        for attempt in range(retries + 1):
            res.attempts = attempt + 1
            try:
                r = await _post(client, url, path, return_poses)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as e:
                res.status, res.error = None, f"connection failed: {e}"
                wait = backoff_s * 2 ** attempt
            else:
                res.status = r.status_code
                try:
                    body = r.json()
                except ValueError:
                    body = {"error": r.text[:500]}
                if r.status_code == 200:
                    res.response, res.error = body, None
                    break
                res.error = body.get("error", str(body))[:1000] if isinstance(body, dict) else str(body)[:1000]
                if r.status_code not in RETRY_STATUS:
                    break
                try:
                    wait = max(float(r.headers.get("retry-after", 0)), backoff_s * 2 ** attempt)
                except ValueError:
                    wait = backoff_s * 2 ** attempt
            if attempt < retries:
                await asyncio.sleep(wait * (1 + 0.25 * random.random()))
        res.seconds = time.perf_counter() - t0
    return res


def check_server(url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """GET /v1/health; a clear error when nothing answers at `url`."""
    import httpx

    try:
        r = httpx.get(f"{url}/v1/health", timeout=timeout_s)
    except httpx.HTTPError as e:
        raise PosenasError(f"no posenas server at {url} ({type(e).__name__}: {e}); start one with `posenas serve` "
                           "or pass --url") from None
    try:
        return r.json()
    except ValueError:
        raise PosenasError(f"{url} answered {r.status_code} but is not a posenas server (no JSON health)") from None


async def score_async(url: str, paths: list[Path], concurrency: int = 4, retries: int = 5, backoff_s: float = 0.5,
                      timeout_s: float = 600.0, return_poses: bool = False, progress: bool = True) -> list[FileResult]:
    import httpx
    from tqdm import tqdm

    sem = asyncio.Semaphore(max(1, concurrency))
    limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency))
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        tasks = [asyncio.create_task(_one(client, url, p, sem, retries, backoff_s, return_poses)) for p in paths]
        bar = tqdm(total=len(tasks), desc="scoring", unit="file", disable=not progress)
        for t in asyncio.as_completed(tasks):
            r = await t
            bar.update(1)
            if r.error:
                bar.write(f"{r.path}: {r.error}")
        bar.close()
        return [t.result() for t in tasks]


def results_table(results: list[FileResult]):
    """One row per (file, clip, person) with the top-1 action and the top-k; failed files get one error row."""
    import pandas as pd

    rows = []
    for r in results:
        if r.response is None:
            rows.append({"file": r.path, "status": r.status, "error": r.error})
            continue
        for clip in r.response.get("clips", []):
            base = {"file": r.path, "status": r.status, "error": None, "clip": clip.get("index"),
                    "clip_id": clip.get("clip_id", clip.get("id")),
                    "lifter": (clip.get("models") or {}).get("lifter"),
                    "classifier": (clip.get("models") or {}).get("classifier"),
                    "frames": (clip.get("stats") or {}).get("frames")}
            actions = clip.get("actions") or []
            if not actions:
                rows.append({**base, "person": None, "label": None, "probability": None})
            for a in actions:
                top = a.get("top_k") or []
                rows.append({**base, "person": a.get("person"), "label": a.get("label"),
                             "probability": a.get("probability"),
                             "top_k_labels": [t["label"] for t in top],
                             "top_k_probabilities": [float(t["probability"]) for t in top]})
    cols = ["file", "status", "error", "clip", "clip_id", "person", "label", "probability", "top_k_labels",
            "top_k_probabilities", "frames", "lifter", "classifier"]
    return pd.DataFrame(rows).reindex(columns=cols)


def score_files(url: str, paths: list[Path], out: Path, concurrency: int = 4, retries: int = 5,
                backoff_s: float = 0.5, timeout_s: float = 600.0, return_poses: bool = False,
                progress: bool = True) -> tuple[list[FileResult], Path, Path]:
    """Score every file; writes `out` (Parquet) and `out` with .json (full responses). Returns the results."""
    url = url.rstrip("/")
    check_inputs(paths)
    check_server(url)
    results = asyncio.run(score_async(url, paths, concurrency, retries, backoff_s, timeout_s, return_poses, progress))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results_table(results).to_parquet(out, index=False)
    js = out.with_suffix(".json")
    js.write_text(json.dumps([{"file": r.path, "status": r.status, "error": r.error, "attempts": r.attempts,
                               "seconds": r.seconds, "response": r.response} for r in results], indent=1))
    return results, out, js
