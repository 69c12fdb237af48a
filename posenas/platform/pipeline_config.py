"""The pipeline's one typed, validated config (pydantic): what `Pipeline.from_config`, `posenas run --config`
and the Serve application read. Every field has a default that works offline; `posenas run --print-config`
writes the defaults as YAML for the user to edit.

```yaml
detector: {name: mediapipe, options: {}}
tracker: {enabled: true}
lifter: {checkpoint: null}        # null = the shipped two-stream lifter
classifier: {checkpoint: null, top_k: 5}   # null = the shipped MSR Action3D model
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from posenas.errors import DataFormatError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorSettings(_Strict):
    name: str = Field("mediapipe", description="2D detector (see posenas.platform.detection.detectors.DETECTORS)")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the detector")


class TrackerSettings(_Strict):
    enabled: bool = Field(True, description="give persons stable ids across frames (multi-person detectors)")
    options: dict[str, Any] = Field(default_factory=dict)


class LifterSettings(_Strict):
    checkpoint: str | None = Field(None, description="lifter checkpoint path; null = the shipped two-stream lifter")
    max_frames_per_pass: int = Field(2048, ge=1)


class ClassifierSettings(_Strict):
    checkpoint: str | None = Field(None, description="action model checkpoint path; null = the shipped default")
    top_k: int = Field(5, ge=1, le=100)


class PipelineConfig(_Strict):
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    lifter: LifterSettings = Field(default_factory=LifterSettings)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)

    @field_validator("detector", "tracker", "lifter", "classifier", mode="before")
    @classmethod
    def _none_is_default(cls, v: Any) -> Any:
        return {} if v is None else v  # an empty YAML section means "defaults"

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _where(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ())) or "<root>"


def load_pipeline_config(source: PipelineConfig | dict[str, Any] | str | Path | None = None) -> PipelineConfig:
    """A config from a PipelineConfig, a dict, a YAML file path or None (defaults). Errors name the field."""
    if source is None:
        return PipelineConfig()
    if isinstance(source, PipelineConfig):
        return source
    origin = "<config>"
    if isinstance(source, (str, Path)):
        import yaml

        path = Path(source)
        origin = str(path)
        if not path.is_file():
            raise DataFormatError(path, "pipeline config file not found")
        try:
            source = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            raise DataFormatError(path, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                  line=None if line is None else line + 1) from None
        if not isinstance(source, dict):
            raise DataFormatError(path, "a pipeline config is a YAML mapping (detector:, lifter:, classifier:)")
    try:
        return PipelineConfig.model_validate(source)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataFormatError(origin, first["msg"], field=_where(first)) from None
