"""Storage paths: local folders become absolute paths, URIs (s3://, gs://, ...) pass through unchanged.

Everything that writes results (Tune experiments, run files, extract's Parquet) resolves its path here,
so a local folder, `s3://bucket/prefix` and an S3-compatible store (`endpoint`: MinIO, Ceph, moto)
behave the same. Remote paths go through pyarrow's filesystems (credentials from the usual AWS
variables, profile or instance role); `endpoint` is an http(s) URL that overrides S3's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from posenas.errors import PosenasError


def is_uri(path: str | Path) -> bool:
    return "://" in str(path)


def normalize_storage_path(path: str | Path) -> str:
    """What Ray Tune and the jobs get: an absolute local path, or the URI as given."""
    s = str(path)
    return s if is_uri(s) else str(Path(s).expanduser().resolve())


def join(path: str | Path, *parts: str) -> str:
    """`path`/`parts` for local paths and URIs alike (no `Path()`, which turns s3:// into s3:/)."""
    s = normalize_storage_path(path)
    return "/".join([s.rstrip("/"), *(p.strip("/") for p in parts)]) if parts else s


def filesystem(path: str | Path, endpoint: str | None = None) -> tuple[Any, str]:
    """(pyarrow FileSystem, path inside it) for `path`; `endpoint` only applies to s3:// URIs."""
    import pyarrow.fs as pafs

    s = normalize_storage_path(path)
    if not is_uri(s):
        if endpoint:
            raise PosenasError(f"--storage-endpoint {endpoint} needs an s3:// storage path, got the local path {s}")
        return pafs.LocalFileSystem(), s
    if endpoint:
        url = urlparse(endpoint)
        if not s.startswith("s3://"):
            raise PosenasError(f"--storage-endpoint is for S3-compatible stores; {s} is not an s3:// path")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise PosenasError(f"--storage-endpoint must be an http(s)://host[:port] URL, got {endpoint!r}")
        fs = pafs.S3FileSystem(endpoint_override=url.netloc, scheme=url.scheme, region="us-east-1")
        return fs, s[len("s3://"):].rstrip("/")
    fs, inner = pafs.FileSystem.from_uri(s)
    return fs, inner.rstrip("/")


def tune_storage(path: str | Path, endpoint: str | None = None) -> dict[str, Any]:
    """RunConfig / Tuner.restore keyword arguments for results under `path`."""
    if not is_uri(path) and not endpoint:
        return {"storage_path": normalize_storage_path(path), "storage_filesystem": None}
    fs, inner = filesystem(path, endpoint)
    return {"storage_path": inner, "storage_filesystem": fs}


def exists(path: str | Path, endpoint: str | None = None) -> bool:
    import pyarrow.fs as pafs

    fs, inner = filesystem(path, endpoint)
    return fs.get_file_info(inner).type != pafs.FileType.NotFound


def read_text(path: str | Path, endpoint: str | None = None) -> str:
    fs, inner = filesystem(path, endpoint)
    with fs.open_input_stream(inner) as f:
        return f.read().decode()


def write_bytes(path: str | Path, data: bytes, endpoint: str | None = None) -> None:
    """Write a whole file. Local: a temporary file renamed into place; object stores: one PUT, which is
    atomic already (an object appears only once its upload completes)."""
    import os

    fs, inner = filesystem(path, endpoint)
    if not is_uri(path) and not endpoint:
        p = Path(inner)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, p)
        finally:
            if tmp.exists():
                tmp.unlink()
        return
    with fs.open_output_stream(inner) as f:
        f.write(data)


def write_text(path: str | Path, text: str, endpoint: str | None = None) -> None:
    write_bytes(path, text.encode(), endpoint)
