"""/openapi.json: a valid OpenAPI 3.1 document of exactly the app's routes, whose schemas the app's real
responses satisfy."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from app.openapi import ERROR_CODES
from app.settings import AuthSettings
from app.state import STATE_KEY
from tests.app.helpers import b64, render_digit
from tests.conftest import Digits, free_port
from tools.issuer import ROLE, Issuer

ZERO_ROW = [0] * 64


@pytest.fixture(scope="module")
def document(shared_app: Flask) -> dict[str, Any]:
    return shared_app.test_client().get("/openapi.json").get_json()


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for one schema of the document; its $refs resolve inside the document."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)
    broken = copy.deepcopy(document)
    del broken["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError):  # the validator does catch a broken document
        validate_openapi(broken)


def test_document_lists_exactly_the_app_routes(shared_app: Flask, document: dict[str, Any]) -> None:
    # HEAD comes with every GET in werkzeug; OPTIONS is not provided (no CORS here).
    served = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method)
        for rule in shared_app.url_map.iter_rules()
        for method in rule.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method.upper()) for path, operations in document["paths"].items() for method in operations
    }
    assert served == documented
    assert len(served) == 17


def test_page_routes_are_documented_with_their_media_types(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    for path in ("/", "/page.js", "/page.css"):
        response = client.get(path)
        documented = document["paths"][path]["get"]["responses"]
        assert set(documented) == {"200", "304"}
        assert list(documented["200"]["content"]) == [response.mimetype]


def test_every_error_code_is_documented(document: dict[str, Any]) -> None:
    enum = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert enum == list(ERROR_CODES)
    predict = document["paths"]["/v1/predict"]["post"]["responses"]
    assert set(predict) == {"200", "400", "404", "413", "415", "422", "503"}
    for code in ("invalid_json", "invalid_input", "too_large", "unsupported_media_type", "not_found"):
        assert code in document["info"]["description"]


def test_limits_in_the_document_follow_the_settings(app_factory: Any) -> None:
    document = app_factory(max_batch=7).test_client().get("/openapi.json").get_json()
    assert document["components"]["schemas"]["InstancesRequest"]["properties"]["instances"]["maxItems"] == 7


def _response_schema(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response = document["paths"][path][method]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]


def test_real_responses_match_their_documented_schemas(
    client: FlaskClient, document: dict[str, Any], digits: Digits
) -> None:
    png = render_digit(digits.x[0])
    exchanges = [
        ("/healthz", "get", {}),
        ("/readyz", "get", {}),
        ("/version", "get", {}),
        ("/openapi.json", "get", {}),
        ("/v1/predict", "post", {"json": {"instances": [ZERO_ROW, [16] * 64]}}),
        ("/v1/predict", "post", {"json": {"images": [b64(png)]}}),
        ("/v1/predict", "post", {"data": {"image": (io.BytesIO(png), "d.png")}}),
        ("/v1/predict", "post", {"data": "{", "content_type": "application/json"}),
        ("/v1/predict", "post", {"json": {"instances": []}}),
        ("/v1/predict", "post", {"json": {"instances": [ZERO_ROW] * 65}}),
        ("/v1/predict", "post", {"data": "x", "content_type": "text/plain"}),
    ]
    seen = set()
    for path, method, kwargs in exchanges:
        response = client.open(path, method=method.upper(), **kwargs)
        schema = _response_schema(document, path, method, response.status_code)
        schema_validator(document, schema).validate(response.get_json())
        seen.add(response.status_code)
    assert seen == {200, 400, 413, 415, 422}


def test_documented_request_schemas_accept_what_the_app_accepts(document: dict[str, Any]) -> None:
    schema = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = schema_validator(document, schema)
    assert validator.is_valid({"instances": [ZERO_ROW, [16.0] * 64]})
    assert validator.is_valid({"images": ["aGVsbG8="]})
    for bad in (
        {},
        {"instances": [ZERO_ROW], "images": ["x"]},
        {"instances": [[True] * 64]},
        {"instances": []},
    ):
        assert not validator.is_valid(bad), bad


def test_real_v2_responses_match_their_documented_schemas(
    client: FlaskClient, document: dict[str, Any], digits: Digits
) -> None:
    tensor = {"name": "input", "shape": [2, 64], "datatype": "FP32", "data": digits.x[:2].ravel().tolist()}
    exchanges = [
        ("/v2", "/v2", "get", {}),
        ("/v2/health/live", "/v2/health/live", "get", {}),
        ("/v2/health/ready", "/v2/health/ready", "get", {}),
        ("/v2/models/digits", "/v2/models/{name}", "get", {}),
        ("/v2/models/digits/versions/1", "/v2/models/{name}/versions/{version}", "get", {}),
        ("/v2/models/digits/ready", "/v2/models/{name}/ready", "get", {}),
        ("/v2/models/mnist/versions/1/ready", "/v2/models/{name}/versions/{version}/ready", "get", {}),
        (
            "/v2/models/digits/infer",
            "/v2/models/{name}/infer",
            "post",
            {"json": {"id": "1", "inputs": [tensor]}},
        ),
        ("/v2/models/digits/infer", "/v2/models/{name}/infer", "post", {"json": {"inputs": []}}),
        ("/v2/models/mnist/infer", "/v2/models/{name}/infer", "post", {"json": {"inputs": [tensor]}}),
        (
            "/v2/models/digits/infer",
            "/v2/models/{name}/infer",
            "post",
            {"data": "x", "content_type": "text/plain"},
        ),
        (
            "/v2/models/digits/infer",
            "/v2/models/{name}/infer",
            "post",
            {"json": {"inputs": [tensor | {"shape": [65, 64]}]}},
        ),
    ]
    seen = set()
    for path, template, method, kwargs in exchanges:
        response = client.open(path, method=method.upper(), **kwargs)
        schema = _response_schema(document, template, method, response.status_code)
        schema_validator(document, schema).validate(response.get_json())
        seen.add(response.status_code)
    assert seen == {200, 400, 404, 413, 415}
    request_schema = document["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    validator = schema_validator(document, request_schema["application/json"]["schema"])
    assert validator.is_valid({"id": "1", "inputs": [tensor], "outputs": [{"name": "label"}]})
    assert not validator.is_valid({"inputs": []}) and not validator.is_valid(
        {"inputs": [tensor | {"shape": [0]}]}
    )
    described = document["components"]["schemas"]["OipRequestInput"]["properties"]["shape"]["description"]
    assert "at most 64 (MAX_BATCH)" in described


@pytest.fixture(scope="module")
def signed_in_app(app_factory: Any, issuer: Issuer) -> Iterator[Flask]:
    """The app with sign-in on; its key endpoint is a closed port (the document needs no keys)."""
    auth = AuthSettings(issuer.audience, issuer.issuer, f"http://127.0.0.1:{free_port()}/keys", ROLE)
    app = app_factory(auth=auth)
    yield app
    app.extensions[STATE_KEY].keys.stop()


def test_with_sign_in_the_document_has_a_bearer_scheme_on_every_protected_operation(
    signed_in_app: Flask, issuer: Issuer
) -> None:
    client = signed_in_app.test_client()
    document = client.get("/openapi.json").get_json()
    validate_openapi(document)
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert issuer.audience in scheme["description"] and ROLE in scheme["description"]
    command = f"az account get-access-token --scope {issuer.audience}/.default --query accessToken -o tsv"
    assert scheme["x-token-command"] == command  # what the page shows a person who must sign in
    protected = {
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"bearer": []}]
    }
    assert protected == {
        ("/version", "get"),
        ("/v1/predict", "post"),
        ("/v2", "get"),
        ("/v2/models/{name}", "get"),
        ("/v2/models/{name}/versions/{version}", "get"),
        ("/v2/models/{name}/infer", "post"),
        ("/v2/models/{name}/versions/{version}/infer", "post"),
    }
    for path in ("/healthz", "/readyz", "/openapi.json", "/", "/v2/health/live", "/v2/models/{name}/ready"):
        assert all("security" not in op for op in document["paths"][path].values()), path  # anonymous
    for path, method in protected:
        responses = document["paths"][path][method]["responses"]
        assert {"401", "403"} <= set(responses)
        assert "WWW-Authenticate" in responses["401"]["headers"]
        error = "OipError" if path.startswith("/v2") else "Error"
        assert responses["401"]["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{error}"
        }
    # A real refusal is the documented error.
    response = client.post("/v1/predict", json={"instances": [ZERO_ROW]})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    schema = _response_schema(document, "/v1/predict", "post", 401)
    schema_validator(document, schema).validate(response.get_json())
    oip = client.post("/v2/models/digits/infer", json={"inputs": []})
    assert oip.status_code == 401
    schema_validator(document, _response_schema(document, "/v2/models/{name}/infer", "post", 401)).validate(
        oip.get_json()
    )
    assert "401 | unauthenticated" in document["info"]["description"]


def test_without_sign_in_the_document_has_no_security(document: dict[str, Any]) -> None:
    assert "securitySchemes" not in document["components"]
    assert not any("security" in op for ops in document["paths"].values() for op in ops.values())
