"""Loader registry: one name per format, plus detection so `posenas data info PATH` needs no flag."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from posenas.datasets.sequence import SkeletonDataset
from posenas.errors import PosenasError, UnknownNameError


class LoaderFn(Protocol):
    def __call__(self, path: Path, **options) -> SkeletonDataset: ...


@dataclass(frozen=True)
class LoaderSpec:
    name: str
    load: LoaderFn
    detect: Callable[[Path], bool]
    description: str


_LOADERS: dict[str, LoaderSpec] = {}


def register_loader(name: str, detect: Callable[[Path], bool], description: str):
    """Decorator that registers `load(path, **options) -> SkeletonDataset` under `name`."""

    def wrap(fn: LoaderFn) -> LoaderFn:
        _LOADERS[name] = LoaderSpec(name, fn, detect, description)
        return fn

    return wrap


def _ensure_builtin() -> None:
    # Importing the package registers every built-in loader.
    import posenas.datasets.loaders  # noqa: F401


def available_loaders() -> dict[str, LoaderSpec]:
    _ensure_builtin()
    return dict(_LOADERS)


def detect_format(path: str | Path) -> str:
    """Name of the first registered loader that recognises `path`."""
    _ensure_builtin()
    p = Path(path)
    if not p.exists():
        raise PosenasError(f"{p}: no such file or directory")
    for spec in _LOADERS.values():
        try:
            if spec.detect(p):
                return spec.name
        except OSError:
            continue
    raise PosenasError(
        f"{p}: not a dataset format posenas recognises; known formats: {', '.join(sorted(_LOADERS))}"
    )


def load_dataset(path: str | Path, format: str | None = None, **options) -> SkeletonDataset:
    """Load a dataset from `path`, detecting the format unless one is named."""
    _ensure_builtin()
    p = Path(path)
    if not p.exists():
        raise PosenasError(f"{p}: no such file or directory")
    name = format or detect_format(p)
    if name not in _LOADERS:
        raise UnknownNameError("dataset format", name, list(_LOADERS))
    load = _LOADERS[name].load
    try:
        inspect.signature(load).bind(p, **options)
    except TypeError:
        accepted = list(inspect.signature(load).parameters)[1:] or ["(none)"]
        raise PosenasError(
            f"loader {name!r} does not take option(s) {', '.join(sorted(options))}; it takes: {', '.join(accepted)}"
        ) from None
    return load(p, **options)
