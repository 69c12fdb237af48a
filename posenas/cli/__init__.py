"""The `posenas` command. Each stage owns its sub-command module; this file only wires them up."""

from __future__ import annotations

import os
import sys
from importlib import import_module

import typer

from posenas import __version__
from posenas.errors import PosenasError

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

app = typer.Typer(
    name="posenas",
    help="RGB video to 3D poses and action labels; ENAS search and serving on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, name): each module holds a typer.Typer (group) or a function (single command).
_SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("posenas.cli.data", "app", "data"),
    ("posenas.cli.lift", "app", "lift"),
    ("posenas.cli.extract", "extract_command", "extract"),
    ("posenas.cli.search", "search", "search"),
    ("posenas.cli.search", "train", "train"),
    ("posenas.cli.search", "evaluate", "eval"),
]


def _register() -> None:
    for module, attr, name in _SUBCOMMANDS:
        obj = getattr(import_module(module), attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name=name)(obj)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        typer.echo(f"posenas {__version__}")
        raise typer.Exit()


_register()


def main() -> None:
    """Entry point: posenas errors print as one clear line (exit 2) instead of a traceback.

    Usage errors are typer's own (exit 2 with the usage text); anything else is a bug and keeps its traceback.
    """
    try:
        app()
    except PosenasError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()
