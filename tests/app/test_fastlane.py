"""app.fastlane: POST /v1/predict answered without Flask must be byte-for-byte the Flask answer, counted the
same, and everything it does not serve (errors, multipart, chunked, oversized, other routes) goes to Flask.
FAST_LANE turns it on (the default) or off: the same answers either way, in-process and over HTTP."""

from __future__ import annotations

import http.client
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from app.errors import SECURITY_HEADERS
from app.factory import create_app
from app.fastlane import JsonFastLane, WsgiApp
from app.settings import load_settings
from app.state import STATE_KEY
from tests.app.helpers import b64, render_digit
from tests.conftest import Digits, LiveApp, serve_app

ZERO_ROW = [0] * 64
MAX_BATCH = 4
MAX_BODY = 4096


def _json(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def _request(
    body: bytes,
    content_type: str | None = "application/json",
    *,
    method: str = "POST",
    path: str = "/v1/predict",
    content_length: str | None = "auto",
    chunked: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A WSGI environ as a server (gunicorn, granian) gives it: input_terminated, a fresh body stream."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.input_terminated": True,
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if content_length == "auto" and not chunked:
        environ["CONTENT_LENGTH"] = str(len(body))
    elif content_length not in (None, "auto"):
        environ["CONTENT_LENGTH"] = content_length
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _multipart(blobs: list[bytes]) -> dict[str, Any]:
    builder = EnvironBuilder(
        path="/v1/predict",
        method="POST",
        data={"image": [(io.BytesIO(b), f"d{i}.png") for i, b in enumerate(blobs)]},
    )
    environ = builder.get_environ()
    environ["wsgi.input_terminated"] = True
    return environ


def _call(app: Flask | WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status, headers and body of a WSGI call: of a Flask app's whole WSGI stack, or of any WSGI callable."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.append((status, list(headers)))

    wsgi_app = app.wsgi_app if isinstance(app, Flask) else app
    chunks: Iterable[bytes] = wsgi_app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    assert len(started) == 1
    return started[0][0], started[0][1], body


class FlaskCalls:
    """Counts the requests the fast lane hands to Flask."""

    def __init__(self, app: Flask) -> None:
        lane = app.wsgi_app.wsgi_app  # MetricsMiddleware -> JsonFastLane
        assert isinstance(lane, JsonFastLane)
        self.count, inner = 0, lane.flask_wsgi_app

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            self.count += 1
            return inner(environ, start_response)

        lane.flask_wsgi_app = counting


@pytest.fixture
def apps(app_factory: Callable[..., Flask]) -> tuple[Flask, Flask]:
    """(fast lane on, pure Flask), each with its own metrics, small limits to reach them cheaply."""
    limits = {"max_batch": MAX_BATCH, "max_body_bytes": MAX_BODY}
    return app_factory(**limits), app_factory(fast_lane=False, **limits)


def _cases(digits: Digits) -> list[tuple[str, Callable[[], dict[str, Any]], bool]]:
    """(id, environ factory, served by the fast lane)."""
    png = b64(render_digit(digits.x[3]))
    rows = digits.x[:MAX_BATCH].tolist()
    return [
        ("one-instance", lambda: _request(_json({"instances": [rows[0]]})), True),
        ("batch", lambda: _request(_json({"instances": rows})), True),
        ("json-images", lambda: _request(_json({"images": [png]})), True),
        ("charset", lambda: _request(_json({"instances": rows}), "application/json; charset=utf-8"), True),
        ("upper-case-type", lambda: _request(_json({"instances": rows}), "Application/JSON"), True),
        ("utf-16-body", lambda: _request(json.dumps({"instances": [ZERO_ROW]}).encode("utf-16")), True),
        ("invalid-json", lambda: _request(b'{"instances": [[1, 2]'), False),
        ("bad-utf", lambda: _request(b"\xff\xfe\x00"), False),
        ("empty-body", lambda: _request(b""), False),
        ("not-object", lambda: _request(b"[1]"), False),
        ("unknown-key", lambda: _request(_json({"instances": [ZERO_ROW], "x": 1})), False),
        ("short-row", lambda: _request(_json({"instances": [[1, 2]]})), False),
        ("boolean", lambda: _request(_json({"instances": [[True] * 64]})), False),
        ("out-of-range", lambda: _request(_json({"instances": [[17] * 64]})), False),
        ("empty-batch", lambda: _request(_json({"instances": []})), False),
        ("over-batch", lambda: _request(_json({"instances": [ZERO_ROW] * (MAX_BATCH + 1)})), False),
        ("bad-base64", lambda: _request(_json({"images": ["%%%"]})), False),
        ("not-an-image", lambda: _request(_json({"images": [b64(b"not a png")]})), False),
        ("body-over-limit", lambda: _request(_json({"instances": [[1.0] * 64] * 40})), False),
        ("chunked", lambda: _request(_json({"instances": rows}), chunked=True), False),
        ("no-length", lambda: _request(_json({"instances": rows}), content_length=None), False),
        ("short-body", lambda: _request(_json({"instances": rows}), content_length=str(MAX_BODY)), False),
        ("padded-length", lambda: _request(b"{}", content_length=" 2"), False),
        ("suffix-json", lambda: _request(_json({"instances": rows}), "application/vnd.digits+json"), False),
        ("text-plain", lambda: _request(_json({"instances": rows}), "text/plain"), False),
        ("no-type", lambda: _request(_json({"instances": rows}), None), False),
        ("multipart", lambda: _multipart([render_digit(digits.x[5])]), False),
        ("get-predict", lambda: _request(b"", None, method="GET"), False),
        ("trailing-slash", lambda: _request(_json({"instances": rows}), path="/v1/predict/"), False),
        ("healthz", lambda: _request(b"", None, method="GET", path="/healthz"), False),
        *_v2_cases(digits),
    ]


def _v2_cases(digits: Digits) -> list[tuple[str, Callable[[], dict[str, Any]], bool]]:
    """The OIP infer route: its plain JSON case in the lane, everything else in Flask."""
    rows = digits.x[:MAX_BATCH]
    tensor = {"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}
    infer, versioned = "/v2/models/digits/infer", "/v2/models/digits/versions/1/infer"
    plain = _json({"inputs": [tensor]})
    chosen = _json({"id": "x", "inputs": [tensor], "outputs": [{"name": "label"}], "parameters": {"p": 1}})
    binary_out = _json({"inputs": [tensor], "parameters": {"binary_data_output": True}})
    header = {"Inference-Header-Content-Length": str(len(plain))}
    return [
        ("v2-json", lambda: _request(plain, path=infer), True),
        ("v2-versioned", lambda: _request(plain, path=versioned), True),
        ("v2-id-outputs", lambda: _request(chosen, path=infer), True),
        ("v2-binary-output", lambda: _request(binary_out, path=infer), False),
        (
            "v2-header-length",
            lambda: _request(plain, "application/octet-stream", path=infer, headers=header),
            False,
        ),
        ("v2-header-length-json", lambda: _request(plain, path=infer, headers=header), False),
        ("v2-no-type", lambda: _request(plain, None, path=infer), False),
        (
            "v2-datatype",
            lambda: _request(_json({"inputs": [tensor | {"datatype": "FP64"}]}), path=infer),
            False,
        ),
        (
            "v2-over-batch",
            lambda: _request(_json({"inputs": [tensor | {"shape": [5, 64], "data": [0] * 320}]}), path=infer),
            False,
        ),
        ("v2-other-model", lambda: _request(plain, path="/v2/models/mnist/infer"), False),
        ("v2-other-version", lambda: _request(plain, path="/v2/models/digits/versions/2/infer"), False),
        ("v2-gzip", lambda: _request(plain, path=infer, headers={"Content-Encoding": "gzip"}), False),
    ]


def test_every_request_gets_the_flask_answer_and_only_plain_json_skips_flask(
    apps: tuple[Flask, Flask], digits: Digits
) -> None:
    fast, pure = apps
    flask_calls = FlaskCalls(fast)
    for case_id, make_environ, served_fast in _cases(digits):
        before = flask_calls.count
        fast_answer, pure_answer = _call(fast, make_environ()), _call(pure, make_environ())
        assert fast_answer == pure_answer, case_id  # status, the full header list in order, body bytes
        assert (flask_calls.count == before) is served_fast, f"{case_id}: fast lane taken = {not served_fast}"
        status, headers, body = fast_answer
        binary = "Inference-Header-Content-Length" in dict(headers)
        assert dict(headers)["Content-Type"] == ("application/octet-stream" if binary else "application/json")
        assert dict(headers).get("X-Content-Type-Options") == "nosniff", case_id
        assert int(dict(headers)["Content-Length"]) == len(body), case_id
        if served_fast:
            assert status == "200 OK" and body.startswith((b'{"model":', b'{"model_name":')), case_id


def test_fast_answers_carry_the_same_headers_as_flask(apps: tuple[Flask, Flask]) -> None:
    fast, pure = apps
    _, fast_headers, _ = _call(fast, _request(_json({"instances": [ZERO_ROW]})))
    _, pure_headers, _ = _call(pure, _request(_json({"instances": [ZERO_ROW]})))
    assert [name for name, _ in fast_headers] == [name for name, _ in pure_headers]
    assert [name for name, _ in fast_headers] == ["Content-Type", "Content-Length", "X-Content-Type-Options"]


def test_metrics_count_fast_lane_requests_as_flask_does(apps: tuple[Flask, Flask], digits: Digits) -> None:
    fast, pure = apps
    flask_oks = 0
    for _, make_environ, _ in _cases(digits):
        _call(fast, make_environ())
        environ = make_environ()
        status, _, _ = _call(pure, environ)
        flask_oks += environ["PATH_INFO"] == "/v1/predict" and status == "200 OK"

    def counts(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        registry = app.extensions[STATE_KEY].metrics.registry
        wanted = {"http_requests_total", "model_predictions_total", "http_request_duration_seconds_count"}
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name in wanted
        }

    fast_counts = counts(fast)
    assert fast_counts == counts(pure)  # by route, method and status; predictions by label
    ok = (("method", "POST"), ("model", "digits"), ("route", "/v1/predict"), ("status", "200"))
    assert fast_counts[("http_requests_total", ok)] == flask_oks
    assert fast_counts[("http_requests_total", (*ok[:3], ("status", "422")))] >= 6
    assert sum(v for (name, _), v in fast_counts.items() if name == "model_predictions_total") > flask_oks


def test_unloaded_model_goes_to_flask_for_its_503(app_factory: Callable[..., Flask]) -> None:
    fast, pure = app_factory(load_model=False), app_factory(load_model=False, fast_lane=False)
    flask_calls = FlaskCalls(fast)
    fast_answer = _call(fast, _request(_json({"instances": [ZERO_ROW]})))
    assert fast_answer == _call(pure, _request(_json({"instances": [ZERO_ROW]})))
    assert fast_answer[0].startswith("503") and flask_calls.count == 1


def test_a_bug_in_the_fast_lane_becomes_flasks_logged_500(
    apps: tuple[Flask, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, _ = apps
    state = fast.extensions[STATE_KEY]

    class BrokenModel:
        manifest = state.model.manifest

        def predict(self, features: Any) -> Any:
            raise RuntimeError("model exploded")

    monkeypatch.setattr(state, "model", BrokenModel())
    flask_calls = FlaskCalls(fast)
    status, _, body = _call(fast, _request(_json({"instances": [ZERO_ROW]})))
    assert status.startswith("500") and json.loads(body)["error"]["code"] == "internal_error"
    assert flask_calls.count == 1  # handed over, not answered by the server's own 500 page
    registry = state.metrics.registry
    assert all(not registry.get_sample_value("model_predictions_total", {"label": str(k)}) for k in range(10))


def test_the_lane_serves_each_path_in_its_table_and_leaves_the_rest_to_flask() -> None:
    """How a second JSON route (OIP's POST /v2/models/{name}/infer) shares the lane: a path and a handler."""
    handed_over: list[tuple[str, bytes]] = []

    def flask(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handed_over.append((environ["PATH_INFO"], environ["wsgi.input"].read()))
        start_response("418 I'M A TEAPOT", [("Content-Type", "application/json")])
        return [b"{}"]

    def refuse(body: bytes) -> bytes:
        raise ValueError("not for the lane")

    lane = JsonFastLane(flask, {"/one": lambda body: body[::-1], "/two": bytes.upper, "/no": refuse}, 64)
    status, headers, body = _call(lane, _request(b'{"a":1}', path="/one"))
    assert (status, body) == ("200 OK", b'}1:"a"{')
    assert headers == [("Content-Type", "application/json"), ("Content-Length", "7"), *SECURITY_HEADERS]
    assert _call(lane, _request(b'{"b":2}', path="/two"))[::2] == ("200 OK", b'{"B":2}')
    assert not handed_over
    for path, body, method in [("/no", b"[3]", "POST"), ("/three", b"[4]", "POST"), ("/one", b"", "GET")]:
        assert _call(lane, _request(body, path=path, method=method))[0].startswith("418")
    assert _call(lane, _request(b"[0]" * 30, path="/one"))[0].startswith("418")  # over max_body_bytes
    assert handed_over == [("/no", b"[3]"), ("/three", b"[4]"), ("/one", b""), ("/one", b"[0]" * 30)]


@pytest.mark.parametrize(
    ("value", "in_front"), [(None, True), ("true", True), ("false", False), ("off", False)]
)
def test_the_fast_lane_setting_puts_the_lane_in_front_of_flask_or_leaves_it_out(
    reference_model_dir: Path, value: str | None, in_front: bool
) -> None:
    env = {"MODEL_DIR": str(reference_model_dir)} | ({} if value is None else {"FAST_LANE": value})
    app = create_app(load_settings(env), load_model=False)
    assert isinstance(app.wsgi_app.wsgi_app, JsonFastLane) is in_front  # MetricsMiddleware -> ?


def _http_cases(digits: Digits) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    """(method, path, body, headers): the hot path, its errors and what the lane leaves to Flask."""
    rows = digits.x[:3].tolist()
    as_json = {"Content-Type": "application/json"}
    v2_input = {"name": "input", "shape": [3, 64], "datatype": "FP32", "data": digits.x[:3].ravel().tolist()}
    boundary = "digitboundary"
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + render_digit(digits.x[5])
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return [
        ("POST", "/v1/predict", _json({"instances": rows[:1]}), as_json),
        (
            "POST",
            "/v1/predict",
            _json({"instances": rows}),
            {"Content-Type": "application/json; charset=utf-8"},
        ),
        ("POST", "/v1/predict", _json({"images": [b64(render_digit(digits.x[3]))]}), as_json),
        ("POST", "/v1/predict", b'{"instances": [[1, 2]', as_json),
        ("POST", "/v1/predict", _json({"instances": [[17] * 64]}), as_json),
        ("POST", "/v1/predict", _json({"instances": rows}), {"Content-Type": "text/plain"}),
        ("POST", "/v1/predict", multipart, {"Content-Type": f"multipart/form-data; boundary={boundary}"}),
        ("GET", "/v1/predict", None, {}),
        ("GET", "/healthz", None, {}),
        ("GET", "/nowhere", None, {}),
        ("POST", "/v2/models/digits/infer", _json({"inputs": [v2_input]}), as_json),
        ("POST", "/v2/models/digits/infer", _json({"inputs": [v2_input | {"datatype": "INT64"}]}), as_json),
    ]


def _http(url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[Any, ...]:
    """Status, every header in order, and the body bytes, as the server sent them; all but the clock's Date
    and Connection, the server's choice about the socket, not the app's answer (granian once added `close`
    to Flask's 415, whose handler reads no body, under load; not to the lane's, which reads it)."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in ("date", "connection")]
        return response.status, kept, response.read()
    finally:
        connection.close()


def test_fast_lane_on_and_off_answer_the_same_bytes_over_http(
    live_app: LiveApp, reference_model_dir: Path, digits: Digits
) -> None:
    """The real `python -m app` with FAST_LANE unset (on) and FAST_LANE=false, side by side."""
    statuses = []
    with serve_app(reference_model_dir, FAST_LANE="false") as lane_off:
        for case in _http_cases(digits):
            on, off = _http(live_app.url, *case), _http(lane_off.url, *case)
            assert on == off, case[:2]
            statuses.append(on[0])
    assert statuses == [200, 200, 200, 400, 422, 415, 200, 405, 200, 404, 200, 400]
