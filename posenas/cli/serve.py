"""`posenas serve`: the pipeline as a local Ray Serve application (HTTP API, OpenAPI at /docs, demo at /ui)."""

from __future__ import annotations

import signal
import time
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

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C or SIGTERM at any point (also while the deployments start, when HTTP may already answer, and
    # when started with SIGINT ignored as a background job) ends in the same clean shutdown
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    typer.echo(f"starting posenas on http://{cfg.host}:{cfg.port} ...", err=True)
    try:
        start(cfg, ray_address=address, num_cpus=num_cpus)
        base = f"http://{cfg.host}:{cfg.port}{cfg.route_prefix.rstrip('/')}"
        typer.echo(f"posenas is up: API {base}/v1 (docs {base}/docs)"
                   + (f", demo {base}{cfg.ui.path}" if cfg.ui.enabled else ""))
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        typer.echo("shutting down ...", err=True)
        if ray.is_initialized():
            try:
                serve.shutdown()
            finally:
                ray.shutdown()
        typer.echo("stopped", err=True)
