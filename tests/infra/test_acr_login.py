"""Push access without a stored credential: the token exchange and the registry's grants against a real HTTP
server on 127.0.0.1 (ACR's /oauth2/exchange and /oauth2/token contracts), including the wait for a push role
assigned moments ago (refused, then pull only, then push); `docker login` run for real against a stand-in
`docker` executable (the token on stdin only); and the kubeconfig the kubernetes Provider gets (kubelogin, no
token). ACR itself, Entra and a Docker engine are not exercised."""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Response

from infra import acr_login, entra
from infra.acr_login import (
    AcrLoginError,
    docker_login,
    exchange_url,
    granted_actions,
    login_for_push,
    push_scope,
    request_access_token,
    request_refresh_token,
)
from infra.azure_ids import AKS_SERVER_APP_ID
from infra.cluster import kubelogin_kubeconfig
from infra.outside import RealOutside
from infra.propagation import Patience, PropagationTimeout
from tests.conftest import stand_in

EXCHANGE = "/oauth2/exchange"
TOKEN = "/oauth2/token"


def acr_answers(fake_http: HTTPServer, body: dict, status: int = 200) -> str:
    """The registry's token endpoint, played by the fake server, answers `body`; returns the exchange URL."""
    fake_http.expect_request(EXCHANGE, method="POST").respond_with_json(body, status=status)
    return fake_http.url_for(EXCHANGE)


def exchanges(fake_http: HTTPServer) -> list[tuple[str, dict[str, list[str]], str | None]]:
    """(path, form, content type) of each request the registry received."""
    return [(r.path, r.form.to_dict(flat=False), r.headers.get("Content-Type")) for r, _ in fake_http.log]


