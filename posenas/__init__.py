"""posenas: RGB video to 3D human poses and action labels, searched and served on Ray."""

from __future__ import annotations

from typing import Any

from posenas._version import __version__
__all__ = ["Pipeline", "PipelineConfig", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import posenas` (and `posenas --help`) does not load torch or MediaPipe.
    if name == "Pipeline":
        from posenas.platform.pipeline import Pipeline

        return Pipeline
    if name == "PipelineConfig":
        from posenas.platform.pipeline_config import PipelineConfig

        return PipelineConfig
    raise AttributeError(f"module 'posenas' has no attribute {name!r}")
