"""The release's SLO watch (pipelines/watch.py), run by watch.sh as the agent runs it, against a real
Prometheus (tests/monitoring/prometheus.py: Debian's, on a free port of 127.0.0.1) scraping the real app
(`python -m app`), queried through its HTTP API as the watch queries the Azure Monitor workspace. Only `az` is
a stand-in (it hands out a token, which a local Prometheus does not check). The windows last seconds instead
of minutes (--window-seconds, --scrape-interval 1); everything else is the pipeline's.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from model.manifest import Manifest
from tests.conftest import LiveApp, free_port, serve_app, stop_process
from tests.monitoring.prometheus import Prometheus, run_prometheus
from tests.pipelines.agent import COMMIT, FAKE_TOKEN, Agent, promotion_object, stack_outputs

WINDOW_SECONDS = 6
# Seconds, not minutes; a budget of 2 minutes holds the window and two ingestion waits of 20 s.
FAST = (
    "--window-seconds",
    str(WINDOW_SECONDS),
    "--scrape-interval",
    "1",
    "--ingestion-timeout",
    "20",
    "--rate",
    "10",
)
BUDGET_MINUTES = "2"


def outputs_of(app_url: str, query_endpoint: str, manifest: Manifest, **release_watch: float) -> dict:
    """The stack's outputs when it serves the real app (built from COMMIT, the reference model)."""
    build = promotion_object("c", model_version=manifest.version, model_sha256=manifest.sha256)
    return stack_outputs(
        build,
        app_url,
        prometheus_query_endpoint=query_endpoint,
        release_watch={"minutes": 3, "latencyP99Ms": 500, "maxErrorRatio": 0.01} | release_watch,
    )


def prepare(agent: Agent, outputs: dict) -> Path:
    """The work dir deploy.sh leaves for the watch."""
    work = agent.tmp / "dev"
    work.mkdir(exist_ok=True)
    (work / "outputs.json").write_text(json.dumps(outputs))
    (work / "stack").write_text("dev")
    return work


@contextlib.contextmanager
def app_and_prometheus(
    model_dir: Path, workdir: Path, **app_env: str
) -> Iterator[tuple[LiveApp, Prometheus]]:
    """The real app, built from COMMIT, and a real Prometheus scraping it, once it has a first sample."""
    workdir.mkdir()
    with (
        serve_app(model_dir, GIT_COMMIT=COMMIT, **app_env) as app,
        run_prometheus(app.metrics_url, workdir) as prometheus,
    ):
        yield app, prometheus


@pytest.fixture
def watched(
    agent: Agent, reference_model_dir: Path, reference_manifest: Manifest, tmp_path: Path
) -> Iterator[tuple[LiveApp, Path]]:
    """The real app with a real Prometheus scraping it, and the work dir deploy.sh leaves for their watch."""
    with app_and_prometheus(reference_model_dir, tmp_path / "prometheus") as (app, prometheus):
        yield app, prepare(agent, outputs_of(app.url, prometheus.url, reference_manifest))


def figures(stdout: str) -> tuple[float, int]:
    """(requests Prometheus counted, own requests sent), from the watch's printed figures."""
    counted = re.search(r"^Prometheus: (\d+) requests of the new build", stdout, re.M)
    sent = re.search(r"^own requests: (\d+) sent", stdout, re.M)
    assert counted and sent, stdout
    return float(counted.group(1)), int(sent.group(1))


def test_a_healthy_build_passes_on_what_prometheus_and_its_own_requests_measured(
    agent: Agent, watched: tuple[LiveApp, Path]
) -> None:
    _, work = watched
    result = agent.run("watch.sh", "dev", str(work), BUDGET_MINUTES, *FAST)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)  # the figures, for `pytest -rP`
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("WATCH PASSED for stack dev: 6 s of the new build within p99 500 ms")
    assert (work / "watch.verdict").read_text().strip() == verdict
    assert (work / "watch.passed").exists()
    counted, sent = figures(result.stdout)
    # The window (6 s at 10 a second) is a part of the load's time, which began before the first sample:
    # Prometheus counted about the window's share of the watch's own predictions.
    assert sent >= WINDOW_SECONDS * 10 * 0.8 and WINDOW_SECONDS * 10 * 0.6 <= counted <= 1.2 * sent
    assert re.search(r"^Prometheus: .*, 0 answered 5xx, p99 [\d.]+ ms", result.stdout, re.M)
    # Its token for the workspace's query API, from the step's `az` login; the token is never printed.
    assert [
        "account",
        "get-access-token",
        "--resource",
        "https://prometheus.monitor.azure.com",
        "--query",
        "accessToken",
        "-o",
        "tsv",
    ] in agent.az()
    assert FAKE_TOKEN not in result.stdout + result.stderr


def test_the_target_going_down_during_the_window_fails_the_watch(
    agent: Agent, watched: tuple[LiveApp, Path]
) -> None:
    app, work = watched
    running = agent.start("watch.sh", "dev", str(work), BUDGET_MINUTES, *FAST)
    assert running.stdout is not None
    before = [running.stdout.readline(), running.stdout.readline()]
    assert "window" in before[1], before  # the window has begun: Prometheus has the new build's samples
    time.sleep(WINDOW_SECONDS / 2)
    stop_process(app.process)
    stdout, stderr = running.communicate(timeout=120)
    stdout = "".join(before) + stdout
    assert running.returncode == 1, stdout + stderr
    verdict = stderr.strip().splitlines()[-1]
    assert verdict.startswith("WATCH FAILED for stack dev: no data: no sample of the new build at or after")
    # and its own requests, which found nobody answering from then on
    assert re.search(
        r"; \d+ of \d+ own requests failed \([\d.]+ > 0.01: \d+x no answer \(ConnectionError\)\)", verdict
    )
    assert re.search(r"^own requests: \d+ sent, \d+ failed \(\d+x no answer", stdout, re.M)
    assert not (work / "watch.passed").exists()


