"""Kubernetes (pulumi-kubernetes): hardened containers, pinned images, and one public door (the app's port).

How the rules recognise things, on purpose simple and explicit:
- the app's Service is the one labelled `app.kubernetes.io/component: web` (APP_COMPONENT_LABEL/VALUE);
- the metrics port is a Service port named `metrics`, or whose port or targetPort is 9090 or `metrics`
  (the app serves its API on 8080 and Prometheus metrics on 9090, scraped only from inside the cluster);
- "exposed outside the cluster" means a Service of type LoadBalancer or NodePort; a label alone proves
  nothing (any Service can carry it), so a stack policy also allows at most one such Service in the stack.

The container rules apply to every pod-bearing kind (a Job or a bare Pod must not be a way around them);
the probe rule applies to the long-running kinds only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from .common import as_map, get_path, iter_named, mandatory, mandatory_stack, show

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
REPLICA_SET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
SERVICE = "kubernetes:core/v1:Service"

# Where each kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    DEPLOYMENT: ("spec", "template", "spec"),
    STATEFUL_SET: ("spec", "template", "spec"),
    DAEMON_SET: ("spec", "template", "spec"),
    REPLICA_SET: ("spec", "template", "spec"),
    JOB: ("spec", "template", "spec"),
    CRON_JOB: ("spec", "jobTemplate", "spec", "template", "spec"),
    POD: ("spec",),
}
LONG_RUNNING = frozenset({DEPLOYMENT, STATEFUL_SET, DAEMON_SET, REPLICA_SET})

APP_COMPONENT_LABEL = "app.kubernetes.io/component"
APP_COMPONENT_VALUE = "web"
METRICS_PORT_NAME = "metrics"
METRICS_PORT_NUMBER = 9090
EXPOSED_SERVICE_TYPES = ("LoadBalancer", "NodePort")

DIGEST_PINNED_IMAGE = re.compile(r"@sha256:[0-9a-f]{64}$")
REQUIRED_RESOURCES = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _containers(
    args: ResourceValidationArgs, include_init: bool
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(label for messages, container, pod spec) for each container of a pod-bearing resource."""
    path = POD_SPEC_PATHS.get(args.resource_type)
    if path is None:
        return
    pod_spec = as_map(get_path(args.props, *path))
    kinds = ("containers", "initContainers") if include_init else ("containers",)
    for field in kinds:
        noun = "container" if field == "containers" else "init container"
        for name, container in iter_named(pod_spec.get(field)):
            label = f"{_kind(args.resource_type)} '{args.name}' {noun} '{name}'"
            yield label, container, pod_spec


def validate_run_as_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for label, container, pod_spec in _containers(args, include_init=True):
        # A container setting overrides the pod's, as in Kubernetes itself.
        non_root = get_path(container, "securityContext", "runAsNonRoot")
        if non_root is None:
            non_root = get_path(pod_spec, "securityContext", "runAsNonRoot")
        user = get_path(container, "securityContext", "runAsUser")
        if user is None:
            user = get_path(pod_spec, "securityContext", "runAsUser")
        if non_root is not True:
            report_violation(
                f"{label}: runAsNonRoot must be true (on the container or the pod), found {show(non_root)}.",
                None,
            )
        if isinstance(user, int | float) and not isinstance(user, bool) and user == 0:
            report_violation(f"{label}: runAsUser must not be 0 (root).", None)


