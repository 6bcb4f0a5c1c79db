"""The deployer's access to a new cluster, asked for real: infra/cluster_access.py runs a stand-in `kubelogin`
(a script printing an ExecCredential, as kubelogin does) named by the Provider's own kubeconfig
(infra/cluster.py's kubelogin_kubeconfig), and POSTs a SelfSubjectAccessReview over HTTP to a fake API server
on 127.0.0.1 that refuses a few times (403, then `allowed: false`) and then allows; infra/propagation.py
waits with tiny intervals. AKS, Entra, kubelogin and TLS to a real API server are not exercised."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from infra.azure_ids import AKS_SERVER_APP_ID
from infra.cluster import kubelogin_kubeconfig
from infra.cluster_access import REVIEWS, ClusterAccessError, review, served
from infra.propagation import NotYet, Patience, PropagationTimeout, wait_until
from tests.conftest import stand_in

QUICK = Patience(timeout_s=5, interval_s=0.01)

# A stand-in for kubelogin: records its arguments and the exec info client-go hands plugins, prints a token.
FAKE_KUBELOGIN = """#!{python}
import json, os, sys
with open(os.environ["FAKE_KUBELOGIN_LOG"], "a") as log:
    info = os.environ.get("KUBERNETES_EXEC_INFO")
    log.write(json.dumps({{"argv": sys.argv[1:], "exec_info": info}}) + "\\n")
if os.environ.get("FAKE_KUBELOGIN_FAIL"):
    sys.stderr.write("AADSTS70043: the refresh token has expired; run az login\\n")
    sys.exit(1)
print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {{"token": "entra-token-for-aks"}}}}))
"""


@pytest.fixture
def kubelogin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`kubelogin` on PATH is the stand-in; returns the log of its invocations."""
    return stand_in(tmp_path, monkeypatch, "kubelogin", FAKE_KUBELOGIN.format(python=sys.executable))


def provider_kubeconfig(server: str) -> str:
    """The Provider's kubeconfig, made by the program's own function from what AKS lists, for `server`."""
    listed = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "aks", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"exec": {"command": "kubelogin", "args": ["get-token"]}}}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "u"}}],
        "current-context": "aks",
    }
    return kubelogin_kubeconfig(base64.b64encode(yaml.safe_dump(listed).encode()).decode())


def status(code: int, message: str) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}
    return Response(json.dumps(body), code, content_type="application/json")


def reviewed(allowed: bool, reason: str = "") -> Response:
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "status": {"allowed": allowed, **({"reason": reason} if reason else {})},
    }
    return Response(json.dumps(body), 201, content_type="application/json")


def api_server(fake_http: HTTPServer, answers: Iterator[Response]) -> str:
    """The fake API server answers each access review with the next of `answers`; returns its URL."""
    fake_http.expect_request(REVIEWS, method="POST").respond_with_handler(lambda _: next(answers))
    return fake_http.url_for("/").rstrip("/")


def reviews(fake_http: HTTPServer) -> list[Request]:
    return [request for request, _ in fake_http.log]


FORBIDDEN = (
    'namespaces is forbidden: User "0b0b0b0b" cannot create resource "namespaces" in API group "" at the '
    "cluster scope: User does not have access to the resource in Azure. Update role assignment to allow "
    "access."
)


def test_the_update_waits_until_the_api_server_allows_and_says_why_meanwhile(
    fake_http: HTTPServer, kubelogin: Path
) -> None:
    answers = iter([status(403, FORBIDDEN)] * 3 + [reviewed(False, "no RBAC policy matched"), reviewed(True)])
    kubeconfig = provider_kubeconfig(api_server(fake_http, answers))
    logs: list[str] = []
    allowed = wait_until(
        "the deployer's access to the cluster",
        lambda: review(kubeconfig, "create", "namespaces"),
        advice="(advice)",
        patience=replace(QUICK, log=logs.append),
    )
    assert allowed is True
    sent = reviews(fake_http)
    assert len(sent) == 5
    for request in sent:
        assert request.headers["Authorization"] == "Bearer entra-token-for-aks"
        assert request.json == {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "create", "resource": "namespaces"}},
        }
    # kubelogin was run as the Provider runs it: the Azure CLI login, the AKS server application, no prompt.
    calls = [json.loads(line) for line in kubelogin.read_text().splitlines()]
    assert len(calls) == 5
    assert calls[0]["argv"] == ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID]
    assert json.loads(calls[0]["exec_info"])["spec"] == {"interactive": False}
    assert logs[0].startswith(
        "waiting for the deployer's access to the cluster: the API server answers HTTP 403"
    )
    assert "Update role assignment to allow access" in logs[0]
    assert logs[-1].startswith("the deployer's access to the cluster: allowed after")


