"""The edge (Gateway API): nothing of the app's namespace is a LoadBalancer, every listener on 443 is HTTPS
with a certificate, and every route attaches to a Gateway of this stack.

The app's namespace is the Namespace labelled `app.kubernetes.io/part-of: aiapp` (infra/workload.py); the
Envoy proxy's own LoadBalancer Service lives in the controller's namespace, which Envoy Gateway creates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from .common import as_list, as_map, get_path, iter_named, mandatory, mandatory_stack, show

NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE = "kubernetes:core/v1:Service"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTES = frozenset(
    {
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
        "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute",
        "kubernetes:gateway.networking.k8s.io/v1alpha2:TLSRoute",
        "kubernetes:gateway.networking.k8s.io/v1alpha2:TCPRoute",
    }
)
APP_NAMESPACE_LABEL, APP_NAMESPACE_VALUE = "app.kubernetes.io/part-of", "aiapp"


def _namespace_of(props: Mapping[str, Any]) -> str:
    return str(get_path(props, "metadata", "namespace") or "default")


def validate_no_load_balancer_in_app_namespace(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    app_namespaces = {
        str(get_path(r.props, "metadata", "name"))
        for r in args.resources
        if r.resource_type == NAMESPACE
        and as_map(get_path(r.props, "metadata", "labels")).get(APP_NAMESPACE_LABEL) == APP_NAMESPACE_VALUE
    }
    for r in args.resources:
        if r.resource_type != SERVICE or get_path(r.props, "spec", "type") != "LoadBalancer":
            continue
        if _namespace_of(r.props) in app_namespaces:
            report_violation(
                f"Service '{r.name}' has type LoadBalancer in the app's namespace "
                f"'{_namespace_of(r.props)}': the app is public only through the edge's Gateway.",
                r.urn,
            )


def validate_https_on_443(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != GATEWAY:
        return
    for name, listener in iter_named(get_path(args.props, "spec", "listeners")):
        if listener.get("port") not in (443, 443.0):
            continue
        where = f"Gateway '{args.name}' listener '{name}' (port 443)"
        if listener.get("protocol") != "HTTPS":
            report_violation(f"{where}: protocol is {show(listener.get('protocol'))}, not HTTPS.")
        elif as_map(listener.get("tls")).get("mode", "Terminate") != "Terminate" or not as_list(
            get_path(listener, "tls", "certificateRefs")
        ):
            report_violation(f"{where}: terminates no TLS with a certificate (tls.certificateRefs is empty).")


def validate_routes_attach_to_stack_gateway(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    gateways = {
        (_namespace_of(r.props), str(get_path(r.props, "metadata", "name")))
        for r in args.resources
        if r.resource_type == GATEWAY
    }
    for r in args.resources:
        if r.resource_type not in ROUTES:
            continue
        parents = [as_map(p) for p in as_list(get_path(r.props, "spec", "parentRefs"))]
        if not parents:
            report_violation(f"Route '{r.name}' attaches to no Gateway (spec.parentRefs is empty).", r.urn)
        for parent in parents:
            kind, group = parent.get("kind", "Gateway"), parent.get("group", "gateway.networking.k8s.io")
            ref = (str(parent.get("namespace") or _namespace_of(r.props)), str(parent.get("name")))
            if (kind, group) != ("Gateway", "gateway.networking.k8s.io") or ref not in gateways:
                report_violation(
                    f"Route '{r.name}' attaches to {kind} '{ref[0]}/{ref[1]}', not a Gateway of this stack "
                    f"({', '.join(sorted('/'.join(g) for g in gateways)) or 'none declared'}).",
                    r.urn,
                )


STACK_POLICIES = [
    mandatory_stack(
        "edge-no-load-balancer-in-app-namespace",
        "No Service of type LoadBalancer in the app's namespace: the app is public only through the edge.",
        validate_no_load_balancer_in_app_namespace,
        "Make the Service ClusterIP and route to it from the stack's Gateway with an HTTPRoute.",
        Severity.CRITICAL,
    ),
    mandatory_stack(
        "edge-routes-attach-to-stack-gateway",
        "Every route attaches to a Gateway this stack declares.",
        validate_routes_attach_to_stack_gateway,
        "Set spec.parentRefs to the stack's Gateway (infra/edge.py), with its namespace.",
        Severity.HIGH,
    ),
]

POLICIES = [
    mandatory(
        "edge-https-on-443",
        "Every Gateway listener on port 443 is HTTPS, terminating TLS with a certificate.",
        validate_https_on_443,
        "Set protocol HTTPS and tls.certificateRefs to the Secret cert-manager issues (infra/edge.py).",
        Severity.CRITICAL,
    ),
]
