"""The benchmark's yardsticks really serve: Seldon MLServer through bench/yardsticks/mlserver_runtime.py, and
the ceiling server (bench/yardsticks/hello.py), each started exactly as `make bench` starts it (bench.runner:
its command, its readiness probe with the answer's label checked, a short wrk warm-up that fails on any
error), then asked a real request whose answer is checked here. And a yardstick that is broken, or answers
wrongly, stops the benchmark with an error naming it. No timing: figures belong to `make bench`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.inference import ServedModel
from bench import mlserver, wrk
from bench.__main__ import server_env
from bench.body import protocols, reference_digit
from bench.inprocess import app_answer
from bench.procs import BenchError, ServerGroup, http
from bench.quiet import QuietPolicy
from bench.runner import Plan, Running, start
from bench.servers import BY_NAME
from model.manifest import MODEL_FILE
from tests.conftest import REPO, Digits, require_tool


@pytest.fixture
def group() -> Iterator[ServerGroup]:
    servers = ServerGroup()
    try:
        yield servers
    finally:
        servers.stop_all()


def _plan(model_dir: Path, tmp_path: Path, ceiling_body: Path | None = None, name: str = "digits") -> Plan:
    require_tool("wrk")
    digit = reference_digit()
    asked = protocols(digit, name)
    (tmp_path / "servers").mkdir(exist_ok=True)
    (tmp_path / "logs").mkdir(exist_ok=True)
    return Plan(
        model_dir=model_dir,
        protocols=asked,
        expected_label=digit.label,
        scripts={key: wrk.write_script(protocol.body, tmp_path, key) for key, protocol in asked.items()},
        log_dir=tmp_path / "logs",
        scratch=tmp_path / "servers",
        repo=REPO,
        warmup_s=1,
        duration_s=1,
        rounds=1,
        quiet=QuietPolicy(max_other_cores=float("inf"), wait_budget_s=0),
        model_name=name,
        ceiling_body=ceiling_body,
    )


def _post(running: Running, body: bytes) -> tuple[int, bytes]:
    return http("POST", running.url, body, timeout_s=10)


@pytest.mark.parametrize("kind", ["mlserver", "mlserver-workers"])
def test_mlserver_serves_the_model_as_onnxruntime_does(
    kind: str, reference_model_dir: Path, digits: Digits, tmp_path: Path, group: ServerGroup
) -> None:
    mlserver.mlserver_command()  # its virtualenv is there (make tools), or this fails saying so
    running = start(group, BY_NAME[kind], 1, _plan(reference_model_dir, tmp_path), server_env())
    rows = digits.x[:8]
    body = {
        "inputs": [{"name": "input", "shape": [8, 64], "datatype": "FP32", "data": rows.ravel().tolist()}]
    }
    status, answer = _post(running, json.dumps(body).encode())
    assert status == 200, answer
    outputs = {output["name"]: output for output in json.loads(answer)["outputs"]}
    labels, probabilities = ServedModel.load(reference_model_dir).predict(rows)
    assert outputs["label"]["datatype"] == "INT64"
    assert outputs["label"]["data"] == labels.tolist()
    assert outputs["probabilities"]["datatype"] == "FP32"
    assert outputs["probabilities"]["shape"] == [8, 10]
    np.testing.assert_array_equal(
        np.array(outputs["probabilities"]["data"], dtype=np.float32).reshape(8, 10), probabilities
    )
    assert labels.tolist() == digits.y[:8].tolist()  # the model is right on these, so MLServer is too


def test_mlserver_with_a_model_it_cannot_load_fails_the_benchmark(
    reference_model_dir: Path, tmp_path: Path, group: ServerGroup
) -> None:
    """MLServer's /v2/health/ready can say 200 while the model failed to load: the benchmark waits for the
    model's own readiness, so a runtime that cannot load it stops the run with MLServer's log."""
    broken = tmp_path / "broken-model"
    shutil.copytree(reference_model_dir, broken)
    (broken / MODEL_FILE).write_bytes(b"not an ONNX model")
    with pytest.raises(BenchError, match=r"mlserver: exited with status \d+ before it was ready"):
        start(group, BY_NAME["mlserver"], 1, _plan(broken, tmp_path), server_env())


def test_the_ceiling_answers_the_apps_own_answer(
    reference_model_dir: Path, tmp_path: Path, group: ServerGroup
) -> None:
    answer = app_answer(reference_model_dir, server_env(), REPO)
    assert json.loads(answer)["predictions"][0]["label"] == reference_digit().label
    ceiling_body = tmp_path / "answer.json"
    ceiling_body.write_bytes(answer)
    plan = _plan(reference_model_dir, tmp_path, ceiling_body)
    running = start(group, BY_NAME["hello"], 2, plan, server_env())
    status, body = _post(running, plan.protocols["v1"].body)
    assert (status, body) == (200, answer)


def test_a_yardstick_that_answers_wrongly_fails_the_benchmark(
    reference_model_dir: Path, tmp_path: Path, group: ServerGroup
) -> None:
    label = reference_digit().label
    wrong = {"predictions": [{"label": (label + 1) % 10, "probabilities": [0.1] * 10}]}
    ceiling_body = tmp_path / "wrong.json"
    ceiling_body.write_text(json.dumps(wrong))
    with pytest.raises(BenchError, match=f"hello: answered .* expected .* label {label}"):
        start(group, BY_NAME["hello"], 1, _plan(reference_model_dir, tmp_path, ceiling_body), server_env())
