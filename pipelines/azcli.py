"""Access tokens from the step's `az` login, for the release's own calls: the app's API (a scope, with sign-in
on) and the Azure Monitor workspace's Prometheus query API (the resource https://prometheus.monitor.azure.com,
the audience its documentation asks for: MicrosoftDocs/azure-monitor-docs,
articles/azure-monitor/essentials/prometheus-api-promql.md, "Request a token"). In the release, `az` is the
deploy connection's identity, logged in by AzureCLI@2 and kept logged in (templates/azure.yml); a token asked
for first lasts about an hour, longer than a job. A token is never printed.

Standard library only: the smoke test runs without the project's dependencies.
"""

from __future__ import annotations

import subprocess

PROMETHEUS_RESOURCE = "https://prometheus.monitor.azure.com"


class TokenError(Exception):
    """`az` gave no token; the message says which command, its error, and nothing of a token."""


def access_token(*, scope: str | None = None, resource: str | None = None) -> str:
    """A bearer token for `scope` (v2: api://<app>/.default) or `resource` (v1), whichever is given."""
    if (scope is None) == (resource is None):
        raise ValueError("pass exactly one of scope and resource")
    target = ["--scope", scope] if scope is not None else ["--resource", resource]
    command = ["az", "account", "get-access-token", *target, "--query", "accessToken", "-o", "tsv"]
    shown = " ".join(command)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TokenError(f"cannot run `{shown}`: {exc}") from None
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        why = (done.stderr.strip().splitlines() or ["no token printed"])[-1]
        raise TokenError(f"`{shown}` failed (exit {done.returncode}): {why}")
    return token
