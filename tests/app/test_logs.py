"""What the app logs: one JSON object per line, from `python -m app`, granian and the workers alike (one
logging setup, app/logs.py), so Log Analytics can query the lines by field; and what it says about itself on
the metrics port (app_build_info, what the dashboard shows as the version and commit served)."""

from __future__ import annotations

import json
import logging
import sys
import urllib.request
from pathlib import Path

from app.logs import JsonFormatter, level_from
from tests.conftest import serve_app


def _serve_and_log(model_dir: Path, log_path: Path, **env: str) -> str:
    """Run `python -m app` until it answered a prediction; returns its metrics text, logs in log_path."""
    with serve_app(model_dir, log_path=log_path, **{"WORKERS": "2", **env}) as app:
        request = urllib.request.Request(
            f"{app.url}/v1/predict",
            data=json.dumps({"instances": [[0] * 64]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{app.metrics_url}/metrics", timeout=5) as response:
            return response.read().decode()


def test_every_line_the_running_app_logs_is_a_json_object(reference_model_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "app.log"
    _serve_and_log(reference_model_dir, log_path, ACCESS_LOG="true", GIT_COMMIT="0123abc")
    lines = log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line, or this raises
    assert all(isinstance(e, dict) and {"time", "level", "logger", "message"} <= set(e) for e in entries)
    loggers = {e["logger"] for e in entries}
    assert {"app", "_granian", "granian.access"} <= loggers, loggers  # the master, the server, the workers
    (serving,) = [e for e in entries if e["message"].startswith("serving model")]
    assert (serving["level"], serving["model_name"], serving["commit"]) == ("info", "digits", "0123abc")
    (access,) = [e for e in entries if e["logger"] == "granian.access" and e["path"] == "/v1/predict"]
    assert (access["method"], access["status"], access["message"]) == ("POST", 200, "POST /v1/predict 200")
    assert isinstance(access["duration_ms"], float) and "client" in access


def test_gunicorn_logs_json_lines_too(reference_model_dir: Path, tmp_path: Path) -> None:
    """SERVER=gunicorn-*: gunicorn's own loggers go through the same setup (it gives them text handlers)."""
    log_path = tmp_path / "app.log"
    _serve_and_log(reference_model_dir, log_path, SERVER="gunicorn-sync", ACCESS_LOG="true")
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert {"app", "gunicorn.error", "gunicorn.access"} <= {e["logger"] for e in entries}


def test_the_metrics_port_says_which_app_and_model_it_serves(
    reference_model_dir: Path, reference_manifest, tmp_path: Path
) -> None:
    metrics = _serve_and_log(
        reference_model_dir, tmp_path / "app.log", GIT_COMMIT="0123abc", APP_VERSION="1.2.3"
    )
    (line,) = [line for line in metrics.splitlines() if line.startswith("app_build_info{")]
    labels = dict(pair.split("=", 1) for pair in line[len("app_build_info{") : line.index("}")].split(","))
    assert {k: v.strip('"') for k, v in labels.items()} == {
        "version": "1.2.3",
        "commit": "0123abc",
        "model_name": reference_manifest.name,
        "model_version": reference_manifest.version,
        "model_sha256": reference_manifest.sha256,
    }
    assert line.endswith(" 1.0")


def test_an_exception_stays_on_one_line_with_its_traceback() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "app.errors", logging.ERROR, __file__, 1, "unhandled %s", ("GET /x",), sys.exc_info()
        )
    record.route = "/x"  # as `extra=` sets it
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["message"], entry["route"]) == (
        "error",
        "app.errors",
        "unhandled GET /x",
        "/x",
    )
    assert entry["exception"].startswith("Traceback") and "ValueError: bad\nthing" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_the_level_is_read_before_the_settings_and_a_bad_one_falls_back_to_info() -> None:
    assert level_from({"LOG_LEVEL": " Warning "}) == "warning"
    assert level_from({"LOG_LEVEL": "loud"}) == level_from({}) == "info"


def test_log_level_warning_keeps_info_lines_out(reference_model_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "app.log"
    _serve_and_log(reference_model_dir, log_path, LOG_LEVEL="warning")
    entries = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [e for e in entries if e["level"] == "info"] == []
