"""The push-credential exchange against a real HTTP server on 127.0.0.1 (ACR's /oauth2/exchange contract),
and the kubeconfig the kubernetes Provider gets."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from infra.acr_login import AcrLoginError, exchange_url, request_refresh_token
from infra.cluster import bearer_kubeconfig


class FakeAcr:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        self.status = 200
        self.body: dict = {"refresh_token": "acr-refresh-token"}


@pytest.fixture
def acr() -> Iterator[tuple[FakeAcr, str]]:
    state = FakeAcr()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            length = int(self.headers["Content-Length"])
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            state.requests.append((self.path, form, self.headers["Content-Type"]))
            payload = json.dumps(state.body).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/oauth2/exchange"
    finally:
        server.shutdown()
        server.server_close()


def test_the_exchange_posts_the_documented_form(acr: tuple[FakeAcr, str]) -> None:
    state, url = acr
    token = request_refresh_token(url, "myacr.azurecr.io", "tenant-1", "entra-access-token")
    assert token == "acr-refresh-token"
    assert state.requests == [
        (
            "/oauth2/exchange",
            {
                "grant_type": ["access_token"],
                "service": ["myacr.azurecr.io"],
                "tenant": ["tenant-1"],
                "access_token": ["entra-access-token"],
            },
            "application/x-www-form-urlencoded",
        )
    ]


def test_a_refused_exchange_says_which_role_is_missing(acr: tuple[FakeAcr, str]) -> None:
    state, url = acr
    state.status, state.body = 401, {"errors": [{"code": "UNAUTHORIZED"}]}
    with pytest.raises(AcrLoginError, match=r"HTTP 401.*needs the AcrPush role"):
        request_refresh_token(url, "myacr.azurecr.io", "tenant-1", "token")


def test_an_answer_without_a_token_is_an_error(acr: tuple[FakeAcr, str]) -> None:
    state, url = acr
    state.body = {"access_token": "not what we asked for"}
    with pytest.raises(AcrLoginError, match="without a refresh_token"):
        request_refresh_token(url, "myacr.azurecr.io", "tenant-1", "token")


def test_the_exchange_goes_to_the_registry_over_https() -> None:
    assert exchange_url("myacr.azurecr.io") == "https://myacr.azurecr.io/oauth2/exchange"


def test_bearer_kubeconfig_keeps_the_cluster_and_replaces_kubelogin_with_the_token() -> None:
    user_kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "aks",
                "cluster": {"server": "https://aks.hcp.example:443", "certificate-authority-data": "Q0E="},
            }
        ],
        "users": [{"name": "clusterUser", "user": {"exec": {"command": "kubelogin"}}}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "clusterUser"}}],
        "current-context": "aks",
    }
    encoded = base64.b64encode(yaml.safe_dump(user_kubeconfig).encode()).decode()
    config = yaml.safe_load(bearer_kubeconfig(encoded, "entra-token"))
    assert config["clusters"] == user_kubeconfig["clusters"]
    assert config["users"] == [{"name": "pulumi-deployer", "user": {"token": "entra-token"}}]
    assert config["contexts"] == [{"name": "aiapp", "context": {"cluster": "aks", "user": "pulumi-deployer"}}]
    assert config["current-context"] == "aiapp"
