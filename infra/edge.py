"""HTTPS at the edge: Envoy Gateway and cert-manager from their Helm charts, a Gateway with an HTTPS listener
for the app's host, the app's route, the port-80 redirect, and a Let's Encrypt certificate `pulumi up` waits
for. The Azure side of a custom domain (DNS-01 identity, CNAME) is infra/edge_dns.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.helm.v3 import Release, RepositoryOptsArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from infra.config.edge import EdgeSettings
from infra.config.runtime import StackSettings
from infra.edge_dns import CustomDomain, CustomDomainArgs

ENVOY_NAMESPACE = "envoy-gateway-system"  # the chart's default; the proxy's Deployment and Service live here
CERT_MANAGER_NAMESPACE = "cert-manager"
CERT_MANAGER_SERVICE_ACCOUNT = "cert-manager"  # the chart's controller ServiceAccount (DNS-01 federates it)
GATEWAY_CLASS = "aiapp-envoy"
GATEWAY = "aiapp"
TLS_SECRET = "aiapp-tls"
HTTP_LISTENER, HTTPS_LISTENER = "http", "https"
DNS_LABEL_ANNOTATION = "service.beta.kubernetes.io/azure-dns-label-name"
ACME_DIRECTORIES = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
# Envoy Gateway labels each proxy pod with the Gateway it serves (envoyproxy/gateway
# internal/infrastructure/kubernetes/proxy/resource.go, envoyLabels; internal/gatewayapi/helpers.go
# OwningGatewayNameLabel / OwningGatewayNamespaceLabel): the NetworkPolicy admits exactly these pods.
PROXY_POD_LABELS = {
    "app.kubernetes.io/component": "proxy",
    "app.kubernetes.io/managed-by": "envoy-gateway",
    "gateway.envoyproxy.io/owning-gateway-name": GATEWAY,
}
OWNING_NAMESPACE_LABEL = "gateway.envoyproxy.io/owning-gateway-namespace"


def proxy_pod_labels(app_namespace: str) -> dict[str, str]:
    return {**PROXY_POD_LABELS, OWNING_NAMESPACE_LABEL: app_namespace}


@dataclass(frozen=True)
class EdgeArgs:
    provider: k8s.Provider
    stack: StackSettings
    edge: EdgeSettings
    namespace: pulumi.Input[str]  # the app's: the Gateway, its routes, the certificate and its Secret
    service_name: pulumi.Input[str]  # the app's ClusterIP Service ...
    service_port: int  # ... and its one port (never the metrics port)
    dns_label: pulumi.Input[str]  # <label>.<location>.cloudapp.azure.com, set on the proxy's public IP
    subscription_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]  # where a custom domain's DNS-01 identity is created
    oidc_issuer_url: pulumi.Input[str]  # the cluster's, trusted by that identity
    after: Sequence[pulumi.Resource] = ()  # the app's namespace (and Service)


def _custom(
    name: str,
    api_version: str,
    kind: str,
    metadata: ObjectMetaArgs,
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> CustomResource:
    # No typed args exist for these CRDs in pulumi-kubernetes (crd2pulumi would need the Pulumi CLI); the
    # objects are validated against their owners' published schemas in tests/infra/test_edge_schemas.py.
    return CustomResource(name, api_version=api_version, kind=kind, metadata=metadata, spec=spec, opts=opts)


class Edge(pulumi.ComponentResource):
    """The only public way in: HTTPS on 443 with a Let's Encrypt certificate, port 80 redirecting to it."""

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Edge", name, None, opts)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.provider)
        e = args.edge
        default_host = pulumi.Output.concat(args.dns_label, ".", args.stack.location, ".cloudapp.azure.com")
        domain = None
        if e.custom_domain is not None and e.dns_zone_id is not None:
            domain = CustomDomain(
                f"{name}-domain",
                CustomDomainArgs(
                    stack=args.stack,
                    host=e.custom_domain,
                    zone_id=e.dns_zone_id,
                    target=default_host,
                    subscription_id=args.subscription_id,
                    resource_group=args.resource_group,
                    oidc_issuer_url=args.oidc_issuer_url,
                    service_account=f"system:serviceaccount:{CERT_MANAGER_NAMESPACE}:{CERT_MANAGER_SERVICE_ACCOUNT}",
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        host: pulumi.Input[str] = e.custom_domain or default_host

        # The chart installs Envoy Gateway and the Gateway API CRDs of the version it supports (v1.9: Gateway
        # API v1.6.1, experimental channel, a superset of standard: envoyproxy/gateway v1.9.0,
        # charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml); the version pin is the upgrade knob.
        envoy = Release(
            f"{name}-envoy-gateway",
            name="eg",
            chart="oci://docker.io/envoyproxy/gateway-helm",
            version=e.envoy_gateway_version,
            namespace=ENVOY_NAMESPACE,
            create_namespace=True,
            opts=on_cluster,
        )
        wi = "azure.workload.identity/use"
        cert_manager_values: dict[str, Any] = {
            "crds": {"enabled": True},
            # Gateway API support (the gatewayHTTPRoute solver): the ControllerConfiguration's
            # gatewayAPI.enabled, which replaces the deprecated enableGatewayAPI in v1.21
            # (cert-manager/cert-manager v1.21.1, pkg/apis/config/controller/v1alpha1/types.go:
            # GatewayAPIConfig; deploy/charts/cert-manager/values.yaml, `config`).
            "config": {
                "apiVersion": "controller.config.cert-manager.io/v1alpha1",
                "kind": "ControllerConfiguration",
                "gatewayAPI": {"enabled": True},
            },
        }
        if domain is not None:  # DNS-01 through Azure workload identity: the webhook injects the token
            cert_manager_values |= {"podLabels": {wi: "true"}, "serviceAccount": {"labels": {wi: "true"}}}
        cert_manager = Release(
            f"{name}-cert-manager",
            name="cert-manager",
            chart="cert-manager",
            version=e.cert_manager_version,
            repository_opts=RepositoryOptsArgs(repo="https://charts.jetstack.io"),
            namespace=CERT_MANAGER_NAMESPACE,
            create_namespace=True,
            values=cert_manager_values,
            # cert-manager looks for the Gateway API CRDs at start: they must exist first.
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[envoy])),
        )

        after_envoy = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[envoy, *args.after])
        )
        # The proxy's Service takes its annotations from here: the Azure cloud provider then gives the public
        # IP it creates for that LoadBalancer Service the DNS label (envoyproxy/gateway
        # api/v1alpha1/envoyproxy_types.go, KubernetesServiceSpec.Annotations).
        proxy_config = _custom(
            f"{name}-envoyproxy",
            "gateway.envoyproxy.io/v1alpha1",
            "EnvoyProxy",
            ObjectMetaArgs(name=GATEWAY, namespace=ENVOY_NAMESPACE),
            {
                "provider": {
                    "type": "Kubernetes",
                    "kubernetes": {
                        "envoyService": {
                            "type": "LoadBalancer",
                            "annotations": {DNS_LABEL_ANNOTATION: args.dns_label},
                        }
                    },
                }
            },
            after_envoy,
        )
        gateway_class = _custom(
            f"{name}-gatewayclass",
            "gateway.networking.k8s.io/v1",
            "GatewayClass",
            ObjectMetaArgs(name=GATEWAY_CLASS),
            {
                "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": GATEWAY,
                    "namespace": ENVOY_NAMESPACE,
                },
            },
            pulumi.ResourceOptions.merge(after_envoy, pulumi.ResourceOptions(depends_on=[proxy_config])),
        )
        same_namespace = {"namespaces": {"from": "Same"}}
        self.gateway = _custom(
            f"{name}-gateway",
            "gateway.networking.k8s.io/v1",
            "Gateway",
            ObjectMetaArgs(name=GATEWAY, namespace=args.namespace),
            {
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [
                    {
                        "name": HTTP_LISTENER,
                        "port": 80,
                        "protocol": "HTTP",
                        "hostname": host,
                        "allowedRoutes": same_namespace,
                    },
                    {
                        "name": HTTPS_LISTENER,
                        "port": 443,
                        "protocol": "HTTPS",
                        "hostname": host,
                        # TLS versions and ciphers: Envoy Gateway's defaults (TLS 1.2 and 1.3; README).
                        "tls": {
                            "mode": "Terminate",
                            "certificateRefs": [{"kind": "Secret", "group": "", "name": TLS_SECRET}],
                        },
                        "allowedRoutes": same_namespace,
                    },
                ],
            },
            pulumi.ResourceOptions.merge(after_envoy, pulumi.ResourceOptions(depends_on=[gateway_class])),
        )
        after_gateway = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[self.gateway])
        )

        def parent_ref(section: str) -> dict[str, Any]:
            return {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": GATEWAY,
                "namespace": args.namespace,
                "sectionName": section,
            }

        _custom(
            f"{name}-route",
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            ObjectMetaArgs(name=GATEWAY, namespace=args.namespace),
            {
                "parentRefs": [parent_ref(HTTPS_LISTENER)],
                "hostnames": [host],
                # Only the Service's app port: the metrics port is not in the Service, and never routed.
                "rules": [
                    {
                        "backendRefs": [
                            {"kind": "Service", "name": args.service_name, "port": args.service_port}
                        ]
                    }
                ],
            },
            after_gateway,
        )
        # Every plain-HTTP request is redirected to HTTPS, except the ACME challenge: cert-manager's solver
        # adds its own HTTPRoute on this listener matching the exact path /.well-known/acme-challenge/<token>,
        # and an Exact match takes precedence over this route's implicit PathPrefix "/" (Gateway API,
        # apis/v1/httproute_types.go, HTTPRouteRule: "Exact path match" first among the precedence rules).
        _custom(
            f"{name}-redirect",
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            ObjectMetaArgs(name=f"{GATEWAY}-https-redirect", namespace=args.namespace),
            {
                "parentRefs": [parent_ref(HTTP_LISTENER)],
                "hostnames": [host],
                "rules": [
                    {
                        "filters": [
                            {
                                "type": "RequestRedirect",
                                "requestRedirect": {"scheme": "https", "statusCode": 301},
                            }
                        ]
                    }
                ],
            },
            after_gateway,
        )

        if domain is not None:  # DNS-01 on the custom domain's Azure DNS zone, as the federated identity
            solver: dict[str, Any] = {
                "dns01": {
                    "azureDNS": {
                        "subscriptionID": domain.zone_subscription,
                        "resourceGroupName": domain.zone_resource_group,
                        "hostedZoneName": domain.zone_name,
                        "environment": "AzurePublicCloud",
                        "managedIdentity": {"clientID": domain.client_id},
                    }
                }
            }
        else:  # HTTP-01 through the Gateway's port-80 listener
            solver = {"http01": {"gatewayHTTPRoute": {"parentRefs": [parent_ref(HTTP_LISTENER)]}}}
        acme: dict[str, Any] = {
            "server": ACME_DIRECTORIES[e.acme_server],
            "privateKeySecretRef": {"name": f"{args.stack.name('acme')}-{e.acme_server}"},
            "solvers": [solver],
        }
        if e.acme_email:
            acme["email"] = e.acme_email
        # A ClusterIssuer: cert-manager uses ambient (workload identity) credentials only for those.
        issuer_name = f"{args.stack.name('letsencrypt')}-{e.acme_server}"
        issuer = _custom(
            f"{name}-issuer",
            "cert-manager.io/v1",
            "ClusterIssuer",
            ObjectMetaArgs(name=issuer_name),
            {"acme": acme},
            pulumi.ResourceOptions.merge(
                on_cluster,
                pulumi.ResourceOptions(depends_on=[cert_manager, *([domain] if domain else [])]),
            ),
        )
        # `pulumi up` waits until the certificate is issued: pulumi-kubernetes (v4.18+) awaits the condition
        # named in pulumi.com/waitFor, with kubectl-wait syntax (pulumi/pulumi-kubernetes
        # provider/pkg/await/condition/custom.go, NewCustom: "condition=Foo" means status True), for
        # pulumi.com/timeoutSeconds, then fails the update with the object's last-seen conditions
        # (provider/pkg/metadata/annotations.go defines both annotations).
        self.certificate = _custom(
            f"{name}-certificate",
            "cert-manager.io/v1",
            "Certificate",
            ObjectMetaArgs(
                name=GATEWAY,
                namespace=args.namespace,
                annotations={
                    "pulumi.com/waitFor": "condition=Ready",
                    "pulumi.com/timeoutSeconds": str(e.certificate_timeout_seconds),
                },
            ),
            {
                "secretName": TLS_SECRET,
                "dnsNames": [host],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer_name},
                # A new key at each renewal (cert-manager renews 2/3 into the lifetime, by itself).
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
            pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(depends_on=[issuer, self.gateway])
            ),
        )
        self.host: pulumi.Output[str] = pulumi.Output.from_input(host)
        self.url: pulumi.Output[str] = pulumi.Output.concat("https://", host)
        self.acme_server = e.acme_server
        self.register_outputs({"url": self.url})
