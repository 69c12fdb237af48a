"""Errors that carry the place of the fault, so a user can open the file at the right line.

Every class here survives pickling with its message and fields (`__reduce__`), because Ray ships a
worker's exception back to the driver by pickling it: an error raised inside a Tune trial or a Ray Data
actor must arrive as the same one-line error, not as a failure to rebuild it.
"""

from __future__ import annotations

from pathlib import Path


class PosenasError(Exception):
    """Base class for every error posenas raises on purpose; the CLI prints these without a traceback."""


class DataFormatError(PosenasError, ValueError):
    """A data file does not match its format; names the file and, when known, the line and field."""

    def __init__(self, path: str | Path, message: str, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = self.path if line is None else f"{self.path}:{line}"
        if field:
            where = f"{where} [{field}]"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # Exception's default would call __init__ with the formatted message only
        return type(self), (self.path, self.reason, self.line, self.field)


class UnknownNameError(PosenasError, KeyError):
    """A registry lookup failed; lists what is available instead of a bare KeyError."""

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]):
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        super().__init__(f"unknown {kind} {name!r}; available: {', '.join(self.available)}")

    def __reduce__(self):
        return type(self), (self.kind, self.name, list(self.available))

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class ConfigError(PosenasError, ValueError):
    """A config value of the wrong type or out of range; names the config class and the field."""

    def __init__(self, config: str, field: str | None, message: str):
        self.config = config
        self.field = field
        self.reason = message
        super().__init__(f"{config}.{field}: {message}" if field else f"{config}: {message}")

    def __reduce__(self):
        return type(self), (self.config, self.field, self.reason)
