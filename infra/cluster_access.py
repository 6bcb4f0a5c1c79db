"""May the identity running `pulumi up` create in the cluster yet? Asked the way the Kubernetes provider
will act: through its own kubeconfig (infra/cluster.py's kubelogin_kubeconfig), so the same kubelogin, the
same Azure CLI login and the same API server answer.

The question is a SelfSubjectAccessReview ("may I create namespaces?", the first thing the workload does).
Kubernetes lets every authenticated user ask it (the system:basic-user ClusterRole), so before the deployer's
AKS RBAC role has propagated the API server answers `allowed: false`; an answer of 401 or 403, or no answer
from a cluster created moments ago, is treated the same: not yet. kubelogin failing (not installed, no
`az login`) is not something waiting fixes: that ends the wait at once.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any, Literal

import yaml

from infra.propagation import NotYet

REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
EXEC_TIMEOUT_S = 120.0  # kubelogin asks the Azure CLI for a token; the CLI can be slow on a cold start


class ClusterAccessError(RuntimeError):
    """The access check itself cannot run: the kubeconfig, kubelogin or the API server's answer is wrong."""


def _current(config: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for entry in config.get(f"{kind}s") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(kind) or {}
    raise ClusterAccessError(f"the kubeconfig has no {kind} named {name!r}")


def _target(kubeconfig: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cluster, user) of the kubeconfig's current context."""
    config = yaml.safe_load(kubeconfig)
    if not isinstance(config, dict):
        raise ClusterAccessError("the kubeconfig is not a YAML mapping")
    context = _current(config, "context", str(config.get("current-context")))
    return _current(config, "cluster", str(context.get("cluster"))), _current(
        config, "user", str(context.get("user"))
    )


def exec_token(user: dict[str, Any]) -> str:
    """The bearer token the user's exec plugin prints (an ExecCredential), run as client-go runs it."""
    plugin = user.get("exec")
    if not isinstance(plugin, dict) or not plugin.get("command"):
        raise ClusterAccessError("the kubeconfig's user has no exec plugin to get a token from")
    env = {**os.environ, **{e["name"]: e["value"] for e in plugin.get("env") or []}}
    # What client-go hands the plugin: no cluster info (provideClusterInfo false), never interactive.
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": plugin.get("apiVersion"), "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    command = [plugin["command"], *plugin.get("args", [])]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=EXEC_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        hint = plugin.get("installHint") or "install it where pulumi runs"
        raise ClusterAccessError(f"{plugin['command']} is not on PATH: {hint}") from None
    except subprocess.TimeoutExpired:
        raise ClusterAccessError(
            f"{plugin['command']} did not print a token in {EXEC_TIMEOUT_S:.0f} s"
        ) from None
    if done.returncode != 0:
        raise ClusterAccessError(
            f"`{' '.join(command)}` failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}"
        )
    try:
        token = json.loads(done.stdout)["status"]["token"]
    except (ValueError, KeyError, TypeError):
        raise ClusterAccessError(f"{plugin['command']} printed no ExecCredential with a token") from None
    return str(token)


def _tls(cluster: dict[str, Any]) -> ssl.SSLContext | None:
    if not str(cluster.get("server", "")).startswith("https://"):
        return None  # a plain-HTTP API server exists only in tests (the local fake)
    ca = cluster.get("certificate-authority-data")
    return ssl.create_default_context(cadata=base64.b64decode(ca).decode() if ca else None)


def _status_message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("message") or error.reason)
    except ValueError:
        return str(error.reason)


def review(kubeconfig: str, verb: str, resource: str, timeout: float = 30.0) -> Literal[True] | NotYet:
    """True once the API server says the kubeconfig's user may `verb` `resource` (cluster-wide), else NotYet
    with the server's words. Raises ClusterAccessError when the check cannot be made at all."""
    cluster, user = _target(kubeconfig)
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise ClusterAccessError("the kubeconfig's cluster has no server")
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "resource": resource}},
    }
    request = urllib.request.Request(
        server + REVIEWS,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {exec_token(user)}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_tls(cluster)) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code in (401, 403, 429) or error.code >= 500:
            return NotYet(f"the API server answers HTTP {error.code}: {_status_message(error)}")
        raise ClusterAccessError(
            f"the API server refused the access review (HTTP {error.code}): {_status_message(error)}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        if isinstance(getattr(error, "reason", None), ssl.SSLError):
            raise ClusterAccessError(f"TLS with the API server at {server} failed: {error.reason}") from None
        return NotYet(f"the API server at {server} does not answer ({getattr(error, 'reason', error)})")
    except ValueError:
        raise ClusterAccessError("the API server's answer to the access review is not JSON") from None
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict):
        raise ClusterAccessError("the API server's answer to the access review has no status")
    if status.get("allowed") is True:
        return True
    reason = status.get("reason") or status.get("evaluationError") or "no reason given"
    return NotYet(f"the API server answers: not allowed to {verb} {resource} ({reason})")


def served(kubeconfig: str, path: str, timeout: float = 30.0) -> Literal[True] | NotYet:
    """True once the API server serves `path` (e.g. an API group a cluster add-on installs as a CRD), else
    NotYet: 404 while it does not exist yet, 401/403/429/5xx or no answer while access is still settling."""
    cluster, user = _target(kubeconfig)
    server = str(cluster.get("server", "")).rstrip("/")
    if not server:
        raise ClusterAccessError("the kubeconfig's cluster has no server")
    request = urllib.request.Request(
        server + path, headers={"Authorization": f"Bearer {exec_token(user)}", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=_tls(cluster)):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return NotYet(f"the API server does not serve {path} yet")
        if error.code in (401, 403, 429) or error.code >= 500:
            return NotYet(f"the API server answers HTTP {error.code}: {_status_message(error)}")
        raise ClusterAccessError(f"the API server refused {path} (HTTP {error.code})") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        if isinstance(getattr(error, "reason", None), ssl.SSLError):
            raise ClusterAccessError(f"TLS with the API server at {server} failed: {error.reason}") from None
        return NotYet(f"the API server at {server} does not answer ({getattr(error, 'reason', error)})")
