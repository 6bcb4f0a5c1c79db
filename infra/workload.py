"""The app on Kubernetes: Namespace, ServiceAccount, Deployment, Service (ClusterIP, behind the edge), HPA,
PDB, NetworkPolicy, and the PodMonitor through which AKS's managed Prometheus scrapes its metrics port."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import (
    Deployment,
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
)
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpecArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    HTTPGetActionArgs,
    Namespace,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
    Service,
    ServiceAccount,
    ServicePortArgs,
    ServiceSpecArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicy,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget, PodDisruptionBudgetSpecArgs

from infra.config.runtime import StackSettings, WorkloadSettings
from infra.edge import ENVOY_NAMESPACE, proxy_pod_labels
from infra.monitoring.scrape import (
    AGENT_NAMESPACE,
    AGENT_POD_LABELS,
    POD_MONITOR_API_VERSION,
    pod_monitor_spec,
)
from infra.signin import SignIn, app_env, key_egress

APP = "aiapp"
APP_PORT = 8080  # the app's HTTP port (env PORT); the only port the Service exposes
METRICS_PORT = 9090  # Prometheus metrics (env METRICS_PORT); reachable in-cluster only
SERVICE_PORT = 80
RUN_AS_UID = 10001  # the image's non-root user


@dataclass(frozen=True)
class WorkloadArgs:
    provider: k8s.Provider
    stack: StackSettings  # its name tells two stacks' objects apart
    workload: WorkloadSettings
    image: pulumi.Input[str]  # repository@sha256:digest
    model_name: pulumi.Input[str]
    model_version: pulumi.Input[str]
    # Must exist before pods start: the kubelet's AcrPull (else the first pulls fail).
    start_after: Sequence[pulumi.Resource] = ()
    # Sign-in (AUTH_*, and egress to Entra ID for its keys); None: the app answers anyone.
    sign_in: SignIn | None = None


class Workload(pulumi.ComponentResource):
    """The serving Deployment behind a ClusterIP Service: only the edge (infra/edge.py) reaches it."""

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Workload", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        w = args.workload
        # The selector is immutable on a Deployment: stable identity labels only, never the model version.
        selector = {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": args.stack.stack}
        labels = {**selector, "app.kubernetes.io/part-of": APP, "app.kubernetes.io/managed-by": "pulumi"}

        namespace = Namespace(
            f"{name}-namespace",
            metadata=ObjectMetaArgs(
                name=w.namespace,
                labels={
                    **labels,
                    # The API server refuses any pod here that breaks the "restricted" Pod Security Standard.
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
            opts=on_cluster,
        )
        ns = namespace.metadata.name
        in_namespace = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[namespace])

        service_account = ServiceAccount(
            f"{name}-serviceaccount",
            metadata=ObjectMetaArgs(name=APP, namespace=ns, labels=labels),
            automount_service_account_token=False,  # the app never talks to the Kubernetes API
            opts=in_namespace,
        )

        pod_labels = pulumi.Output.all(args.model_name, args.model_version).apply(
            lambda m: {**labels, "aiapp/model-name": m[0], "aiapp/model-version": m[1]}
        )
        probe_timing = {"timeout_seconds": 2}
        container = ContainerArgs(
            name="app",
            image=args.image,
            image_pull_policy="IfNotPresent",  # an image by digest never changes
            ports=[
                ContainerPortArgs(name="http", container_port=APP_PORT, protocol="TCP"),
                ContainerPortArgs(name="metrics", container_port=METRICS_PORT, protocol="TCP"),
            ],
            env=[
                EnvVarArgs(name="PORT", value=str(APP_PORT)),
                EnvVarArgs(name="METRICS_PORT", value=str(METRICS_PORT)),
                *(app_env(args.sign_in) if args.sign_in else []),
            ],
            resources=ResourceRequirementsArgs(
                requests={"cpu": w.cpu_request, "memory": w.memory_request},
                limits={"cpu": w.cpu_limit, "memory": w.memory_limit},
            ),
            # Loading and verifying the model takes seconds: up to a minute before liveness counts.
            startup_probe=ProbeArgs(
                http_get=HTTPGetActionArgs(path="/healthz", port="http"),
                period_seconds=2,
                failure_threshold=30,
                **probe_timing,
            ),
            readiness_probe=ProbeArgs(
                http_get=HTTPGetActionArgs(path="/readyz", port="http"),
                period_seconds=5,
                failure_threshold=3,
                **probe_timing,
            ),
            liveness_probe=ProbeArgs(
                http_get=HTTPGetActionArgs(path="/healthz", port="http"),
                period_seconds=10,
                failure_threshold=3,
                **probe_timing,
            ),
            security_context=SecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS_UID,
                run_as_group=RUN_AS_UID,
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
            ),
            volume_mounts=[VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )
        spread = [
            TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key=key,
                # ScheduleAnyway: a one-node dev pool must still run every replica.
                when_unsatisfiable="ScheduleAnyway",
                label_selector=LabelSelectorArgs(match_labels=selector),
            )
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ]
        self.deployment = Deployment(
            f"{name}-deployment",
            metadata=ObjectMetaArgs(name=APP, namespace=ns, labels=pod_labels),
            spec=DeploymentSpecArgs(
                replicas=w.replicas,
                selector=LabelSelectorArgs(match_labels=selector),
                strategy=DeploymentStrategyArgs(
                    type="RollingUpdate",
                    # A new pod must be ready before an old one goes: no capacity dip during a rollout.
                    rolling_update=RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                revision_history_limit=5,
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=pod_labels),
                    spec=PodSpecArgs(
                        service_account_name=service_account.metadata.name,
                        automount_service_account_token=False,
                        security_context=PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=RUN_AS_UID,
                            run_as_group=RUN_AS_UID,
                            fs_group=RUN_AS_UID,
                            seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[container],
                        volumes=[
                            VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi"))
                        ],
                        topology_spread_constraints=spread,
                        termination_grace_period_seconds=30,
                    ),
                ),
            ),
            # The HPA owns the replica count once running: `pulumi up` must not reset it to the minimum.
            opts=pulumi.ResourceOptions.merge(
                in_namespace,
                pulumi.ResourceOptions(depends_on=list(args.start_after), ignore_changes=["spec.replicas"]),
            ),
        )

        self.service = Service(
            f"{name}-service",
            metadata=ObjectMetaArgs(
                name=APP,
                namespace=ns,
                labels={**labels, "app.kubernetes.io/component": "web"},
            ),
            spec=ServiceSpecArgs(
                type="ClusterIP",  # nothing of the app is public except through the edge's Gateway
                selector=selector,
                # Only the app's port: the metrics port stays inside the cluster.
                ports=[ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http", protocol="TCP")],
            ),
            opts=in_namespace,
        )

        HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=ObjectMetaArgs(name=APP, namespace=ns, labels=labels),
            spec=HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name
                ),
                min_replicas=w.replicas,
                max_replicas=w.max_replicas,
                metrics=[
                    MetricSpecArgs(
                        type="Resource",
                        resource=ResourceMetricSourceArgs(
                            name="cpu",
                            target=MetricTargetArgs(
                                type="Utilization", average_utilization=w.cpu_target_percent
                            ),
                        ),
                    )
                ],
            ),
            opts=in_namespace,
        )

        PodDisruptionBudget(
            f"{name}-pdb",
            metadata=ObjectMetaArgs(name=APP, namespace=ns, labels=labels),
            # One pod at a time during node drains; with one dev replica a drain still proceeds.
            spec=PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=LabelSelectorArgs(match_labels=selector)
            ),
            opts=in_namespace,
        )

        NetworkPolicy(
            f"{name}-networkpolicy",
            metadata=ObjectMetaArgs(name=APP, namespace=ns, labels=labels),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    # The app port only from this stack's Envoy proxy pods (the edge's Gateway).
                    NetworkPolicyIngressRuleArgs(
                        from_=[
                            NetworkPolicyPeerArgs(
                                namespace_selector=LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": ENVOY_NAMESPACE}
                                ),
                                pod_selector=LabelSelectorArgs(match_labels=ns.apply(proxy_pod_labels)),
                            )
                        ],
                        ports=[NetworkPolicyPortArgs(port=APP_PORT, protocol="TCP")],
                    ),
                    # Metrics only from the managed Prometheus agent's collectors (infra/monitoring/
                    # scrape.py): its pods in kube-system, both selectors in one peer (namespace AND pod).
                    NetworkPolicyIngressRuleArgs(
                        from_=[
                            NetworkPolicyPeerArgs(
                                namespace_selector=LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": AGENT_NAMESPACE}
                                ),
                                pod_selector=LabelSelectorArgs(match_labels=AGENT_POD_LABELS),
                            )
                        ],
                        ports=[NetworkPolicyPortArgs(port=METRICS_PORT, protocol="TCP")],
                    ),
                ],
                # The model is baked in: the app needs no outbound traffic beyond cluster DNS, and with
                # sign-in, HTTPS to Entra ID for its keys (infra/signin.py says why by address, not name).
                egress=[
                    *([key_egress()] if args.sign_in else []),
                    NetworkPolicyEgressRuleArgs(
                        to=[
                            NetworkPolicyPeerArgs(
                                namespace_selector=LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=[
                            NetworkPolicyPortArgs(port=53, protocol="UDP"),
                            NetworkPolicyPortArgs(port=53, protocol="TCP"),
                        ],
                    ),
                ],
            ),
            opts=in_namespace,
        )

        k8s.apiextensions.CustomResource(
            f"{name}-podmonitor",
            api_version=POD_MONITOR_API_VERSION,
            kind="PodMonitor",
            metadata=ObjectMetaArgs(name=APP, namespace=ns, labels=labels),
            spec=pod_monitor_spec(selector, port_name="metrics"),
            opts=in_namespace,
        )

        self.namespace: pulumi.Output[str] = ns
        self.namespace_resource = namespace
        self.service_port = SERVICE_PORT
        self.register_outputs({"service": self.service.metadata.name})