def test_a_role_that_never_arrives_ends_the_wait_with_the_last_answer_and_the_advice(
    fake_http: HTTPServer, kubelogin: Path
) -> None:
    kubeconfig = provider_kubeconfig(api_server(fake_http, iter(lambda: status(403, FORBIDDEN), None)))
    with pytest.raises(PropagationTimeout) as raised:
        wait_until(
            "the deployer's access to the cluster",
            lambda: review(kubeconfig, "create", "namespaces"),
            advice="Give it AKS RBAC Cluster Admin.",
            patience=Patience(timeout_s=0.3, interval_s=0.05, log=lambda _: None),
        )
    message = str(raised.value)
    assert message.startswith("the deployer's access to the cluster: still refused after")
    assert "HTTP 403: namespaces is forbidden" in message and message.endswith(
        "Give it AKS RBAC Cluster Admin."
    )
    assert 2 <= len(reviews(fake_http)) <= 10


def test_an_api_server_that_does_not_answer_yet_is_not_yet(kubelogin: Path) -> None:
    answer = review(provider_kubeconfig("http://127.0.0.1:9"), "create", "namespaces", timeout=2)
    assert isinstance(answer, NotYet) and "does not answer" in answer.reason


def test_without_kubelogin_the_wait_ends_at_once_saying_what_to_install(
    fake_http: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no kubelogin
    kubeconfig = provider_kubeconfig(api_server(fake_http, iter([reviewed(True)])))
    with pytest.raises(ClusterAccessError, match=r"kubelogin is not on PATH: .*az aks install-cli"):
        wait_until("access", lambda: review(kubeconfig, "create", "namespaces"), advice="", patience=QUICK)
    assert reviews(fake_http) == []


def test_a_failed_login_ends_the_wait_at_once_with_kubelogins_words(
    fake_http: HTTPServer, kubelogin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KUBELOGIN_FAIL", "1")
    kubeconfig = provider_kubeconfig(api_server(fake_http, iter([reviewed(True)])))
    with pytest.raises(ClusterAccessError, match=r"failed \(exit 1\): AADSTS70043.*run az login"):
        wait_until("access", lambda: review(kubeconfig, "create", "namespaces"), advice="", patience=QUICK)
    assert reviews(fake_http) == []


def test_an_answer_that_is_no_review_is_an_error_not_a_wait(fake_http: HTTPServer, kubelogin: Path) -> None:
    answers = iter([Response("{}", 201, content_type="application/json")])
    kubeconfig = provider_kubeconfig(api_server(fake_http, answers))
    with pytest.raises(ClusterAccessError, match="has no status"):
        review(kubeconfig, "create", "namespaces")


def test_a_kubeconfig_without_the_current_context_is_an_error(kubelogin: Path) -> None:
    config = yaml.safe_load(provider_kubeconfig("http://127.0.0.1:9"))
    config["current-context"] = "elsewhere"
    with pytest.raises(ClusterAccessError, match="no context named 'elsewhere'"):
        review(yaml.safe_dump(config), "create", "namespaces")


def test_the_update_waits_until_the_cluster_serves_the_add_ons_podmonitor_api(
    fake_http: HTTPServer, kubelogin: Path
) -> None:
    """The managed Prometheus add-on installs its PodMonitor CRD after the cluster exists: 404 until then."""
    path = "/apis/azmonitoring.coreos.com/v1"
    answers = iter(
        [status(404, "the server could not find the requested resource")] * 2
        + [status(403, FORBIDDEN), Response(json.dumps({"kind": "APIResourceList"}), 200)]
    )
    fake_http.expect_request(path, method="GET").respond_with_handler(lambda _: next(answers))
    kubeconfig = provider_kubeconfig(fake_http.url_for("/").rstrip("/"))
    logs: list[str] = []
    assert served(kubeconfig, path) == NotYet(f"the API server does not serve {path} yet")
    served_at_last = wait_until(
        "the PodMonitor API",
        lambda: served(kubeconfig, path),
        advice="(advice)",
        patience=replace(QUICK, log=logs.append),
    )
    assert served_at_last is True
    asked = reviews(fake_http)
    assert len(asked) == 4
    assert {request.headers["Authorization"] for request in asked} == {"Bearer entra-token-for-aks"}
    assert logs[0].startswith(f"waiting for the PodMonitor API: the API server does not serve {path} yet")
