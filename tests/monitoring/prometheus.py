"""A real Prometheus for the tests: Debian's `prometheus` (installed by `make tools`), started on a free port
of 127.0.0.1 (never 9090, the app's metrics port), scraping the app's metrics every second with the labels
the PodMonitor's scrape gives the app's series in the cluster. Its HTTP API is what the tests query."""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port, require_tool, stop_process, wait_http

APP_METRICS_PORT = 9090  # the app's default METRICS_PORT: the test's Prometheus must never take it
# The labels the PodMonitor's scrape gives the app's series in the cluster (infra/monitoring/scrape.py).
POD_LABELS = {"namespace": "aiapp", "pod": "aiapp-local-0", "container": "app"}


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, expr: str) -> dict[str, Any]:
        """The API's answer to an instant query (status "success" or "error"), never an exception."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:  # a bad expression: 400 with the error in the body
            return json.loads(error.read())

    def vector(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]


@contextlib.contextmanager
def run_prometheus(metrics_url: str, workdir: Path) -> Iterator[Prometheus]:
    port = free_port()
    assert port != APP_METRICS_PORT
    target = metrics_url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "aiapp", "static_configs": [{"targets": [target], "labels": POD_LABELS}]}
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    command = [
        require_tool("prometheus"),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with (workdir / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=60, proc=proc)
            except (RuntimeError, TimeoutError) as exc:
                pytest.fail(
                    f"prometheus did not start: {exc}\n{(workdir / 'prometheus.log').read_text()[-3000:]}"
                )
            yield Prometheus(f"http://127.0.0.1:{port}")
        finally:
            stop_process(proc, timeout=20)
