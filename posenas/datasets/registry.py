"""Loader registry: one name per format, plus detection so `posenas data info PATH` needs no flag."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from posenas.core.registry import Registry
from posenas.datasets.sequence import SkeletonDataset
from posenas.errors import PosenasError


class LoaderFn(Protocol):
    def __call__(self, path: Path, **options) -> SkeletonDataset: ...


@dataclass(frozen=True)
class LoaderSpec:
    name: str
    load: LoaderFn
    detect: Callable[[Path], bool]
    description: str


# Importing posenas.datasets.loaders registers every built-in loader (on the first lookup).
_LOADERS: Registry[LoaderSpec] = Registry("dataset format", builtins=["posenas.datasets.loaders"])


def register_loader(name: str, detect: Callable[[Path], bool], description: str):
    """Decorator that registers `load(path, **options) -> SkeletonDataset` under `name`."""

    def wrap(fn: LoaderFn) -> LoaderFn:
        _LOADERS.register(name, LoaderSpec(name, fn, detect, description))
        return fn

    return wrap


def available_loaders() -> dict[str, LoaderSpec]:
    """Every registered loader by name, in registration order (the order `detect_format` tries them)."""
    return _LOADERS.items()


def detect_format(path: str | Path) -> str:
    """Name of the first registered loader that recognises `path`."""
    p = Path(path)
    if not p.exists():
        raise PosenasError(f"{p}: no such file or directory")
    for spec in _LOADERS.items().values():
        try:
            if spec.detect(p):
                return spec.name
        except OSError:
            continue
    raise PosenasError(
        f"{p}: not a dataset format posenas recognises; known formats: {', '.join(_LOADERS.names())}"
    )


def load_dataset(path: str | Path, format: str | None = None, **options) -> SkeletonDataset:
    """Load a dataset from `path`, detecting the format unless one is named."""
    p = Path(path)
    if not p.exists():
        raise PosenasError(f"{p}: no such file or directory")
    name = format or detect_format(p)
    check_loader_options(name, options)
    return _LOADERS.get(name).load(p, **options)


def check_loader_options(format: str, options: dict) -> None:
    """Fail in one line when loader `format` takes no such keyword options: checked before any file is read."""
    load = _LOADERS.get(format).load
    try:
        inspect.signature(load).bind("path", **options)
    except TypeError:
        accepted = list(inspect.signature(load).parameters)[1:] or ["(none)"]
        raise PosenasError(
            f"loader {format!r} does not take option(s) {', '.join(sorted(options))}; it takes: {', '.join(accepted)}"
        ) from None
