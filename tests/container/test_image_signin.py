"""The real image with sign-in on: its own entrypoint under `buildah run`, AUTH_* set, the signing keys served
from 127.0.0.1 (the container shares the host's network), real tokens from the test issuer. It fetches the
keys, checks tokens with the joserfc and cryptography the image carries, and trusts the public roots that
Entra ID's HTTPS certificates chain to (without them, no key fetch from login.microsoftonline.com could work).

The image is the one tests/container/test_image.py builds (its fixtures, shared; a second build is warm).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.container.test_image import (  # noqa: F401  (the image fixtures, shared)
    RUN,
    Built,
    base_image,
    built,
    container_of,
    engine,
    run_entrypoint,
)
from tools.issuer import Issuer, key_server, sign_in_env

pytestmark = pytest.mark.container

# Roots that login.microsoftonline.com's certificate chains have used (DigiCert's, Microsoft's own).
ENTRA_ROOTS = ("DigiCert Global Root G2", "Microsoft RSA Root Certificate Authority 2017")


def _predict(url: str, token: str | None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/v1/predict",
        data=json.dumps({"instances": [[0] * 64]}).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_image_fetches_the_keys_and_checks_tokens(
    built: Built,  # noqa: F811
    issuer: Issuer,
    tmp_path: Path,
) -> None:
    port = free_port()
    with key_server(issuer.jwks()) as keys:
        env = {"PORT": str(port), "METRICS_PORT": str(free_port()), "WORKERS": "1"}
        env |= sign_in_env(issuer, keys.url_for("/keys"))
        with run_entrypoint(built.image, env, tmp_path) as running:
            url = f"http://127.0.0.1:{port}"
            running.wait_ready(url)
            status, body = _predict(url, issuer.token())
            assert status == 200 and len(body["predictions"]) == 1
            status, body = _predict(url, None)
            assert status == 401 and body["error"]["code"] == "unauthenticated"
            assert _predict(url, issuer.token(roles=()))[0] == 403
            assert "sign-in on: Entra ID tokens for" in running.output()
        assert sum(1 for request, _ in keys.log if request.path == "/keys") >= 1  # fetched from inside


def test_the_image_trusts_the_roots_entras_certificates_chain_to(built: Built) -> None:  # noqa: F811
    probe = (
        "import json, ssl; cas = ssl.create_default_context().get_ca_certs(); "
        "print(json.dumps([dict(x[0] for x in c['subject']).get('commonName') for c in cas]))"
    )
    with container_of(built.image) as (name, _):
        done = subprocess.run(
            [*RUN, name, "--", "/opt/venv/bin/python", "-c", probe],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    roots = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert len(roots) > 100, "the system CA bundle (Debian's ca-certificates) is not in the image"
    assert set(ENTRA_ROOTS) <= roots
