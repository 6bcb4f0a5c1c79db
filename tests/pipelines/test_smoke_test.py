"""pipelines/smoke_test.py against the real app (`python -m app` on 127.0.0.1, from the conftest fixtures).

The script runs as the release runs it: a subprocess reading `pulumi stack output --json`-shaped JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from model.manifest import Manifest
from pipelines.digits import DIGITS
from tests.conftest import LiveApp, free_port, serve_app, serve_signed_in
from tools.issuer import Issuer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "pipelines" / "smoke_test.py"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def smoke(
    outputs: dict, *args: str, timeout: float = 10, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the script with `outputs` on stdin, as `pulumi stack output --json | smoke_test.py --outputs -`."""
    command = [sys.executable, str(SCRIPT), "--outputs", "-", "--timeout", str(timeout), "--interval", "0.2"]
    return subprocess.run(
        [*command, *args],
        input=json.dumps(outputs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def outputs_of(app: LiveApp, manifest: Manifest, **overrides: object) -> dict:
    return {
        "app_url": app.url,
        "model_name": manifest.name,
        "model_version": manifest.version,
        "model_sha256": manifest.sha256,
        **overrides,
    }


def test_passes_against_the_app_serving_the_deployed_model(
    live_app: LiveApp, reference_manifest: Manifest
) -> None:
    result = smoke(
        outputs_of(live_app, reference_manifest),
        "--expect-model-version",
        reference_manifest.version,
        "--stack",
        "dev",
    )
    assert result.returncode == 0, result.stderr
    assert f"serves model {reference_manifest.name} version {reference_manifest.version}" in result.stdout
    assert "FAILED" not in result.stderr


def test_fails_when_the_app_serves_another_model_version(
    live_app: LiveApp, reference_manifest: Manifest
) -> None:
    wrong = str(int(reference_manifest.version) + 41)
    result = smoke(
        outputs_of(live_app, reference_manifest, model_version=wrong), "--stack", "prod", timeout=1
    )
    assert result.returncode == 1
    assert "SMOKE TEST FAILED for stack prod" in result.stderr
    assert f"expected {wrong!r}" in result.stderr


def test_fails_when_the_stack_did_not_deploy_the_resolved_version(
    live_app: LiveApp, reference_manifest: Manifest
) -> None:
    result = smoke(outputs_of(live_app, reference_manifest), "--expect-model-version", "999")
    assert result.returncode == 1
    assert "this release resolved '999'" in result.stderr


def test_fails_when_the_model_digest_differs(live_app: LiveApp, reference_manifest: Manifest) -> None:
    result = smoke(outputs_of(live_app, reference_manifest, model_sha256="0" * 64), timeout=1)
    assert result.returncode == 1
    assert "model sha256" in result.stderr


def test_checks_the_commit_the_app_reports(reference_model_dir: Path, reference_manifest: Manifest) -> None:
    with serve_app(reference_model_dir, GIT_COMMIT=COMMIT) as app:
        good = smoke(outputs_of(app, reference_manifest), "--expect-commit", COMMIT[:7])
        from_outputs = smoke(outputs_of(app, reference_manifest, app_commit=COMMIT))
        wrong = smoke(outputs_of(app, reference_manifest), "--expect-commit", "f" * 40, timeout=1)
    assert good.returncode == 0, good.stderr
    assert from_outputs.returncode == 0, from_outputs.stderr
    assert wrong.returncode == 1
    assert f"app commit {COMMIT!r}" in wrong.stderr


def test_require_commit_takes_the_commit_from_the_stack_outputs(
    reference_model_dir: Path, reference_manifest: Manifest
) -> None:
    with serve_app(reference_model_dir, GIT_COMMIT=COMMIT) as app:
        good = smoke(outputs_of(app, reference_manifest, app_commit=COMMIT), "--require-commit")
        other = smoke(outputs_of(app, reference_manifest, app_commit="e" * 40), "--require-commit", timeout=1)
        missing = smoke(outputs_of(app, reference_manifest), "--require-commit")
        unknown = smoke(outputs_of(app, reference_manifest, app_commit="unknown"), "--require-commit")
    assert good.returncode == 0, good.stderr
    assert other.returncode == 1 and f"app commit {COMMIT!r}, expected {'e' * 40!r}" in other.stderr
    assert missing.returncode == 1 and "app_commit is None, not a full commit SHA" in missing.stderr
    assert unknown.returncode == 1 and "app_commit is 'unknown', not a full commit SHA" in unknown.stderr


# ----------------------------------------------------------------------------- the promotion object


IMAGE = "aiappdev.azurecr.io/aiapp@sha256:" + "a" * 64


def promotion_of(manifest: Manifest, **overrides: str) -> dict:
    """The object a stack serving the real app (GIT_COMMIT=COMMIT, APP_VERSION unset: "dev") exports."""
    return {
        "image": IMAGE,
        "modelName": manifest.name,
        "modelVersion": manifest.version,
        "modelSha256": manifest.sha256,
        "commit": COMMIT,
        "appVersion": "dev",
    } | overrides


def test_expect_promotion_checks_the_stack_serves_the_object_and_the_app_reports_it(
    reference_model_dir: Path, reference_manifest: Manifest, tmp_path: Path
) -> None:
    promotion = promotion_of(reference_manifest)
    given = tmp_path / "promoted.json"
    given.write_text(json.dumps(promotion))
    stale = (
        tmp_path / "stale.json"
    )  # an object whose model the app does not serve: the rollout did not happen
    stale.write_text(json.dumps(promotion | {"modelVersion": "7"}))
    verdict = tmp_path / "smoke.verdict"
    with serve_app(reference_model_dir, GIT_COMMIT=COMMIT) as app:
        outputs = outputs_of(app, reference_manifest, promotion=promotion)
        good = smoke(
            outputs, "--expect-promotion", str(given), "--require-commit", "--verdict-file", str(verdict)
        )
        good_verdict = verdict.read_text()
        other = smoke(
            outputs_of(app, reference_manifest, promotion=promotion | {"image": IMAGE[:-64] + "b" * 64}),
            "--expect-promotion",
            str(given),
            "--verdict-file",
            str(verdict),
        )
        missing = smoke(outputs_of(app, reference_manifest), "--expect-promotion", str(given))
        old = smoke(
            outputs_of(app, reference_manifest, promotion=promotion | {"modelVersion": "7"}),
            "--expect-promotion",
            str(stale),
            timeout=1,
        )
    assert good.returncode == 0, good.stderr
    assert good_verdict.startswith("smoke test passed:")
    assert other.returncode == 1 and "not the object it was given" in other.stderr
    assert verdict.read_text().startswith("SMOKE TEST FAILED: the stack serves")
    assert missing.returncode == 1 and "the stack exports no promotion output" in missing.stderr
    assert old.returncode == 1 and "model version '1', expected '7'" in old.stderr


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image": "aiappdev.azurecr.io/aiapp:v3"}, "names a tag (:v3), not a digest: promote by digest"),
        ({"commit": ""}, "commit '' is not a full commit SHA"),
        ({"extra": "x"}, "has keys the contract does not: 'extra'"),
    ],
)
def test_a_malformed_promotion_object_is_a_usage_error(
    live_app: LiveApp, reference_manifest: Manifest, tmp_path: Path, bad: dict, message: str
) -> None:
    given = tmp_path / "promoted.json"
    given.write_text(json.dumps(promotion_of(reference_manifest) | bad))
    result = smoke(outputs_of(live_app, reference_manifest), "--expect-promotion", str(given))
    assert result.returncode == 2
    assert message in result.stderr


