"""The `posenas` command. Each stage owns its sub-command module; this file only wires them up."""

from __future__ import annotations

import os
import sys
from importlib import import_module

import typer

from posenas._version import __version__
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
    ("posenas.cli.run", "run_command", "run"),
    ("posenas.cli.extract", "extract_command", "extract"),
    ("posenas.cli.search", "search", "search"),
    ("posenas.cli.train", "train", "train"),
    ("posenas.cli.eval", "evaluate", "eval"),
    ("posenas.cli.models", "app", "models"),
    ("posenas.cli.serve", "serve_command", "serve"),
    ("posenas.cli.score", "score_command", "score"),
]


def _register() -> None:
    for module, attr, name in _SUBCOMMANDS:
        obj = getattr(import_module(module), attr)
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=name)
        else:
            app.command(name=name)(obj)


def _print_version(value: bool) -> None:
    # an eager option callback runs while parsing, before click asks for a sub-command
    if value:
        typer.echo(f"posenas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version, expose_value=False),
) -> None:
    """RGB video to 3D poses and action labels; ENAS search and serving on Ray."""


_register()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point: every user error is one line `error: ...` naming the file or option, exit status 2.

    Usage errors (a bad or missing option, checked while parsing, before any work starts) and posenas
    errors (a bad file found while working) both end that way; anything else is a bug and keeps its
    traceback.
    """
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="posenas", standalone_mode=False)
    except typer.Abort:
        typer.secho("aborted", err=True, fg=typer.colors.RED)
        sys.exit(130)
    except typer.TyperException as e:  # typer's (vendored click's) usage errors: bad, missing, unknown options
        if type(e).__name__ == "NoArgsIsHelpError":  # `posenas` or `posenas lift` alone: the help text
            typer.echo(e.format_message())
            sys.exit(0)
        ctx = getattr(e, "ctx", None)
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None and e.exit_code == 2 else ""
        typer.secho(f"error: {_one_line(message)}{hint}", err=True, fg=typer.colors.RED)
        sys.exit(e.exit_code)
    except PosenasError as e:
        typer.secho(f"error: {_one_line(str(e))}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
