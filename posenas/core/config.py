"""Validated config dataclasses: the one way every model, training and data config is declared.

`config_dataclass` is `pydantic.dataclasses.dataclass` with unknown fields refused: each field's type
is checked on construction (a JSON list fills a tuple field, "3" an int one; "abc" for an int fails),
and a failure is a `ConfigError` naming the class and the field, picklable so it crosses Ray. The
classes stay ordinary dataclasses (`dataclasses.asdict`, `replace`, `fields` work), so call sites
construct them as before. The `ConfigBase` mixin adds `to_dict` (JSON-able, what checkpoints store) and
`from_dict` (its validated inverse).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import ConfigDict as _PydanticConfig
from pydantic import TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as _pydantic_dataclass

from posenas.errors import ConfigError

T = TypeVar("T")
_FORBID_EXTRA = _PydanticConfig(extra="forbid")


def config_error(name: str, exc: ValidationError) -> ConfigError:
    """The first validation failure as one line: `Class.field: message (got value)`."""
    first = exc.errors()[0]
    raised = first.get("ctx", {}).get("error")
    if isinstance(raised, ConfigError):  # a check in __post_init__ that already names its field
        return raised
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    if isinstance(raised, Exception):  # any other ValueError of a __post_init__ check
        message = str(raised)
    elif first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required value missing"
    else:
        message = f"{first['msg']} (got {first.get('input')!r})"
    return ConfigError(name, field, message)


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


class ConfigBase:
    """Mixin of every config dataclass: `to_dict` / `from_dict` round-trip through JSON-able dicts."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of JSON types (tuples become lists), for checkpoints and run files."""
        return _adapter(type(self)).dump_python(self, mode="json")

    @classmethod
    def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
        """Validated inverse of `to_dict`: lists fill tuple fields, a bad or unknown field is a ConfigError."""
        try:
            return _adapter(cls).validate_python(dict(d))
        except ValidationError as exc:
            raise config_error(cls.__name__, exc) from None


def config_dataclass(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """Decorator: a pydantic dataclass that refuses unknown fields and raises ConfigError on a bad value."""

    def wrap(c: type[T]) -> type[T]:
        dc = _pydantic_dataclass(c, config=_FORBID_EXTRA, frozen=frozen)
        validated_init: Callable[..., None] = dc.__init__

        @functools.wraps(validated_init)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                validated_init(self, *args, **kwargs)
            except ValidationError as exc:
                raise config_error(dc.__name__, exc) from None

        dc.__init__ = __init__
        return dc

    return wrap if cls is None else wrap(cls)