def test_fails_when_the_app_never_gets_ready(reference_manifest: Manifest) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = smoke({"app_url": closed, "model_version": reference_manifest.version}, timeout=1)
    assert result.returncode == 1
    assert f"{closed}/readyz did not answer 200" in result.stderr


@pytest.mark.parametrize(
    "outputs, message",
    [
        ("not json", "not JSON"),
        (json.dumps({"model_version": "1"}), "lack app_url"),
        (json.dumps({"app_url": "ftp://x", "model_version": "1"}), "not an http(s) URL"),
    ],
)
def test_unusable_stack_outputs_are_a_usage_error(outputs: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--outputs", "-"],
        input=outputs,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr


# ------------------------------------------------------------------- an app that answers wrong predictions


@pytest.fixture
def wrong_app(fake_http: HTTPServer) -> str:
    """An app that is ready and reports the right model, but predicts every digit as a 1."""
    model = {"name": "digits", "version": "5"}

    def predict_ones(request: Request) -> Response:
        one = [0.0, 1.0] + [0.0] * 8
        predictions = [{"label": 1, "probabilities": one} for _ in request.json["instances"]]
        return Response(
            json.dumps({"model": model, "predictions": predictions}), content_type="application/json"
        )

    fake_http.expect_request("/readyz", method="GET").respond_with_json({"status": "ready"})
    fake_http.expect_request("/version", method="GET").respond_with_json(
        {"app": {"version": "x", "commit": COMMIT}, "model": model}
    )
    fake_http.expect_request("/v1/predict", method="POST").respond_with_handler(predict_ones)
    return fake_http.url_for("/").rstrip("/")


def test_fails_on_wrong_predictions(wrong_app: str) -> None:
    result = smoke({"app_url": wrong_app, "model_version": "5"})
    assert result.returncode == 1
    assert "wrong prediction" in result.stderr
    assert "digit #0 (a 3): predicted label 1" in result.stderr


def test_the_embedded_digits_are_real_rows_of_the_digits_data(digits) -> None:
    assert len(DIGITS) == 2
    for label, pixels in DIGITS:
        matches = np.flatnonzero((digits.x == np.asarray(pixels, dtype=np.float32)).all(axis=1))
        assert matches.size >= 1, f"the embedded {label} is not a row of load_digits()"
        assert {int(digits.y[i]) for i in matches} == {label}


# ------------------------------------------------------------------------------------------------ sign-in

# The Azure CLI as the release's AzureCLI@2 step has it, logged in as the deploy identity: prints the token
# in FAKE_AZ_TOKEN (or fails with FAKE_AZ_ERROR) and records its arguments.
FAKE_AZ = """#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_AZ_LOG"
if [ -n "$FAKE_AZ_ERROR" ]; then echo "$FAKE_AZ_ERROR" >&2; exit 1; fi
printf '%s\\n' "$FAKE_AZ_TOKEN"
"""


@pytest.fixture(scope="module")
def signed_in_app(reference_model_dir: Path, issuer: Issuer) -> Iterator[LiveApp]:
    with serve_signed_in(reference_model_dir, issuer) as (app, _):
        yield app


@pytest.fixture
def az(tmp_path: Path) -> dict[str, str]:
    """The smoke test's environment with a fake `az` first on PATH; set FAKE_AZ_TOKEN or FAKE_AZ_ERROR."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ)
    (bin_dir / "az").chmod(0o755)
    return os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_AZ_LOG": str(tmp_path / "az.log")}


SCOPE = "api://3f1c5e0a-1111-4222-8333-444444444444/.default"


def test_with_sign_in_it_calls_the_app_with_a_token_for_the_deploy_identity(
    signed_in_app: LiveApp, reference_manifest: Manifest, issuer: Issuer, az: dict[str, str]
) -> None:
    token = issuer.token()
    outputs = outputs_of(signed_in_app, reference_manifest, auth_token_scope=SCOPE)
    result = smoke(outputs, env=az | {"FAKE_AZ_TOKEN": token})
    assert result.returncode == 0, result.stderr
    assert "sign-in is on" in result.stdout and "refuses a request without a token" in result.stdout
    assert Path(az["FAKE_AZ_LOG"]).read_text().splitlines() == [
        f"account get-access-token --scope {SCOPE} --query accessToken -o tsv"
    ]
    assert token not in result.stdout + result.stderr  # the token is never printed


def test_with_sign_in_a_token_without_the_role_fails(
    signed_in_app: LiveApp, reference_manifest: Manifest, issuer: Issuer, az: dict[str, str]
) -> None:
    outputs = outputs_of(signed_in_app, reference_manifest, auth_token_scope=SCOPE)
    result = smoke(outputs, env=az | {"FAKE_AZ_TOKEN": issuer.token(roles=())}, timeout=1)
    assert result.returncode == 1
    assert (
        "SMOKE TEST FAILED" in result.stderr and "HTTP 403" in result.stderr and "forbidden" in result.stderr
    )


def test_with_sign_in_no_token_from_az_fails_and_says_why(
    signed_in_app: LiveApp, reference_manifest: Manifest, az: dict[str, str]
) -> None:
    outputs = outputs_of(signed_in_app, reference_manifest, auth_token_scope=SCOPE)
    error = "ERROR: AADSTS501051: Application is not assigned to a role for the application"
    result = smoke(outputs, env=az | {"FAKE_AZ_ERROR": error})
    assert result.returncode == 1
    assert f"`az account get-access-token --scope {SCOPE} --query accessToken -o tsv` failed" in result.stderr
    assert "AADSTS501051" in result.stderr and "app role" in result.stderr


def test_fails_when_the_stack_says_sign_in_but_the_app_answers_without_a_token(
    live_app: LiveApp, reference_manifest: Manifest, issuer: Issuer, az: dict[str, str]
) -> None:
    outputs = outputs_of(live_app, reference_manifest, auth_token_scope=SCOPE)
    result = smoke(outputs, env=az | {"FAKE_AZ_TOKEN": issuer.token()})
    assert result.returncode == 1
    assert (
        "the stack turned sign-in on, but without a token POST /v1/predict answered HTTP 200" in result.stderr
    )
