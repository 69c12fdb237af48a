"""Errors that carry the place of the fault, so a user can open the file at the right line."""

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


class UnknownNameError(PosenasError, KeyError):
    """A registry lookup failed; lists what is available instead of a bare KeyError."""

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]):
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        super().__init__(f"unknown {kind} {name!r}; available: {', '.join(self.available)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]