def test_a_latency_threshold_below_what_the_app_measures_fails_the_watch(
    agent: Agent, reference_model_dir: Path, reference_manifest: Manifest, tmp_path: Path, digits
) -> None:
    """Other clients' large batches take the app tens of milliseconds: above a p99 threshold of 20 ms."""
    big = json.dumps({"instances": digits.x[:1].tolist() * 4000}).encode()
    with app_and_prometheus(reference_model_dir, tmp_path / "prometheus", MAX_BATCH="4000") as (
        app,
        prometheus,
    ):
        stop = threading.Event()

        def batches() -> None:
            while not stop.is_set():
                request = urllib.request.Request(
                    f"{app.url}/v1/predict", data=big, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200
                stop.wait(0.2)

        other_clients = threading.Thread(target=batches, daemon=True)
        other_clients.start()
        try:
            work = prepare(agent, outputs_of(app.url, prometheus.url, reference_manifest, latencyP99Ms=20))
            result = agent.run("watch.sh", "dev", str(work), BUDGET_MINUTES, *FAST)
        finally:
            stop.set()
            other_clients.join()
    assert result.returncode == 1, result.stdout + result.stderr
    print(result.stdout + result.stderr)  # the figures, for `pytest -rP`
    verdict = result.stderr.strip().splitlines()[-1]
    assert verdict.startswith("WATCH FAILED for stack dev: ")
    measured = re.search(r"p99 latency ([\d.]+) ms > 20 ms \(Prometheus\)", verdict)
    assert measured and float(measured.group(1)) > 20, verdict


def test_no_data_fails_the_watch_even_when_every_own_request_succeeds(
    agent: Agent, reference_model_dir: Path, reference_manifest: Manifest, tmp_path: Path
) -> None:
    """Prometheus scrapes nothing of the new build (its target is down from the start): no evidence, no
    pass."""
    (tmp_path / "prometheus").mkdir()
    with (
        serve_app(reference_model_dir, GIT_COMMIT=COMMIT) as app,
        run_prometheus(f"http://127.0.0.1:{free_port()}", tmp_path / "prometheus") as prometheus,
    ):
        work = prepare(agent, outputs_of(app.url, prometheus.url, reference_manifest))
        result = agent.run("watch.sh", "dev", str(work), BUDGET_MINUTES, *FAST, "--ingestion-timeout", "4")
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = result.stderr.strip().splitlines()[-1]
    assert verdict.startswith(
        f'WATCH FAILED for stack dev: no data: no sample of app_build_info{{commit="{COMMIT}",'
    )
    assert "within 4 s: Prometheus does not see the new build's pods" in verdict
    assert re.search(r"^own requests: \d+ sent, 0 failed", result.stdout, re.M)


# ------------------------------------------------------------------------- the query API's answers, stood in


def test_the_query_api_gets_the_bearer_token_and_a_refusal_says_which_role(
    agent: Agent, live_app: LiveApp, reference_manifest: Manifest, fake_http: HTTPServer
) -> None:
    """What Azure Monitor answers an identity without Monitoring Data Reader, played by a local server."""
    fake_http.expect_request(
        "/api/v1/query", method="POST", headers={"Authorization": f"Bearer {FAKE_TOKEN}"}
    ).respond_with_json({"error": "Forbidden"}, status=403)
    endpoint = fake_http.url_for("/").rstrip("/")
    work = prepare(agent, outputs_of(live_app.url, endpoint, reference_manifest))
    result = agent.run("watch.sh", "dev", str(work), BUDGET_MINUTES, *FAST)
    assert result.returncode == 1
    verdict = result.stderr.strip().splitlines()[-1]
    assert "refused the query (HTTP 403)" in verdict and "Monitoring Data Reader" in verdict
    request, _ = fake_http.log[0]
    assert "app_build_info{" in request.form["query"]


def test_a_window_that_does_not_fit_the_steps_budget_fails_at_once(
    agent: Agent, reference_manifest: Manifest
) -> None:
    work = prepare(
        agent, outputs_of("https://app.example", "https://prom.example", reference_manifest, minutes=15)
    )
    result = agent.run("watch.sh", "prod", str(work), "17")
    assert result.returncode == 1
    assert "cannot watch 900 s within the step's 17 minutes" in result.stderr
    assert "shorten release_watch.minutes" in result.stderr
    assert agent.az() == []  # it failed before asking for any token


@pytest.mark.parametrize(
    "change, message",
    [
        ({"release_watch": None}, "outputs lack release_watch"),
        ({"release_watch": {"minutes": 3, "latencyP99Ms": 500, "maxErrorRatio": 1}}, "maxErrorRatio is 1"),
        ({"release_watch": {"minutes": "3", "latencyP99Ms": 500, "maxErrorRatio": 0}}, "minutes is '3'"),
        ({"promotion": {"image": "aiapp:latest"}}, "lacks modelName, modelVersion"),
    ],
)
def test_outputs_it_cannot_watch_fail_saying_what_is_wrong(
    agent: Agent, reference_manifest: Manifest, change: dict, message: str
) -> None:
    outputs = outputs_of("https://app.example", "https://prom.example", reference_manifest) | change
    work = prepare(agent, {k: v for k, v in outputs.items() if v is not None})
    result = agent.run("watch.sh", "dev", str(work), BUDGET_MINUTES)
    assert result.returncode == 2
    assert "WATCH FAILED for stack dev: cannot watch:" in result.stderr and message in result.stderr
    assert message in (work / "watch.verdict").read_text()
