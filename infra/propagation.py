"""Waiting, on a real update, until a role assigned moments ago reaches the data plane that checks it.

A stack's first `pulumi up` assigns the deployer AKS RBAC Cluster Admin and AcrPush, then uses them at once.
Azure RBAC is eventually consistent: a new assignment takes minutes to take effect in a data plane
(Microsoft's "Troubleshoot Azure RBAC" page; the issue quotes up to five minutes). Nothing downstream waits:
pulumi-kubernetes retries a failed create only on NotFound and NoMatch (pulumi/pulumi-kubernetes,
provider/pkg/await/await.go, Creation: `retrier.Do(apierrors.IsNotFound, meta.IsNoMatchError)`, with
provider/pkg/retry/retry.go's five retries), so a 403 fails the Namespace at once; pulumi-docker pushes once.
So the program asks the data plane itself, in a loop, and lets the resources through only once it says yes:
bounded (10 minutes), with a progress line every 30 seconds. Never in a preview: a preview uses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pulumi

T = TypeVar("T")


@dataclass(frozen=True)
class NotYet:
    """A refusal that a propagating role assignment can turn into a yes: the service's words, for the log."""

    reason: str


class PropagationTimeout(RuntimeError):
    """The data plane still refused when the wait's time was up."""


def _info(message: str) -> None:
    # Without a resource, pulumi.log.info is one synchronous call to the engine: safe from a worker thread.
    pulumi.log.info(message)


@dataclass(frozen=True)
class Patience:
    """How long and how often to ask. clock, sleep and log are the real ones unless a test passes its own."""

    timeout_s: float = 600.0
    interval_s: float = 10.0
    progress_every_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: Callable[[str], None] = _info


def wait_until(what: str, attempt: Callable[[], T | NotYet], *, advice: str, patience: Patience) -> T:
    """Call `attempt` until it returns something other than NotYet, and return that. Logs the first refusal
    at once (why the update pauses) and then one line per `progress_every_s`; raises PropagationTimeout
    with the last refusal and `advice` after `timeout_s`. Other exceptions from `attempt` (a missing tool, a
    malformed answer) end the wait at once: no amount of waiting fixes them."""
    p = patience
    start = p.clock()
    tries, last_log = 0, None
    while True:
        tries += 1
        answer = attempt()
        elapsed = p.clock() - start
        if not isinstance(answer, NotYet):
            if tries > 1:
                p.log(f"{what}: allowed after {elapsed:.0f} s")
            return answer
        if elapsed >= p.timeout_s:
            raise PropagationTimeout(
                f"{what}: still refused after {elapsed:.0f} s ({tries} tries, the limit is "
                f"{p.timeout_s:.0f} s); the last answer: {answer.reason}. {advice}"
            )
        if last_log is None:
            p.log(
                f"waiting for {what}: {answer.reason} (a role assigned moments ago takes minutes to apply; "
                f"asking every {p.interval_s:.0f} s for up to {p.timeout_s:.0f} s)"
            )
            last_log = elapsed
        elif elapsed - last_log >= p.progress_every_s:
            p.log(f"still waiting for {what} after {elapsed:.0f} s: {answer.reason}")
            last_log = elapsed
        p.sleep(max(0.0, min(p.interval_s, p.timeout_s - elapsed)))
