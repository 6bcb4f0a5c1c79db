"""The metrics port, served by the master: the sum of all workers' samples (prometheus multiprocess mode)."""

from __future__ import annotations

import os


def start_metrics_port(host: str, port: int) -> None:
    """Serve GET /metrics on host:port from a daemon thread; raises OSError if the port cannot be bound.

    PROMETHEUS_MULTIPROC_DIR must be set before this runs: prometheus_client reads it when first imported.
    """
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    start_http_server(port, addr=host, registry=registry)
