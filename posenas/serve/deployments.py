"""The model deployments: 2D detection (video decode + detector), lifting and classification.

Each replica builds the shared `Pipeline` from the served config, so a clip scored over HTTP goes
through exactly the code `posenas run` runs. The lifter and the classifier are `@serve.batch`-ed:
concurrent requests wait up to `batch_wait_timeout_s` to share one model call of up to
`max_batch_size` clips. A batch in which one clip fails is re-run clip by clip, so one bad clip
cannot fail the requests it happened to share a batch with.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

from posenas.errors import PosenasError

log = logging.getLogger(__name__)


def _pipeline(pipeline_config: dict[str, Any]):
    from posenas.platform.pipeline import Pipeline
    from posenas.platform.pipeline_config import PipelineConfig

    return Pipeline.from_config(PipelineConfig.model_validate(pipeline_config))


def _per_item(fn, items: list) -> list:
    """fn(items) for a whole batch; on a posenas error, item by item (the failing ones get their error)."""
    try:
        return fn(items)
    except PosenasError:
        out: list[Any] = []
        for it in items:
            try:
                out.append(fn([it])[0])
            except PosenasError as e:
                out.append(e)
        return out


@serve.deployment(name="Detector")
class DetectorDeployment:
    """Decodes an uploaded video (bytes, written to a private temp dir and removed) and detects 2D people."""

    def __init__(self, pipeline_config: dict[str, Any], max_frames: int):
        self.pipeline = _pipeline(pipeline_config)
        self.max_frames = max_frames
        self.pipeline.detector  # load the detector now, not under the first request

    async def detect(self, data: bytes, suffix: str, index: int) -> Any:
        """-> (Detections, seconds, detector name); a RequestError for a bad video."""
        return await asyncio.to_thread(self._detect, data, suffix, index)

    def _detect(self, data: bytes, suffix: str, index: int) -> Any:
        from posenas.core.video import probe_video
        from posenas.serve.validate import RequestError

        field = f"files[{index}]"
        tmp = Path(tempfile.mkdtemp(prefix="posenas-detect-"))  # mode 0700: private to this user
        try:
            path = tmp / f"upload{suffix}"
            path.write_bytes(data)
            try:
                info = probe_video(path)
                if info.num_frames > self.max_frames:
                    raise RequestError(413, f"{info.num_frames} frames exceed the server's limit of "
                                            f"{self.max_frames} per clip", field, index)
                t0 = time.perf_counter()
                det = self.pipeline.detector.detect_video(path)
                seconds = time.perf_counter() - t0
            except RequestError:
                raise
            except PosenasError as e:
                raise RequestError(422, f"not a decodable video: {getattr(e, 'reason', e)}", field, index) from None
            if det.num_frames == 0:
                raise RequestError(422, "not a decodable video: no frames", field, index)
            if det.num_frames > self.max_frames:
                raise RequestError(413, f"{det.num_frames} frames exceed the server's limit of {self.max_frames} "
                                        "per clip", field, index)
            return det, seconds, self.pipeline.detector.name
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def ping(self) -> bool:
        return True


@serve.deployment(name="Lifter")
class LifterDeployment:
    """2D keypoints -> tracked, gap-filled 3D poses (`Pipeline.run_keypoints` / `run_detections` without the
    classifier); keypoint clips are batched across requests."""

    def __init__(self, pipeline_config: dict[str, Any], max_batch_size: int, batch_wait_timeout_s: float):
        self.pipeline = _pipeline(pipeline_config)
        self.pipeline.lifter  # load now, not under the first request
        self.lift.set_max_batch_size(max_batch_size)
        self.lift.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def _lift_clips(self, clips: list[Any]) -> list[Any]:
        return [self.pipeline.run_keypoints(c.keypoints, c.scores, c.layout, c.width, c.height, c.fps, c.clip_id,
                                            classify=False) for c in clips]

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def lift(self, clips: list[Any]) -> list[Any]:
        """Each KeypointClip -> (PipelineResult without actions, size of its batch), or the clip's error."""
        results = await asyncio.to_thread(_per_item, self._lift_clips, clips)
        return [r if isinstance(r, Exception) else (r, len(clips)) for r in results]

    async def lift_detections(self, det: Any, clip_id: str, timings: dict[str, float]) -> Any:
        """A video's detections -> PipelineResult without actions (one video is a batch of its own)."""
        return await asyncio.to_thread(self.pipeline.run_detections, det, clip_id, False, timings)

    def ping(self) -> bool:
        return True


@serve.deployment(name="Classifier")
class ClassifierDeployment:
    """3D pose clips -> per-person actions (`Pipeline.classify_batch`), batched across requests."""

    def __init__(self, pipeline_config: dict[str, Any], max_batch_size: int, batch_wait_timeout_s: float):
        self.pipeline = _pipeline(pipeline_config)
        self.pipeline.encoder  # load the classifier (and check its pose space) now
        self.classify.set_max_batch_size(max_batch_size)
        self.classify.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def _classify(self, items: list[tuple[np.ndarray, str, bool, list[int] | None]]) -> list[Any]:
        out: list[Any] = [None] * len(items)
        for layout in dict.fromkeys(it[1] for it in items):  # classify_batch takes one layout per call
            idx = [i for i, it in enumerate(items) if it[1] == layout]
            timings: dict[str, float] = {}
            actions = self.pipeline.classify_batch([items[i][0] for i in idx], layout,
                                                   [items[i][2] for i in idx], [items[i][3] for i in idx], timings)
            for i, a in zip(idx, actions):
                out[i] = (a, timings, len(items))
        return out

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def classify(self, items: list[tuple[np.ndarray, str, bool, list[int] | None]]) -> list[Any]:
        """Each (poses (T, P, J, 3), layout, left_handed, track ids) -> (actions, timings, batch size) or error."""
        return await asyncio.to_thread(_per_item, self._classify, items)

    def classes(self) -> list[str]:
        return list(self.pipeline.classes)

    def model_ids(self) -> dict[str, str]:
        return self.pipeline.model_ids()

    def model_info(self) -> dict[str, Any]:
        """Records of the served lifter and classifier (the classifier replica loads both)."""
        return self.pipeline.model_info()

    def ping(self) -> bool:
        return True
