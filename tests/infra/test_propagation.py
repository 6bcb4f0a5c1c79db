"""The first `pulumi up` waits for its new roles (issue 11, item 4).

The waiting itself (infra/propagation.py) with an injected clock: bounded, a line when it starts, a progress
line every 30 s, a clear failure. Then the program's wiring under Pulumi's mocks: on a real update the
Kubernetes Provider gets its kubeconfig only once the cluster allows (asked through that very kubeconfig), and
`docker login` runs only once the registry grants push; a preview asks nothing. The questions themselves,
asked for real over HTTP, are in tests/infra/test_cluster_access.py and tests/infra/test_acr_login.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

import pytest

from infra.cluster import Cluster, ClusterArgs
from infra.config.runtime import ClusterSettings, StackSettings
from infra.identity import AzureContext, Principal
from infra.propagation import NotYet, Patience, PropagationTimeout, wait_until
from model.store import FileStore
from tests.harness import SUBSCRIPTION_ID, TENANT_ID, StackRun, last_run, run_component, run_program

K8S_PROVIDER = "pulumi:providers:kubernetes"


@dataclass
class FakeClock:
    """Time that passes only when the code under test sleeps."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    logs: list[tuple[float, str]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def patience(self, **overrides: float) -> Patience:
        return Patience(
            clock=lambda: self.now,
            sleep=self.sleep,
            log=lambda m: self.logs.append((self.now, m)),
            **overrides,
        )


def refusals(count: int, then: object = "granted") -> Iterator[object]:
    yield from (NotYet(f"refusal {n}") for n in range(1, count + 1))
    yield then


def test_an_allowed_first_answer_costs_no_wait_and_no_log() -> None:
    clock = FakeClock()
    assert wait_until("x", lambda: "granted", advice="", patience=clock.patience()) == "granted"
    assert (clock.slept, clock.logs) == ([], [])


def test_refusals_are_waited_out_with_a_line_at_once_and_then_every_30_seconds() -> None:
    clock = FakeClock()
    answers = refusals(10)  # refused for 100 s at one try per 10 s
    assert wait_until("push access", lambda: next(answers), advice="", patience=clock.patience()) == "granted"
    assert clock.slept == [10.0] * 10
    times = [t for t, _ in clock.logs]
    assert times == [0.0, 30.0, 60.0, 90.0, 100.0]
    assert clock.logs[0][1].startswith("waiting for push access: refusal 1 (")
    assert "up to 600 s" in clock.logs[0][1]
    assert clock.logs[1][1] == "still waiting for push access after 30 s: refusal 4"
    assert clock.logs[-1][1] == "push access: allowed after 100 s"


def test_the_wait_is_bounded_and_says_what_was_refused_and_what_to_do() -> None:
    clock = FakeClock()
    with pytest.raises(PropagationTimeout) as raised:
        wait_until("access", lambda: NotYet("HTTP 403"), advice="Grant the role.", patience=clock.patience())
    assert clock.now == 600.0 and sum(clock.slept) == 600.0
    assert str(raised.value) == (
        "access: still refused after 600 s (61 tries, the limit is 600 s); the last answer: HTTP 403. "
        "Grant the role."
    )


def test_an_error_that_waiting_cannot_fix_ends_the_wait_at_once() -> None:
    clock = FakeClock()

    def broken() -> object:
        raise FileNotFoundError("kubelogin")

    with pytest.raises(FileNotFoundError):
        wait_until("access", broken, advice="", patience=clock.patience())
    assert clock.slept == []


# ------------------------------------------------------------------------------- the program, under mocks


def test_a_real_update_asks_the_cluster_through_the_providers_own_kubeconfig(dev_run: StackRun) -> None:
    provider = dev_run.one(K8S_PROVIDER)
    assert dev_run.cluster_reviews == [
        {"kubeconfig": provider.inputs["kubeconfig"], "verb": "create", "resource": "namespaces"},
        # and the managed Prometheus add-on's PodMonitor API, before the app's PodMonitor is created
        {"kubeconfig": provider.inputs["kubeconfig"], "path": "/apis/azmonitoring.coreos.com/v1"},
    ]


def test_a_real_update_logs_docker_in_only_once_the_registry_grants_push(dev_run: StackRun) -> None:
    login_server = dev_run.one("azure-native:containerregistry:Registry").outputs["loginServer"]
    refresh_token = f"mock-acr-refresh-token@{login_server}"
    assert dev_run.registry_checks == [
        {"login_server": login_server, "refresh_token": refresh_token, "repository": "aiapp"}
    ]
    assert [login["password"] for login in dev_run.docker_logins] == [refresh_token]


@pytest.mark.parametrize("existing_stack", [False, True], ids=["new-stack", "existing-stack"])
def test_a_preview_asks_nothing(reference_store: FileStore, existing_stack: bool) -> None:
    run = run_program(preview=True, existing_stack=existing_stack, model_store=reference_store.url)
    assert (run.cluster_reviews, run.registry_checks, run.docker_logins) == ([], [], [])


@dataclass
class SlowCluster:
    """A ClusterOutside whose API server refuses `refusals` times, then allows."""

    refusals: int
    asked: list[str] = field(default_factory=list)

    def review_cluster_access(self, kubeconfig: str, verb: str, resource: str) -> Literal[True] | NotYet:
        self.asked.append(kubeconfig)
        if len(self.asked) <= self.refusals:
            return NotYet("HTTP 403: namespaces is forbidden")
        return True

    def api_served(self, kubeconfig: str, path: str) -> Literal[True] | NotYet:
        return True


def cluster(outside: SlowCluster, patience: Patience) -> Cluster:
    return Cluster(
        "cluster",
        ClusterArgs(
            resource_group="aiapp-dev-rg",
            stack=StackSettings(stack="dev", environment="dev", owner="team"),
            cluster=ClusterSettings(),
            registry_id="/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr",
            azure=AzureContext(SUBSCRIPTION_ID, TENANT_ID, Principal("deployer", "User")),
            logs_workspace_id="/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/"
            "workspaces/logs",
            outside=outside,
            patience=patience,
        ),
    )


QUICK = Patience(timeout_s=5, interval_s=0.01, log=lambda _: None)


def test_the_provider_is_declared_only_once_the_cluster_allows() -> None:
    outside = SlowCluster(refusals=3)
    run = run_component(lambda: cluster(outside, QUICK))
    provider = run.one(K8S_PROVIDER)
    assert len(outside.asked) == 4 and set(outside.asked) == {provider.inputs["kubeconfig"]}


def test_when_the_cluster_never_allows_no_provider_is_declared_and_the_run_says_why() -> None:
    outside = SlowCluster(refusals=10**6)
    with pytest.raises(PropagationTimeout, match=r"still refused .* HTTP 403.*RBAC Cluster Admin"):
        run_component(lambda: cluster(outside, replace(QUICK, timeout_s=0.1)))
    assert last_run().of_type(K8S_PROVIDER) == [] and len(outside.asked) >= 2