def test_the_exchange_posts_the_documented_form(fake_http: HTTPServer) -> None:
    url = acr_answers(fake_http, {"refresh_token": "acr-refresh-token"})
    token = request_refresh_token(url, "myacr.azurecr.io", "tenant-1", "entra-access-token")
    assert token == "acr-refresh-token"
    assert exchanges(fake_http) == [
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


def test_a_refused_exchange_says_which_role_is_missing(fake_http: HTTPServer) -> None:
    url = acr_answers(fake_http, {"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
    with pytest.raises(AcrLoginError, match=r"HTTP 401.*needs the AcrPush role"):
        request_refresh_token(url, "myacr.azurecr.io", "tenant-1", "token")


def test_an_answer_without_a_token_is_an_error(fake_http: HTTPServer) -> None:
    url = acr_answers(fake_http, {"access_token": "not what we asked for"})
    with pytest.raises(AcrLoginError, match="without a refresh_token"):
        request_refresh_token(url, "myacr.azurecr.io", "tenant-1", "token")


def test_the_exchange_goes_to_the_registry_over_https() -> None:
    assert exchange_url("myacr.azurecr.io") == "https://myacr.azurecr.io/oauth2/exchange"


# A stand-in for the Docker CLI: records its arguments and stdin, answers like `docker login`, or fails with
# the exit code and message in FAKE_DOCKER_FAIL ("<code>:<message>").
FAKE_DOCKER = """#!{python}
import json, os, sys
stdin = sys.stdin.read()
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "stdin": stdin}}) + "\\n")
failure = os.environ.get("FAKE_DOCKER_FAIL")
if failure:
    code, message = failure.split(":", 1)
    sys.stderr.write(message.replace("STDIN", stdin) + "\\n")
    sys.exit(int(code))
print("Login Succeeded")
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`docker` on PATH is the stand-in; returns the log it appends each invocation to."""
    return stand_in(tmp_path, monkeypatch, "docker", FAKE_DOCKER.format(python=sys.executable))


def invocations(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_docker_login_passes_the_token_on_stdin_never_as_an_argument(fake_docker: Path) -> None:
    docker_login("myacr.azurecr.io", acr_login.TOKEN_USERNAME, "acr-refresh-token")
    assert invocations(fake_docker) == [
        {
            "argv": [
                "login",
                "myacr.azurecr.io",
                "--username",
                "00000000-0000-0000-0000-000000000000",
                "--password-stdin",
            ],
            "stdin": "acr-refresh-token",
        }
    ]


def test_a_failed_docker_login_says_so_without_echoing_the_token(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "1:Error response from daemon: login with STDIN refused")
    with pytest.raises(AcrLoginError, match=r"docker login myacr.azurecr.io` failed \(exit 1\)") as raised:
        docker_login("myacr.azurecr.io", acr_login.TOKEN_USERNAME, "secret-refresh-token")
    assert "secret-refresh-token" not in str(raised.value)
    assert "login with *** refused" in str(raised.value)


def test_without_docker_on_path_the_login_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no docker
    with pytest.raises(AcrLoginError, match=r"docker is not on PATH.*install Docker"):
        docker_login("myacr.azurecr.io", acr_login.TOKEN_USERNAME, "token")


@dataclass(frozen=True)
class LocalAcr(RealOutside):
    """The real outside world, but Entra answers a fixed token and ACR is the fake server (plain HTTP)."""

    exchange_at: str = ""
    token_at: str = ""
    scopes: list[str] = field(default_factory=list)

    def access_token(self, scope: str) -> str:
        self.scopes.append(scope)
        return "entra-access-token"

    def exchange_refresh_token(self, login_server: str, tenant_id: str, access_token: str) -> str:
        return request_refresh_token(self.exchange_at, login_server, tenant_id, access_token)

    def registry_grants(self, login_server: str, refresh_token: str, repository: str) -> frozenset[str]:
        token = request_access_token(self.token_at, login_server, refresh_token, push_scope(repository))
        return granted_actions(token, repository)


def jwt(claims: dict) -> str:
    """A token shaped like ACR's (header.claims.signature, base64url); the signature is not checked here."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def grants(repository: str, *actions: str) -> dict:
    return {
        "access_token": jwt(
            {"access": [{"type": "repository", "name": repository, "actions": list(actions)}]}
        )
    }


def acr_token_answers(fake_http: HTTPServer, body: dict, status: int = 200) -> str:
    fake_http.expect_request(TOKEN, method="POST").respond_with_json(body, status=status)
    return fake_http.url_for(TOKEN)


QUICK = Patience(timeout_s=5, interval_s=0.01)


def test_login_for_push_exchanges_the_entra_token_and_hands_the_result_to_docker_only(
    fake_http: HTTPServer, fake_docker: Path
) -> None:
    """The whole chain, each step real except Entra: token -> exchange over HTTP -> the registry's grants ->
    docker login on stdin."""
    outside = LocalAcr(
        exchange_at=acr_answers(fake_http, {"refresh_token": "acr-refresh-token"}),
        token_at=acr_token_answers(fake_http, grants("aiapp", "pull", "push")),
    )
    login_for_push("myacr.azurecr.io", "tenant-1", "aiapp", outside, QUICK)
    assert outside.scopes == [entra.ARM_SCOPE]
    assert [form["access_token"] for path, form, _ in exchanges(fake_http) if path == EXCHANGE] == [
        ["entra-access-token"]
    ]
    (call,) = invocations(fake_docker)
    assert call["argv"][:2] == ["login", "myacr.azurecr.io"] and call["stdin"] == "acr-refresh-token"
    assert "acr-refresh-token" not in call["argv"]


def test_a_new_acr_push_role_is_waited_for_then_used(fake_http: HTTPServer, fake_docker: Path) -> None:
    """The first `pulumi up`: the exchange is refused twice (401), then the registry grants pull only, then
    pull and push; only then is docker logged in, with the refresh token that was granted push."""
    exchange_answers = iter(
        [Response(json.dumps({"errors": [{"code": "UNAUTHORIZED"}]}), 401, content_type="application/json")]
        * 2
        + [
            Response(json.dumps({"refresh_token": f"refresh-{n}"}), 200, content_type="application/json")
            for n in (3, 4)
        ]
    )
    token_answers = iter([grants("aiapp", "pull"), grants("aiapp", "pull", "push")])
    fake_http.expect_request(EXCHANGE, method="POST").respond_with_handler(lambda _: next(exchange_answers))
    fake_http.expect_request(TOKEN, method="POST").respond_with_handler(
        lambda _: Response(json.dumps(next(token_answers)), 200, content_type="application/json")
    )
    logs: list[str] = []
    outside = LocalAcr(exchange_at=fake_http.url_for(EXCHANGE), token_at=fake_http.url_for(TOKEN))
    login_for_push("myacr.azurecr.io", "tenant-1", "aiapp", outside, replace(QUICK, log=logs.append))
    assert [r.path for r, _ in fake_http.log] == [EXCHANGE, EXCHANGE, EXCHANGE, TOKEN, EXCHANGE, TOKEN]
    (call,) = invocations(fake_docker)
    assert call["stdin"] == "refresh-4"
    assert logs[0].startswith("waiting for push access to myacr.azurecr.io/aiapp:")
    assert "HTTP 401" in logs[0] and logs[-1].startswith(
        "push access to myacr.azurecr.io/aiapp: allowed after"
    )


def test_the_registry_is_asked_for_push_on_the_repository_as_docker_asks(fake_http: HTTPServer) -> None:
    url = acr_token_answers(fake_http, grants("aiapp", "pull", "push"))
    token = request_access_token(url, "myacr.azurecr.io", "acr-refresh-token", push_scope("aiapp"))
    assert granted_actions(token, "aiapp") == {"pull", "push"}
    assert exchanges(fake_http) == [
        (
            TOKEN,
            {
                "grant_type": ["refresh_token"],
                "service": ["myacr.azurecr.io"],
                "scope": ["repository:aiapp:pull,push"],
                "refresh_token": ["acr-refresh-token"],
            },
            "application/x-www-form-urlencoded",
        )
    ]


def test_only_the_grants_on_the_repository_count() -> None:
    token = jwt(
        {
            "access": [
                {"type": "repository", "name": "other", "actions": ["push"]},
                {"type": "registry", "name": "catalog", "actions": ["*"]},
                {"type": "repository", "name": "aiapp", "actions": ["pull"]},
            ]
        }
    )
    assert granted_actions(token, "aiapp") == {"pull"}
    assert granted_actions(jwt({}), "aiapp") == frozenset()
    with pytest.raises(AcrLoginError, match="not a JWT"):
        granted_actions("opaque-token", "aiapp")


def test_a_refused_exchange_logs_nothing_in(fake_http: HTTPServer, fake_docker: Path) -> None:
    outside = LocalAcr(exchange_at=acr_answers(fake_http, {"errors": [{"code": "DENIED"}]}, status=403))
    with pytest.raises(PropagationTimeout, match="needs the AcrPush role") as raised:
        login_for_push(
            "myacr.azurecr.io", "tenant-1", "aiapp", outside, Patience(timeout_s=0.1, interval_s=0.02)
        )
    assert "push access to myacr.azurecr.io/aiapp: still refused" in str(raised.value)
    assert "run `pulumi up` again" in str(raised.value)
    assert invocations(fake_docker) == []


def aks_user_kubeconfig() -> dict:
    """What AKS lists for an Entra-only cluster: the endpoint, the CA and kubelogin's device-code login."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "aks",
                "cluster": {"server": "https://aks.hcp.example:443", "certificate-authority-data": "Q0E="},
            }
        ],
        "users": [
            {
                "name": "clusterUser",
                "user": {"exec": {"command": "kubelogin", "args": ["get-token", "--login", "devicecode"]}},
            }
        ],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "clusterUser"}}],
        "current-context": "aks",
    }


