"""Checks of command-line values that typer's own `min=`/`exists=`/`Literal` cannot express.

They run as option callbacks, i.e. while the command line is parsed: a bad output path or name fails
with one line naming the option before any model loads, Ray starts or training runs, so nothing
computed is lost to a path that could never be written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import typer

from posenas.core.storage import is_uri


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _writable_dir(folder: Path) -> bool:
    """Really try to create a file there (os.access says yes to root even on a read-only mount)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, name = tempfile.mkstemp(prefix=".posenas_write_check_", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def output_dir_problem(path: str | Path) -> str | None:
    """Why `path` cannot be (created as) an output folder, or None when it can."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        return f"{p} is a file, expected a folder"
    base = _nearest_existing(p.absolute())
    if not base.is_dir():
        return f"{p} lies under {base}, which is a file, not a folder"
    if not _writable_dir(base):
        return f"{p}: {base} is not writable"
    return None


def output_file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be written as an output file, or None when it can."""
    p = Path(path).expanduser()
    if p.is_dir():
        return f"{p} is a folder, expected a file name"
    if p.exists() and not os.access(p, os.W_OK):
        return f"{p} is not writable"
    parent = p.absolute().parent
    if parent.exists() and not parent.is_dir():
        return f"{p} lies under {parent}, which is a file, not a folder"
    problem = output_dir_problem(parent)
    return None if problem is None else f"{p}: cannot write its folder: {problem}"


def check_output_dir(path: str | Path, option: str) -> Path:
    """`path` as an output folder (created later by the command); a URI passes unchecked."""
    problem = None if is_uri(path) else output_dir_problem(path)
    if problem:
        raise typer.BadParameter(problem, param_hint=f"'{option}'")
    return path if is_uri(path) else Path(path)


def check_output_file(path: str | Path, option: str) -> Path:
    """`path` as an output file (its folder is created later by the command)."""
    problem = output_file_problem(path)
    if problem:
        raise typer.BadParameter(problem, param_hint=f"'{option}'")
    return Path(path)


# --- option callbacks (typer passes the value; the error message names the option itself) ------------
def output_dir(value: Any) -> Any:
    """typer callback: `value` must be usable as an output folder (or be a URI, or None)."""
    if value is not None and not is_uri(value):
        problem = output_dir_problem(value)
        if problem:
            raise typer.BadParameter(problem)
    return value


def output_file(value: Any) -> Any:
    """typer callback: `value` must be writable as an output file (or None)."""
    if value is not None:
        problem = output_file_problem(value)
        if problem:
            raise typer.BadParameter(problem)
    return value


def fraction_open(value: float | None) -> float | None:
    """typer callback: a share strictly between 0 and 1 (1.5 is not silently clipped)."""
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"{value} is not between 0 and 1 (both excluded)")
    return value


LOADER_OPTION_HELP = ("Loader option KEY=VALUE, e.g. subset=cvpr12 (MSR Action3D: the 557 sequences of the common "
                      "protocol) or version=screen; repeatable. See `posenas data formats`.")


def parse_options(pairs: list[str]) -> dict[str, object]:
    """KEY=VALUE strings to loader keyword arguments; numbers become numbers."""
    from posenas.errors import PosenasError

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PosenasError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def loader_options(pairs: list[str]) -> list[str]:
    """typer callback: reject a malformed KEY=VALUE while parsing, before the dataset is read."""
    from posenas.errors import PosenasError

    try:
        parse_options(pairs)
    except PosenasError as e:
        raise typer.BadParameter(str(e)) from None
    return pairs


def parse_loader_options(format: str, pairs: list[str], option: str = "--option") -> dict[str, object]:
    """The parsed options, after checking that loader `format` takes them (no file is read)."""
    from posenas.datasets.registry import check_loader_options
    from posenas.errors import PosenasError

    options = parse_options(pairs)
    try:
        check_loader_options(format, options)
    except PosenasError as e:
        raise typer.BadParameter(str(e), param_hint=f"'{option}'") from None
    return options


def registry_name(lookup: Callable[[str], Any]) -> Callable[[Any], Any]:
    """typer callback factory: `lookup(name)` raises UnknownNameError (a KeyError) for an unknown name.

    Used for names whose registries are too heavy to import at start-up (layouts, dataset formats), so
    `--layout bogus` fails while parsing instead of after detection.
    """

    def callback(value: Any) -> Any:
        if value is None:
            return value
        for name in value if isinstance(value, (list, tuple)) else [value]:
            try:
                lookup(name)
            except KeyError as e:  # UnknownNameError lists the names that exist
                raise typer.BadParameter(str(e) if str(e) else repr(name)) from None
        return value

    return callback


def known_layout(name: str) -> None:
    from posenas.core.skeleton import get_layout

    get_layout(name)


def known_format(name: str) -> None:
    from posenas.datasets.registry import available_loaders
    from posenas.errors import UnknownNameError

    loaders = available_loaders()
    if name not in loaders:
        raise UnknownNameError("dataset format", name, list(loaders))


def check_layout_for_detector(detector: str, layout: str | None, option: str = "--layout") -> None:
    """Fail before detection when the detector's keypoints cannot be written in `layout`.

    "h36m17" is derived from any layout; another layout must be a selection of the detector's joints.
    Only known for the MediaPipe detector; precomputed keypoints are checked when their file is read.
    """
    if layout is None or detector not in ("mediapipe", "mediapipe_legacy"):
        return
    from posenas.core.skeleton import get_layout
    from posenas.platform.detection.detectors import MediaPipeDetector

    src = MediaPipeDetector.layout
    if layout in ("h36m17", src):
        return
    have = set(get_layout(src).joints)
    absent = [j for j in get_layout(layout).joints if j not in have]
    if absent:
        raise typer.BadParameter(
            f"the {detector} detector's {src} keypoints have no {', '.join(absent[:4])}"
            f"{'...' if len(absent) > 4 else ''}, so they cannot be written as {layout}; use h36m17 or {src}",
            param_hint=f"'{option}'")
