"""`posenas serve`: the pipeline as a local Ray Serve application (HTTP API, OpenAPI at /docs, demo at /ui)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Optional

import typer


def serve_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Serve config YAML (see serve.yaml)."),
    host: Optional[str] = typer.Option(None, help="Bind address (default 127.0.0.1; 0.0.0.0 exposes it)."),
    port: Optional[int] = typer.Option(None, help="HTTP port (default 8000)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster to join (default: embedded local Ray)."),
    num_cpus: Optional[int] = typer.Option(None, help="CPUs of the embedded Ray (default: all)."),
) -> None:
    """Start embedded Ray and Serve with the posenas application; blocks until Ctrl-C, then shuts down cleanly."""
    from posenas.serve.config import load_serve_config

    from posenas.serve.app import check_models

    cfg = load_serve_config(config, host=host, port=port)  # a bad config fails here, before Ray starts
    check_models(cfg)
    from ray import serve

    import ray

    from posenas.serve.app import start

    typer.echo(f"starting posenas on http://{cfg.host}:{cfg.port} ...", err=True)
    start(cfg, ray_address=address, num_cpus=num_cpus)
    base = f"http://{cfg.host}:{cfg.port}{cfg.route_prefix.rstrip('/')}"
    typer.echo(f"posenas is up: API {base}/v1 (docs {base}/docs)" + (f", demo {base}{cfg.ui.path}" if cfg.ui.enabled else ""))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    typer.echo("shutting down ...", err=True)
    serve.shutdown()
    ray.shutdown()
