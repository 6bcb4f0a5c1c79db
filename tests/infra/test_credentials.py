"""No credential that can write (push to ACR, administer the cluster) is ever in the Pulumi state, and a
preview mints none: the state is readable and decryptable by the preview identity that pull requests run as.

The harness's stand-ins for Entra and ACR answer with recognisable strings ("mock-entra-token-for:<scope>",
"mock-acr-refresh-token@<server>"); none may appear in any resource input, resource output or stack output.
A preview of an EXISTING stack is the case that matters: there the login server and the cluster's endpoint
are known, so everything that depends on them runs, as in a pull request's `pulumi preview`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import harness
from tests.harness import StackRun

TOKEN_MARKERS = ("mock-entra-token", "mock-acr-refresh-token")


def everything_recorded(run: StackRun) -> str:
    """Every resource input and output and every stack output, as one text to search."""
    recorded: list[Any] = [{"urn": r.urn, "inputs": r.inputs, "outputs": r.outputs} for r in run.resources]
    recorded.append(run.outputs)
    return json.dumps(recorded, default=str)


@pytest.fixture(scope="module", params=["dev", "prod"])
def existing_preview(request: pytest.FixtureRequest, store_url: str) -> StackRun:
    return harness.run_program(stack=request.param, preview=True, existing_stack=True, model_store=store_url)


def test_a_preview_of_an_existing_stack_mints_no_token_and_logs_nothing_in(
    existing_preview: StackRun,
) -> None:
    run = existing_preview
    assert run.preview
    login_server = run.one("azure-native:containerregistry:Registry").outputs["loginServer"]
    image = run.one("docker:index/image:Image")
    # The login server is known here (proved by the image name built from it), so the login step ran its
    # callback, and declined: a preview pushes nothing and its identity may not push.
    assert image.inputs["imageName"].startswith(f"{login_server}/aiapp:")
    assert image.inputs["registry"] == {"server": login_server}
    assert run.token_scopes == []
    assert run.acr_exchanges == []
    assert run.docker_logins == []


def test_a_preview_of_an_existing_stack_gives_the_provider_a_kubeconfig_without_a_credential(
    existing_preview: StackRun,
) -> None:
    run = existing_preview
    provider = run.one("pulumi:providers:kubernetes")
    aks = run.one("azure-native:containerservice:ManagedCluster")
    kubeconfig = provider.inputs["kubeconfig"]  # known: the cluster exists, its fqdn and CA are listed
    assert f"https://{aks.outputs['fqdn']}:443" in kubeconfig
    assert "command: kubelogin" in kubeconfig
    for field in ("token:", "client-key-data", "client-certificate-data", "password:"):
        assert field not in kubeconfig


def test_a_preview_of_an_existing_stack_declares_no_secret_input(existing_preview: StackRun) -> None:
    run = existing_preview
    assert len(run.resources) == 50  # every resource was looked at
    assert {r.name: r.secret_inputs for r in run.resources if r.secret_inputs} == {}
    recorded = everything_recorded(run)
    assert not [marker for marker in TOKEN_MARKERS if marker in recorded]


def test_an_update_logs_docker_in_once_and_stores_the_token_nowhere(stack_run: StackRun) -> None:
    login_server = stack_run.one("azure-native:containerregistry:Registry").outputs["loginServer"]
    token = f"mock-acr-refresh-token@{login_server}"
    # The push credential went to `docker login` (the engine's credential store) and nowhere else.
    assert [login["password"] for login in stack_run.docker_logins] == [token]
    assert stack_run.token_scopes == [harness.ARM_TOKEN.removeprefix("mock-entra-token-for:")]
    recorded = everything_recorded(stack_run)
    assert not [marker for marker in TOKEN_MARKERS if marker in recorded]
    # No resource input is a secret: none holds a credential (the only secret output, kubeconfig, is AKS's
    # user kubeconfig: an endpoint, a CA and a kubelogin command).
    assert {r.name: r.secret_inputs for r in stack_run.resources if r.secret_inputs} == {}
    assert stack_run.secret_outputs == frozenset({"kubeconfig"})


def test_a_preview_of_a_new_stack_mints_nothing_either(store_url: str) -> None:
    run = harness.run_program(stack="dev", preview=True, model_store=store_url)
    assert run.one("docker:index/image:Image")  # the image was declared (its name is unknown here)
    assert (run.token_scopes, run.acr_exchanges, run.docker_logins) == ([], [], [])
