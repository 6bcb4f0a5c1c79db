"""The policy pack as the engine runs it: policy/__main__.py started the way `pulumi preview --policy-pack
policy` starts it, and spoken to over the analyzer's gRPC protocol."""

from __future__ import annotations

from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.rules import ALL_POLICIES, azure, kubernetes

from .engine import PackServer, urn
from .resources import APP_SERVICE, COMPLIANT, DEPLOYMENT, METRICS_SERVICE, STORAGE_ACCOUNT, changed


def test_the_pack_serves_every_policy_as_mandatory(pack: PackServer) -> None:
    info = pack.info()
    assert info.name == "aiapp-guardrails"
    served = {p.name: analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel) for p in info.policies}
    assert served == {policy.name: "MANDATORY" for policy in ALL_POLICIES}


def test_a_violation_blocks_with_the_policy_description_and_message(pack: PackServer) -> None:
    props = changed(STORAGE_ACCOUNT, "allowSharedKeyAccess", True)
    [diagnostic] = pack.analyze(azure.STORAGE_ACCOUNT, props, name="models")
    assert diagnostic.policy == "storage-shared-key-access-disabled"
    assert diagnostic.enforcement == "MANDATORY"
    assert diagnostic.urn == urn(azure.STORAGE_ACCOUNT, "models")
    assert diagnostic.message == (
        "Storage accounts refuse account-key (shared key) authorization; identities use Entra ID and RBAC.\n"
        "Storage account 'models': allowSharedKeyAccess must be false, found true."
    )


def test_compliant_resources_get_no_diagnostic(pack: PackServer) -> None:
    for index, (resource_type, props) in enumerate(COMPLIANT):
        assert pack.analyze(resource_type, props, name=f"r{index}") == [], resource_type


def test_an_image_unknown_at_preview_is_reported_not_passed(pack: PackServer) -> None:
    """What the engine shows while a preview cannot know the image digest yet: an advisory that the policy
    could not run; `pulumi up` then runs it on the known value."""
    props = changed(DEPLOYMENT, "spec.template.spec.containers.0.image", UNKNOWN_STRING_VALUE)
    [diagnostic] = pack.analyze(kubernetes.DEPLOYMENT, props, name="app")
    assert diagnostic.policy == "k8s-image-by-digest"
    assert diagnostic.enforcement == "ADVISORY"
    assert diagnostic.message == (
        "can't run policy 'k8s-image-by-digest' from policy pack 'aiapp-guardrails@v0.0.1' during preview: "
        "string value at .spec.template.spec.containers.0.image can't be known during preview"
    )


def test_the_stack_policy_blocks_a_second_public_service_whatever_its_label(pack: PackServer) -> None:
    """What the engine asks once every resource is known (AnalyzeStack): the label that lets each Service
    pass alone does not let two of them be public."""
    one = [(kubernetes.SERVICE, APP_SERVICE, "app"), (kubernetes.SERVICE, METRICS_SERVICE, "metrics")]
    assert pack.analyze_stack(one) == []
    second = changed(APP_SERVICE, "spec.type", "NodePort")
    assert pack.analyze(kubernetes.SERVICE, second, name="debug") == []  # each alone passes
    diagnostics = pack.analyze_stack([*one, (kubernetes.SERVICE, second, "debug")])
    assert {d.urn for d in diagnostics} == {urn(kubernetes.SERVICE, "app"), urn(kubernetes.SERVICE, "debug")}
    for diagnostic in diagnostics:
        assert (diagnostic.policy, diagnostic.enforcement) == ("k8s-one-exposed-service", "MANDATORY")
    assert diagnostics[1].message == (
        "At most one Service in the stack has type LoadBalancer or NodePort: the app's.\n"
        "Service 'debug' (NodePort) is one of 2 Services exposed outside the cluster ('app' (LoadBalancer), "
        "'debug' (NodePort)); at most one may be, the app's."
    )