def validate_read_only_root_filesystem(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    for label, container, _ in _containers(args, include_init=True):
        found = get_path(container, "securityContext", "readOnlyRootFilesystem")
        if found is not True:
            report_violation(
                f"{label}: securityContext.readOnlyRootFilesystem must be true, found {show(found)}.", None
            )


def validate_no_privilege_escalation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for label, container, _ in _containers(args, include_init=True):
        # Unset means allowed: Kubernetes defaults allowPrivilegeEscalation to true.
        found = get_path(container, "securityContext", "allowPrivilegeEscalation")
        if found is not False:
            report_violation(
                f"{label}: securityContext.allowPrivilegeEscalation must be false, found {show(found)}.", None
            )
        if get_path(container, "securityContext", "privileged") is True:
            report_violation(f"{label}: securityContext.privileged must not be true.", None)


def validate_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for label, container, _ in _containers(args, include_init=True):
        missing = [
            f"{group}.{resource}"
            for group, resource in REQUIRED_RESOURCES
            if get_path(container, "resources", group, resource) in (None, "")
        ]
        if missing:
            report_violation(f"{label}: resources must set {', '.join(missing)}.", None)


def validate_probes(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in LONG_RUNNING:
        return
    for label, container, _ in _containers(args, include_init=False):
        missing = [probe for probe in ("readinessProbe", "livenessProbe") if not as_map(container.get(probe))]
        if missing:
            report_violation(f"{label}: must define {' and '.join(missing)}.", None)


def validate_image_by_digest(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for label, container, _ in _containers(args, include_init=True):
        image = container.get("image")
        if not isinstance(image, str) or not DIGEST_PINNED_IMAGE.search(image):
            report_violation(
                f"{label}: image must be pinned by digest (<repository>@sha256:<64 hex>), "
                f"found {show(image)}.",
                None,
            )


def _service_type(props: Mapping[str, Any]) -> str:
    return get_path(props, "spec", "type") or "ClusterIP"


def validate_exposed_service_is_app(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != SERVICE:
        return
    service_type = _service_type(args.props)
    if service_type not in EXPOSED_SERVICE_TYPES:
        return
    component = get_path(args.props, "metadata", "labels", APP_COMPONENT_LABEL)
    if component != APP_COMPONENT_VALUE:
        report_violation(
            f"Service '{args.name}': type {service_type} is reserved for the app's Service (label "
            f"{APP_COMPONENT_LABEL}: {APP_COMPONENT_VALUE}), found {APP_COMPONENT_LABEL} {show(component)}.",
            None,
        )


def _is_metrics_port(port: Mapping[str, Any]) -> bool:
    return (
        port.get("name") == METRICS_PORT_NAME
        or port.get("port") == METRICS_PORT_NUMBER
        or port.get("targetPort") in (METRICS_PORT_NUMBER, METRICS_PORT_NAME)
    )


def validate_metrics_port_not_exposed(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != SERVICE:
        return
    service_type = _service_type(args.props)
    if service_type not in EXPOSED_SERVICE_TYPES:
        return
    for name, port in iter_named(get_path(args.props, "spec", "ports")):
        if _is_metrics_port(port):
            report_violation(
                f"Service '{args.name}' ({service_type}) exposes the metrics port (port '{name}': port "
                f"{show(port.get('port'))}, targetPort {show(port.get('targetPort'))}); metrics stay inside "
                "the cluster.",
                None,
            )


def validate_one_exposed_service(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    exposed = [
        (resource, _service_type(resource.props))
        for resource in args.resources
        if resource.resource_type == SERVICE and _service_type(resource.props) in EXPOSED_SERVICE_TYPES
    ]
    if len(exposed) <= 1:
        return
    everyone = ", ".join(f"'{resource.name}' ({service_type})" for resource, service_type in exposed)
    for resource, service_type in exposed:
        report_violation(
            f"Service '{resource.name}' ({service_type}) is one of {len(exposed)} Services exposed outside "
            f"the cluster ({everyone}); at most one may be, the app's.",
            resource.urn,
        )


STACK_POLICIES = [
    mandatory_stack(
        "k8s-one-exposed-service",
        "At most one Service in the stack has type LoadBalancer or NodePort: the app's.",
        validate_one_exposed_service,
        "Keep one public Service (the app's); make every other Service ClusterIP, whatever its labels.",
        Severity.CRITICAL,
    ),
]

POLICIES = [
    mandatory(
        "k8s-run-as-non-root",
        "Workload containers run as a non-root user.",
        validate_run_as_non_root,
        "Set security_context.run_as_non_root=True (pod or container) and a non-zero numeric run_as_user.",
        Severity.CRITICAL,
    ),
    mandatory(
        "k8s-read-only-root-filesystem",
        "Workload containers have a read-only root filesystem.",
        validate_read_only_root_filesystem,
        "Set security_context.read_only_root_filesystem=True; mount an emptyDir where the app writes (/tmp).",
    ),
    mandatory(
        "k8s-no-privilege-escalation",
        "Workload containers cannot escalate privileges.",
        validate_no_privilege_escalation,
        "Set security_context.allow_privilege_escalation=False and never privileged=True.",
        Severity.CRITICAL,
    ),
    mandatory(
        "k8s-resources-requests-limits",
        "Workload containers set CPU and memory requests and limits.",
        validate_resources,
        "Set resources.requests and resources.limits, each with cpu and memory.",
        Severity.MEDIUM,
    ),
    mandatory(
        "k8s-readiness-liveness-probes",
        "Long-running workload containers define readiness and liveness probes.",
        validate_probes,
        "Add a readiness probe (/readyz) and a liveness probe (/healthz) to every container.",
        Severity.MEDIUM,
    ),
    mandatory(
        "k8s-image-by-digest",
        "Workload containers reference their image by digest, never by a moving tag.",
        validate_image_by_digest,
        "Deploy the image's repo_digest (<repository>@sha256:<digest>) instead of <repository>:<tag>.",
    ),
    mandatory(
        "k8s-only-app-service-exposed",
        "Only the app's Service (label app.kubernetes.io/component: web) has type LoadBalancer or NodePort.",
        validate_exposed_service_is_app,
        "Use ClusterIP for every other Service; label the app's Service app.kubernetes.io/component: web.",
        Severity.CRITICAL,
    ),
    mandatory(
        "k8s-metrics-port-not-exposed",
        "No LoadBalancer or NodePort Service exposes the metrics port (name metrics, or 9090).",
        validate_metrics_port_not_exposed,
        "Expose only the app port (8080) on the public Service; Prometheus scrapes 9090 inside the cluster.",
        Severity.CRITICAL,
    ),
]
