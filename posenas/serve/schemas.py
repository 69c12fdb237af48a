"""The HTTP API's request and response bodies (what /docs shows), and the one shape of every error answer.

Arrays travel as nested JSON lists. A missing 2D joint is ``null`` (its score is then taken as 0);
NaN and Infinity literals are refused, so a client's serialisation bug is not read as data.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Number = float | None


class ClipIn(BaseModel):
    """One clip: 2D keypoints (pixels, with the image size) to lift and classify, or 3D poses to classify."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=200, description="echoed back; default clip<index>")
    layout: str = Field(..., description="joint layout name, e.g. coco17, h36m17, mediapipe33, msr20")
    keypoints: list[list[list[list[Number]]]] | None = Field(
        None, description="(frames, persons, joints, 2) pixels; null = joint not seen")
    scores: list[list[list[float]]] | None = Field(
        None, description="(frames, persons, joints) confidences in [0, 1]; default 1 where a joint is given")
    width: int | None = Field(None, gt=0, le=65536, description="image width in pixels (2D keypoints)")
    height: int | None = Field(None, gt=0, le=65536, description="image height in pixels (2D keypoints)")
    fps: float = Field(30.0, gt=0, le=1000)
    poses: list[list[list[list[Number]]]] | None = Field(
        None, description="(frames, persons, joints, 3) metres, instead of keypoints; null = joint not seen")
    left_handed: bool = Field(False, description="3D poses in a left-handed frame (e.g. Kinect)")

    @model_validator(mode="after")
    def _one_kind(self) -> ClipIn:
        if (self.keypoints is None) == (self.poses is None):
            raise ValueError("give exactly one of keypoints (2D) or poses (3D)")
        if self.keypoints is not None and (self.width is None or self.height is None):
            raise ValueError("2D keypoints need width and height (the image size in pixels)")
        return self


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clips: list[ClipIn] = Field(..., min_length=1)
    return_poses: bool = Field(True, description="include the lifted 3D poses in the answer")


class TopK(BaseModel):
    label: str
    probability: float


class ActionOut(BaseModel):
    person: int
    track_id: int | None = None
    label: str
    probability: float
    top_k: list[TopK]
    probabilities: list[float] = Field(..., description="all classes, in `classes` order")


class ClipOut(BaseModel):
    """`PipelineResult.to_dict` (what `posenas run` writes) plus the clip's index and run statistics."""

    index: int
    clip_id: str
    frames: int
    persons: int
    actions: list[ActionOut] = Field(..., description="one per person seen in at least 2 frames")
    models: dict[str, str]
    timings: dict[str, float]
    stats: dict[str, Any]
    pose_3d: list | None = Field(None, description="(frames, persons, 17, 3) h36m17 metres, root-relative, "
                                                   "camera axes; null where a person was not seen")
    keypoints_2d: list | None = Field(None, description="(frames, persons, 17, 2) h36m17 pixels, gap-filled")
    scores: list | None = Field(None, description="(frames, persons, 17) confidences the lifter used")


class ScoreResponse(BaseModel):
    clips: list[ClipOut]
    classes: list[str]
    seconds: float


class ErrorOut(BaseModel):
    """Every 4xx/5xx answer: the first problem in `error`, where it is in `field` and `clip`."""

    error: str
    field: str | None = Field(None, description="e.g. clips[2].keypoints, files[0], body")
    clip: int | None = Field(None, description="index of the clip or uploaded file at fault")
    status: int
    errors: list[dict[str, Any]] = Field(default_factory=list, description="all problems found")


def loc_to_field(loc: tuple | list) -> tuple[str, int | None]:
    """Pydantic's ('clips', 2, 'keypoints', 0) -> ('clips[2].keypoints[0]', 2)."""
    parts: list[str] = []
    clip = None
    items = [x for x in loc if x != "body"]
    for i, x in enumerate(items):
        if isinstance(x, int):
            if i == 1 and items[0] in ("clips", "files"):
                clip = x
            parts.append(f"[{x}]")
        else:
            parts.append(("." if parts else "") + str(x))
    return "".join(parts) or "body", clip
