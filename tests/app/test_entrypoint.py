"""`python -m app`, the real entrypoint, as a subprocess: it refuses a bad model or bad settings with one
clear line and a non-zero exit, and it serves the app and its metrics on their own ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.mmap_dict import MmapedDict

from model.manifest import sha256_of
from tests.conftest import REPO, LiveApp, free_port, serve_app


def _run_app(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=REPO,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_refused(result: subprocess.CompletedProcess[str], exit_code: int, *message_parts: str) -> None:
    assert result.returncode == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"one clear line, got:\n{result.stderr}"
    entry = json.loads(lines[0])  # a JSON log line, as every line the app logs (app/logs.py)
    assert (entry["level"], entry["logger"]) == ("error", "app"), entry
    for part in message_parts:
        assert part in entry["message"], entry
    assert "Traceback" not in result.stderr + result.stdout


def _copy_model(source: Path, tmp_path: Path) -> Path:
    model_dir = tmp_path / "model"
    shutil.copytree(source, model_dir)
    return model_dir


def _rewrite_manifest(model_dir: Path, **changes: Any) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    (model_dir / "manifest.json").write_text(json.dumps(manifest | changes))


def test_a_corrupt_model_stops_the_start(reference_model_dir: Path, tmp_path: Path) -> None:
    model_dir = _copy_model(reference_model_dir, tmp_path)
    data = bytearray((model_dir / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, another digest
    (model_dir / "model.onnx").write_bytes(bytes(data))
    result = _run_app({"MODEL_DIR": str(model_dir)})
    _assert_refused(result, 1, "refusing to serve", str(model_dir / "model.onnx"), "sha256")


def test_a_model_onnxruntime_cannot_load_stops_the_start(reference_model_dir: Path, tmp_path: Path) -> None:
    """The digest matches its manifest (a buggy publisher), but the bytes are not an ONNX model."""
    model_dir = _copy_model(reference_model_dir, tmp_path)
    garbage = b"not an onnx model " * 100
    (model_dir / "model.onnx").write_bytes(garbage)
    _rewrite_manifest(model_dir, sha256=sha256_of(garbage), size=len(garbage))
    _assert_refused(_run_app({"MODEL_DIR": str(model_dir)}), 1, "not a model onnxruntime can load")


@pytest.mark.parametrize(
    ("damage", "message_part"),
    [
        ("no_dir", "no manifest.json"),
        ("no_model", "no model.onnx"),
        ("manifest_not_json", "is not valid JSON"),
        ("truncated_model", "bytes, its manifest says"),
        ("declared_interface", "but the model's are"),
    ],
)
def test_a_missing_or_mismatched_model_stops_the_start(
    reference_model_dir: Path, tmp_path: Path, damage: str, message_part: str
) -> None:
    model_dir = _copy_model(reference_model_dir, tmp_path)
    if damage == "no_dir":
        shutil.rmtree(model_dir)
    elif damage == "no_model":
        (model_dir / "model.onnx").unlink()
    elif damage == "manifest_not_json":
        (model_dir / "manifest.json").write_text("{not json")
    elif damage == "truncated_model":
        (model_dir / "model.onnx").write_bytes((model_dir / "model.onnx").read_bytes()[:-10])
    elif damage == "declared_interface":
        _rewrite_manifest(model_dir, input=[{"name": "input", "type": "tensor(float)", "shape": [None, 784]}])
    _assert_refused(_run_app({"MODEL_DIR": str(model_dir)}), 1, message_part)


@pytest.mark.parametrize(
    ("env", "message_part"),
    [
        ({"PORT": "eighty"}, "PORT='eighty' is not an integer"),
        ({"SERVER": "waitress"}, "SERVER='waitress'"),
        (
            {"FAST_LANE": "sometimes"},
            "FAST_LANE='sometimes' is not a boolean; set FAST_LANE to true or false",
        ),
    ],
)
def test_bad_settings_stop_the_start(
    reference_model_dir: Path, env: dict[str, str], message_part: str
) -> None:
    _assert_refused(_run_app({"MODEL_DIR": str(reference_model_dir), **env}), 2, message_part)


def test_a_busy_metrics_port_stops_the_start(live_app: LiveApp, reference_model_dir: Path) -> None:
    busy = live_app.metrics_url.rsplit(":", 1)[1]
    result = _run_app({"MODEL_DIR": str(reference_model_dir), "METRICS_PORT": busy})
    _assert_refused(result, 1, f"cannot serve metrics on 127.0.0.1:{busy} (METRICS_PORT)")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _post_json(url: str, payload: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _metric(metrics_text: str, line_start: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines() if line.startswith(line_start)
    ]
    assert len(values) == 1, f"{line_start!r} in:\n{metrics_text}"
    return values[0]


def test_the_real_server_serves_app_and_metrics(live_app: LiveApp, digits: Any) -> None:
    status, body = _get(f"{live_app.url}/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    status, prediction = _post_json(f"{live_app.url}/v1/predict", {"instances": digits.x[:3].tolist()})
    assert status == 200, prediction
    assert [p["label"] for p in prediction["predictions"]] == digits.y[:3].tolist()
    status, error = _post_json(f"{live_app.url}/v1/predict", {"instances": [[99] * 64]})
    assert status == 422 and error["error"]["code"] == "invalid_input"

    assert _get(f"{live_app.url}/metrics")[0] == 404, "metrics are not on the app's port"
    status, metrics = _get(f"{live_app.metrics_url}/metrics")
    assert status == 200
    text = metrics.decode()
    assert (
        _metric(text, 'http_requests_total{method="POST",model="digits",route="/v1/predict",status="200"}')
        >= 1
    )
    assert (
        _metric(text, 'http_requests_total{method="POST",model="digits",route="/v1/predict",status="422"}')
        >= 1
    )
    assert _metric(text, 'http_request_duration_seconds_count{model="digits",route="/v1/predict"}') >= 2
    assert _metric(text, f'model_predictions_total{{label="{digits.y[0]}"}}') >= 1


def _predict_requests_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own count of successful predict requests, read from its multiprocess file."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        counts[path.stem.split("_")[1]] = sum(
            value
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path))
            if json.loads(key)[1:3]
            == [
                "http_requests_total",
                {"route": "/v1/predict", "method": "POST", "status": "200", "model": "digits"},
            ]
        )
    return counts


def test_metrics_sum_over_worker_processes(reference_model_dir: Path, tmp_path: Path) -> None:
    """Two workers, many short connections: the metrics port counts every request, whichever worker
    answered it (prometheus multiprocess mode), in a directory under TMPDIR removed at shutdown."""
    with serve_app(reference_model_dir, WORKERS="2", TMPDIR=str(tmp_path)) as app:
        metrics_dirs = list(tmp_path.glob("app-metrics-*"))
        assert len(metrics_dirs) == 1
        # serve_app waits for one worker to answer; the other may still be starting and take no connection.
        # So ask in rounds of 20 until both have answered (at most 30 s), then check the port's sum.
        sent, deadline = 0, time.monotonic() + 30
        while True:
            for _ in range(20):
                assert _post_json(f"{app.url}/v1/predict", {"instances": [[0] * 64]})[0] == 200
            sent += 20
            per_worker = _predict_requests_per_worker(metrics_dirs[0])
            if len(per_worker) == 2 or time.monotonic() > deadline:
                break
        _, metrics = _get(f"{app.metrics_url}/metrics")
        text = metrics.decode()
        assert (
            _metric(
                text, 'http_requests_total{method="POST",model="digits",route="/v1/predict",status="200"}'
            )
            == sent
        )
        # Each worker counted its share (one connection per request); the port summed them.
        assert len(per_worker) == 2 and sum(per_worker.values()) == sent, per_worker
        assert min(per_worker.values()) > 0, per_worker
        app.process.send_signal(signal.SIGTERM)
        assert app.process.wait(timeout=15) == 0, "SIGTERM is a graceful, successful shutdown"
    assert not list(tmp_path.glob("app-metrics-*")), "the metrics directory is removed at shutdown"


def test_sigterm_while_starting_still_cleans_up(reference_model_dir: Path, tmp_path: Path) -> None:
    environment = os.environ | {
        "MODEL_DIR": str(reference_model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
        "TMPDIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=REPO, env=environment, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("app-metrics-*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    assert not list(tmp_path.glob("app-metrics-*"))


@pytest.mark.parametrize("server", ["gunicorn-sync", "gunicorn-gthread"])
def test_the_other_servers_serve_the_same_app(reference_model_dir: Path, server: str) -> None:
    """The benchmark compares servers under this same app: each name in app.servers must really serve."""
    with serve_app(reference_model_dir, SERVER=server, WORKERS="2", THREADS="2") as app:
        status, prediction = _post_json(f"{app.url}/v1/predict", {"instances": [[0] * 64]})
        assert status == 200 and len(prediction["predictions"]) == 1
        assert _post_json(f"{app.url}/v1/predict", {"instances": []})[0] == 422
        _, metrics = _get(f"{app.metrics_url}/metrics")
        assert (
            _metric(
                metrics.decode(),
                'http_requests_total{method="POST",model="digits",route="/v1/predict",status="200"}',
            )
            == 1
        )


def test_chunked_request_bodies_on_the_real_server(live_app: LiveApp) -> None:
    """Transfer-Encoding: chunked through the real server: a small body is served, one over
    MAX_BODY_BYTES (8 MiB by default) is a 413, not a parse of its first 8 MiB."""
    import http.client

    def post_chunked(body: bytes) -> tuple[int, Any]:
        connection = http.client.HTTPConnection(*live_app.url.removeprefix("http://").split(":"), timeout=30)
        try:
            connection.request(
                "POST",
                "/v1/predict",
                body=(body[i : i + 65536] for i in range(0, len(body), 65536)),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    small = json.dumps({"instances": [[0] * 64]}).encode()
    assert post_chunked(small)[0] == 200
    huge = small[:-1] + b" " * (9 << 20) + b"}"
    status, body = post_chunked(huge)
    assert (status, body["error"]["code"]) == (413, "too_large"), body
