"""What a posenas server runs: the pipeline it serves, how each deployment scales, and the request limits.

One YAML file (see ``serve.yaml`` at the repository root) holds all of it; `posenas serve --config`,
`serve run posenas.serve.app:build_app config=serve.yaml` and a Serve config file's ``args`` all read
the same model, so a typo in any key is refused up front (extra="forbid") with the key's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from posenas.errors import DataFormatError
from posenas.platform.pipeline_config import PipelineConfig, load_pipeline_config

MiB = 1024 * 1024


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentSettings(_Model):
    """Scaling of one Serve deployment; passed to `Deployment.options` as they are."""

    num_replicas: int | Literal["auto"] = Field(1, description="fixed replica count, or 'auto' (Serve's defaults)")
    autoscaling_config: dict[str, Any] | None = Field(
        None, description="Serve AutoscalingConfig (min_replicas, max_replicas, target_ongoing_requests, ...); "
                          "replaces num_replicas when set")
    max_ongoing_requests: int = Field(8, ge=1, description="requests a replica works on at once")
    max_queued_requests: int = Field(-1, ge=-1, description="queued requests per handle before Serve answers "
                                                            "503 (-1: no limit)")
    ray_actor_options: dict[str, Any] = Field(
        default_factory=lambda: {"num_cpus": 0.5},
        description="Ray actor options of each replica: num_cpus, num_gpus (1 on a GPU node), memory, ...")

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `Deployment.options`."""
        opts: dict[str, Any] = {
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "ray_actor_options": dict(self.ray_actor_options),
        }
        if self.autoscaling_config is not None:
            opts["autoscaling_config"] = dict(self.autoscaling_config)
        else:
            opts["num_replicas"] = self.num_replicas
        return opts


class BatchedDeploymentSettings(DeploymentSettings):
    """A deployment whose model call is `@serve.batch`-ed: requests wait up to the timeout to share a batch."""

    max_ongoing_requests: int = Field(32, ge=1, description="must be >= max_batch_size for batches to fill")
    max_batch_size: int = Field(16, ge=1, description="clips per model call")
    batch_wait_timeout_s: float = Field(0.005, ge=0, description="how long a batch waits to fill")

    @model_validator(mode="after")
    def _batch_fits(self) -> BatchedDeploymentSettings:
        if self.max_batch_size > self.max_ongoing_requests:
            raise ValueError(f"max_batch_size ({self.max_batch_size}) exceeds max_ongoing_requests "
                             f"({self.max_ongoing_requests}): batches could never fill")
        return self


class Limits(_Model):
    """What one request may carry; anything beyond is answered 413/422 before any model runs."""

    max_request_bytes: int = Field(64 * MiB, ge=1024, description="body size of one request")
    max_clips_per_request: int = Field(256, ge=1)
    max_frames_per_clip: int = Field(9000, ge=1)
    max_persons_per_clip: int = Field(16, ge=1)
    max_videos_per_request: int = Field(4, ge=1)
    max_video_bytes: int = Field(256 * MiB, ge=1024, description="size of one uploaded video")
    max_video_seconds: float = Field(300.0, gt=0, description="duration of one uploaded video")


class UISettings(_Model):
    enabled: bool = True
    path: str = Field("/ui", pattern=r"^/[A-Za-z0-9_\-/]*$")
    examples: list[str] | None = Field(
        None, description="example videos offered in the demo; None: the project's sample clip when present")


class ServeConfig(_Model):
    """Everything `posenas serve` needs; every field has a default, so an empty file is a valid config."""

    pipeline: PipelineConfig = Field(default_factory=PipelineConfig,
                                     description="detector, lifter and classifier served (as for `posenas run`)")
    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 exposes the server to the network")
    port: int = Field(8000, ge=0, le=65535)
    app_name: str = "posenas"
    route_prefix: str = "/"
    limits: Limits = Field(default_factory=Limits)
    ingress: DeploymentSettings = Field(default_factory=lambda: DeploymentSettings(
        max_ongoing_requests=64, ray_actor_options={"num_cpus": 0.25}))
    detector: DeploymentSettings = Field(default_factory=lambda: DeploymentSettings(
        max_ongoing_requests=2, ray_actor_options={"num_cpus": 0.5}))
    lifter: BatchedDeploymentSettings = Field(default_factory=BatchedDeploymentSettings)
    classifier: BatchedDeploymentSettings = Field(default_factory=BatchedDeploymentSettings)
    request_retries: int = Field(2, ge=0, description="retries when a replica dies under a request")
    request_timeout_s: float = Field(600.0, gt=0, description="longest a request may take")
    ui: UISettings = Field(default_factory=UISettings)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ServeConfig:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise DataFormatError(p, "no such serve config file")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            raise DataFormatError(p, f"not valid YAML: {e}", line=None if line is None else line + 1) from None
        return _validate(data, p)


def _validate(data: Any, source: str | Path) -> ServeConfig:
    if not isinstance(data, dict):
        raise DataFormatError(source, f"expected a mapping of settings, got {type(data).__name__}")
    data = dict(data)
    if isinstance(data.get("pipeline"), (str, Path)):  # a pipeline config file of its own
        data["pipeline"] = load_pipeline_config(data["pipeline"])
    try:
        return ServeConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise DataFormatError(source, err["msg"], field=field) from None


def load_serve_config(config: ServeConfig | dict | str | Path | None = None, **overrides: Any) -> ServeConfig:
    """A ServeConfig from an instance, a dict (Serve `args`), a YAML path, or None (all defaults).

    A dict with only a ``config`` key (``serve run posenas.serve.app:build_app config=serve.yaml``)
    names a YAML file; `overrides` (e.g. host, port from the command line) win over the file.
    """
    if config is None:
        cfg = ServeConfig()
    elif isinstance(config, ServeConfig):
        cfg = config
    elif isinstance(config, dict):
        if set(config) <= {"config"} and config:
            cfg = ServeConfig.from_yaml(config["config"])
        else:
            cfg = _validate(config, "serve config")
    else:
        cfg = ServeConfig.from_yaml(config)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        cfg = _validate({**cfg.model_dump(), **overrides}, "command line")
    return cfg
