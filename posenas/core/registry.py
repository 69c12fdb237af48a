"""The one registry helper: named factories (layouts, loaders, detectors, model families) with errors that
list what exists, and built-in modules imported on first lookup so nothing depends on import order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from importlib import import_module
from typing import Generic, TypeVar, overload

from posenas.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """name -> object. `builtins` are module paths imported before the first lookup (they register themselves)."""

    def __init__(self, kind: str, builtins: Sequence[str] = ()):
        self.kind = kind
        self._builtins = tuple(builtins)
        self._loaded = not self._builtins
        self._items: dict[str, T] = {}

    def _ensure(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._builtins:
                import_module(module)

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name, obj=None):
        """`registry.register("x", obj)` or `@registry.register("x")`; re-registering a name replaces it."""
        if obj is not None:
            self._items[name] = obj
            return obj

        def wrap(o: T) -> T:
            self._items[name] = o
            return o

        return wrap

    def get(self, name: str) -> T:
        self._ensure()
        if name not in self._items:
            raise UnknownNameError(self.kind, name, list(self._items))
        return self._items[name]

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._items)

    def items(self) -> dict[str, T]:
        self._ensure()
        return dict(self._items)

    def __contains__(self, name: object) -> bool:
        self._ensure()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
