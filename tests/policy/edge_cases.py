"""The edge's policies (policy/rules/edge.py): passing and violating cases, with exact messages. test_rules.py
runs them with the rest of the pack's cases (and checks each policy has both)."""

from __future__ import annotations

from typing import Any

from policy.rules.edge import GATEWAY, NAMESPACE, SERVICE

from .engine import urn

HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
APP_NS = ("app", {"metadata": {"name": "aiapp", "labels": {"app.kubernetes.io/part-of": "aiapp"}}})
CERT = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "aiapp-tls"}]}


def gateway(*listeners: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "aiapp", "namespace": "aiapp"}, "spec": {"listeners": list(listeners)}}


def service(namespace: str, service_type: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": namespace}, "spec": {"type": service_type}}


def route(*parents: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "r", "namespace": "aiapp"}, "spec": {"parentRefs": list(parents)}}


HTTPS = {"name": "https", "port": 443, "protocol": "HTTPS", "tls": CERT}
NO_CERT = "terminates no TLS with a certificate (tls.certificateRefs is empty)."
# (policy, resource type, properties, violations)
RESOURCE_CASES: dict[str, tuple[str, str, dict[str, Any], list[str]]] = {
    "edge: HTTPS with a certificate on 443, plain HTTP on 80": (
        "edge-https-on-443",
        GATEWAY,
        gateway({"name": "http", "port": 80, "protocol": "HTTP"}, HTTPS),
        [],
    ),
    "edge: HTTP, no certificate, passthrough on 443": (
        "edge-https-on-443",
        GATEWAY,
        gateway(
            {"name": "plain", "port": 443, "protocol": "HTTP"},
            {"name": "nocert", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Terminate"}},
            {**HTTPS, "name": "passthrough", "tls": {**CERT, "mode": "Passthrough"}},
        ),
        [
            "Gateway 'subject' listener 'plain' (port 443): protocol is \"HTTP\", not HTTPS.",
            f"Gateway 'subject' listener 'nocert' (port 443): {NO_CERT}",
            f"Gateway 'subject' listener 'passthrough' (port 443): {NO_CERT}",
        ],
    ),
}
# (policy, the stack's (type, properties, name), violations as (message, urn))
STACK_RESOURCE_CASES: dict[str, tuple[str, list[tuple[str, dict[str, Any], str]], list[tuple[str, str]]]] = {
    "edge: ClusterIP app Service, the proxy's LoadBalancer elsewhere": (
        "edge-no-load-balancer-in-app-namespace",
        [
            (NAMESPACE, APP_NS[1], APP_NS[0]),
            (SERVICE, service("aiapp", "ClusterIP"), "app"),
            (SERVICE, service("envoy-gateway-system", "LoadBalancer"), "proxy"),
        ],
        [],
    ),
    "edge: a LoadBalancer in the app's namespace": (
        "edge-no-load-balancer-in-app-namespace",
        [(NAMESPACE, APP_NS[1], APP_NS[0]), (SERVICE, service("aiapp", "LoadBalancer"), "app")],
        [
            (
                "Service 'app' has type LoadBalancer in the app's namespace 'aiapp': the app is public only "
                "through the edge's Gateway.",
                urn(SERVICE, "app"),
            )
        ],
    ),
    "edge: routes on the stack's Gateway": (
        "edge-routes-attach-to-stack-gateway",
        [
            (GATEWAY, gateway(), "gw"),
            (HTTP_ROUTE, route({"name": "aiapp", "sectionName": "https"}), "same-namespace"),
            (HTTP_ROUTE, route({"name": "aiapp", "namespace": "aiapp", "kind": "Gateway"}), "explicit"),
        ],
        [],
    ),
    "edge: routes on another Gateway, or on none": (
        "edge-routes-attach-to-stack-gateway",
        [
            (GATEWAY, gateway(), "gw"),
            (HTTP_ROUTE, route({"name": "shared", "namespace": "infra"}), "foreign"),
            (HTTP_ROUTE, route(), "orphan"),
        ],
        [
            (
                "Route 'foreign' attaches to Gateway 'infra/shared', not a Gateway of this stack "
                "(aiapp/aiapp).",
                urn(HTTP_ROUTE, "foreign"),
            ),
            ("Route 'orphan' attaches to no Gateway (spec.parentRefs is empty).", urn(HTTP_ROUTE, "orphan")),
        ],
    ),
}
