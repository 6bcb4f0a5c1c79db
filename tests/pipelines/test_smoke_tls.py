"""The smoke test over HTTPS: a certificate from a CA no system trusts (as Let's Encrypt staging's) fails the
TLS handshake unless --ca-bundle names that CA, and a staging stack without a bundle is a usage error. A real
TLS server on 127.0.0.1 with a CA and a server certificate made here by openssl."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

SCRIPT = Path(__file__).resolve().parents[2] / "pipelines" / "smoke_test.py"


def openssl(*args: str, cwd: Path) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.fail("openssl is missing (Debian package openssl)")
    subprocess.run([tool, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem (a self-signed 'staging' root) and server.pem/server.key for 127.0.0.1, signed by it."""
    d = tmp_path_factory.mktemp("pki")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=(TEST) Pretend Staging Root", cwd=d)  # fmt: skip
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d


@pytest.fixture
def https_app(pki: Path) -> Iterator[HTTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/readyz").respond_with_json({"status": "ready"})
    server.start()
    yield server
    server.stop()


def smoke(outputs: dict, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--outputs", "-", "--timeout", "1", "--interval", "0.2", *args]
    return subprocess.run(command, input=json.dumps(outputs), capture_output=True, text=True, timeout=60)


def outputs(server: HTTPServer, acme_server: str) -> dict:
    return {"app_url": server.url_for("").rstrip("/"), "model_version": "1", "acme_server": acme_server}


def test_an_untrusted_certificate_fails_the_handshake(https_app: HTTPServer) -> None:
    result = smoke(outputs(https_app, "production"))
    assert result.returncode == 1
    assert "/readyz did not answer 200" in result.stderr and "CERTIFICATE_VERIFY_FAILED" in result.stderr


def test_with_the_ca_bundle_the_app_is_reached_over_tls(https_app: HTTPServer, pki: Path) -> None:
    result = smoke(outputs(https_app, "staging"), "--ca-bundle", str(pki / "ca.pem"))
    # /readyz answered through TLS; the stub serves nothing else, so the next check is what fails.
    assert result.returncode == 1
    assert "/readyz did not answer" not in result.stderr, result.stderr
    assert "/version did not report the deployed model" in result.stderr, result.stderr


def test_a_staging_certificate_without_a_bundle_is_a_usage_error(https_app: HTTPServer) -> None:
    result = smoke(outputs(https_app, "staging"))
    assert result.returncode == 2
    assert "Let's Encrypt's staging CA" in result.stderr and "--ca-bundle" in result.stderr
