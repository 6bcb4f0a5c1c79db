"""The metrics port, served by the master: the sum of all workers' samples (prometheus multiprocess mode)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any


class BuildInfo:
    """`app_build_info{version, commit, model_name, model_version, model_sha256} 1`: what this pod serves.
    A collector of the master's, not a worker metric: the value is the same in every worker, and
    prometheus_client's Info has no multiprocess mode."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import InfoMetricFamily

        yield InfoMetricFamily(
            "app_build", "The app's version and commit and the model it serves", self.labels
        )


def start_metrics_port(host: str, port: int, build: Mapping[str, str]) -> None:
    """Serve GET /metrics on host:port from a daemon thread; raises OSError if the port cannot be bound.

    PROMETHEUS_MULTIPROC_DIR must be set before this runs: prometheus_client reads it when first imported.
    """
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
    registry.register(BuildInfo(build))
    start_http_server(port, addr=host, registry=registry)