def test_provider_kubeconfig_keeps_the_cluster_and_logs_in_with_kubelogin_and_the_azure_cli() -> None:
    user_kubeconfig = aks_user_kubeconfig()
    encoded = base64.b64encode(yaml.safe_dump(user_kubeconfig).encode()).decode()
    config = yaml.safe_load(kubelogin_kubeconfig(encoded))
    assert config["clusters"] == user_kubeconfig["clusters"]
    (user,) = config["users"]
    assert user["name"] == "pulumi-deployer"
    exec_config = user["user"]["exec"]
    assert set(user["user"]) == {"exec"}  # no token, no client certificate, no password
    assert exec_config["command"] == "kubelogin"
    assert exec_config["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID]
    assert AKS_SERVER_APP_ID == "6dae42f8-4368-4678-94ff-3960e28e3630"  # the AKS Entra server application
    assert exec_config["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_config["interactiveMode"] == "Never"
    assert "kubelogin" in exec_config["installHint"]
    assert config["contexts"] == [{"name": "aiapp", "context": {"cluster": "aks", "user": "pulumi-deployer"}}]
    assert config["current-context"] == "aiapp"


def test_a_user_kubeconfig_without_a_cluster_is_a_clear_error() -> None:
    encoded = base64.b64encode(yaml.safe_dump({"apiVersion": "v1", "clusters": []}).encode()).decode()
    with pytest.raises(ValueError, match="without a cluster entry"):
        kubelogin_kubeconfig(encoded)
