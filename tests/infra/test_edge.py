"""The edge as declared (under Pulumi's mocks): the charts pinned, the proxy's DNS label, HTTPS on 443 with
the certificate's Secret, the redirect on 80 that leaves the ACME path to the solver, the issuer (staging
in dev, HTTP-01 through the Gateway; DNS-01 as a federated identity for a custom domain), and the await."""

from __future__ import annotations

import re

import pytest

from model.store import FileStore
from tests.harness import StackRun, run_program

GW = "kubernetes:gateway.networking.k8s.io/v1"
ZONE_ID = (
    "/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/dns/providers/"
    "Microsoft.Network/dnsZones/example.com"
)


def test_the_charts_are_pinned_and_cert_manager_has_gateway_api_support(stack_run: StackRun) -> None:
    releases = {r.inputs["chart"]: r.inputs for r in stack_run.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases["oci://docker.io/envoyproxy/gateway-helm"]["version"] == "v1.9.3"
    cert_manager = releases["cert-manager"]
    assert cert_manager["version"] == "v1.21.1"
    assert cert_manager["repositoryOpts"] == {"repo": "https://charts.jetstack.io"}
    assert cert_manager["values"]["config"]["gatewayAPI"] == {"enabled": True}
    assert cert_manager["values"]["crds"] == {"enabled": True}


def test_the_proxy_service_carries_the_dns_label_and_app_url_is_https(stack_run: StackRun) -> None:
    proxy = stack_run.one("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy").inputs
    service = proxy["spec"]["provider"]["kubernetes"]["envoyService"]
    label = service["annotations"]["service.beta.kubernetes.io/azure-dns-label-name"]
    assert service["type"] == "LoadBalancer" and proxy["metadata"]["namespace"] == "envoy-gateway-system"
    host = f"{label}.westeurope.cloudapp.azure.com"
    assert stack_run.outputs["app_url"] == f"https://{host}"
    gateway_class = stack_run.one(f"{GW}:GatewayClass").inputs["spec"]
    assert gateway_class["parametersRef"]["kind"] == "EnvoyProxy"


def test_443_is_https_with_the_certificates_secret_and_80_redirects(stack_run: StackRun) -> None:
    gateway = stack_run.one(f"{GW}:Gateway").inputs
    http, https = gateway["spec"]["listeners"]
    assert (http["port"], http["protocol"], https["port"], https["protocol"]) == (80, "HTTP", 443, "HTTPS")
    certificate = stack_run.one("kubernetes:cert-manager.io/v1:Certificate").inputs
    assert https["tls"]["certificateRefs"] == [
        {"kind": "Secret", "group": "", "name": certificate["spec"]["secretName"]}
    ]
    routes = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in stack_run.of_type(f"{GW}:HTTPRoute")}
    app, redirect = routes["aiapp"], routes["aiapp-https-redirect"]
    assert [p["sectionName"] for p in app["parentRefs"]] == ["https"]
    assert app["rules"] == [{"backendRefs": [{"kind": "Service", "name": "aiapp", "port": 80}]}]  # never 9090
    assert [p["sectionName"] for p in redirect["parentRefs"]] == ["http"]
    # No path match: an implicit PathPrefix "/", which the solver's Exact ACME path outranks.
    assert redirect["rules"] == [
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
    ]


def test_the_certificate_is_awaited_and_issued_by_lets_encrypt(stack_run: StackRun) -> None:
    certificate = stack_run.one("kubernetes:cert-manager.io/v1:Certificate").inputs
    assert certificate["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "600",
    }
    issuer = stack_run.one("kubernetes:cert-manager.io/v1:ClusterIssuer").inputs
    assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    directory = "acme-staging-v02" if stack_run.stack == "dev" else "acme-v02"
    assert issuer["spec"]["acme"]["server"] == f"https://{directory}.api.letsencrypt.org/directory"
    (solver,) = issuer["spec"]["acme"]["solvers"]
    assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"][0]["sectionName"] == "http"


@pytest.fixture(scope="module")
def custom_domain_run(reference_store: FileStore) -> StackRun:
    config = {"aiapp:customDomain": "app.example.com", "aiapp:dnsZoneId": ZONE_ID}
    return run_program(config, stack="prod", model_store=reference_store.url)


def test_a_custom_domain_uses_dns01_as_a_federated_identity_with_zone_rights(
    custom_domain_run: StackRun,
) -> None:
    run = custom_domain_run
    assert run.outputs["app_url"] == "https://app.example.com"
    record = run.one("azure-native:dns:RecordSet").inputs
    assert (record["recordType"], record["relativeRecordSetName"], record["zoneName"]) == (
        "CNAME",
        "app",
        "example.com",
    )
    assert re.fullmatch(
        r"aiapp-prod-[0-9a-f]{6}\.westeurope\.cloudapp\.azure\.com", record["cnameRecord"]["cname"]
    )
    federation = run.one("azure-native:managedidentity:FederatedIdentityCredential").inputs
    assert federation["subject"] == "system:serviceaccount:cert-manager:cert-manager"
    (zone_role,) = [
        a for a in run.of_type("azure-native:authorization:RoleAssignment") if a.inputs["scope"] == ZONE_ID
    ]
    assert zone_role.inputs["roleDefinitionId"].endswith("befefa01-2a29-4197-83a8-272ff33ce314")
    identity = run.one("azure-native:managedidentity:UserAssignedIdentity")
    assert zone_role.inputs["principalId"] == identity.outputs["principalId"]
    (solver,) = run.one("kubernetes:cert-manager.io/v1:ClusterIssuer").inputs["spec"]["acme"]["solvers"]
    azure_dns = solver["dns01"]["azureDNS"]
    assert (azure_dns["hostedZoneName"], azure_dns["resourceGroupName"]) == ("example.com", "dns")
    assert azure_dns["managedIdentity"] == {"clientID": identity.outputs["clientId"]}
    values = next(
        r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "cert-manager"
    ).inputs["values"]
    assert values["podLabels"] == {"azure.workload.identity/use": "true"}
