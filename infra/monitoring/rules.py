"""The alert rules as code: monitoring/alerts.yml, the one Prometheus rules file that promtool checks and
tests, read and turned into Azure Monitor Prometheus rule groups (azure-native `alertsmanagement`).

Per stack the program changes three values and nothing else, each where the file was written with it
(FILE_PARAMETERS): the namespace, in every `namespace="..."` matcher; the p99 latency threshold and the
replica minimum, the numbers the two alerts of THRESHOLDS end with. A file that no longer has them as
written is refused, so a stack's setting is never silently ignored.

The Azure shape, from Azure/azure-rest-api-specs specification/alertsmanagement/resource-manager/
Microsoft.AlertsManagement/stable/2023-03-01/PrometheusRuleGroups.json (the API version pulumi-azure-native
3.x uses for PrometheusRuleGroup): `for`, `interval` and `timeToResolve` are ISO 8601 durations, the group's
interval 1 to 15 minutes, one workspace in `scopes`, `severity` an integer (0 to 4 there; one revision of the
spec says 1 to 4, so we use 1 and 3, as Azure/prometheus-collector's AddonBicepTemplate/
AzureMonitorAlertsProfile.bicep does for its warnings), `actions` a list of {actionGroupId}.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import alertsmanagement

from infra.monitoring.promql import replace_threshold, top_level_comparison

RULES_FILE = Path(__file__).resolve().parents[2] / "monitoring" / "alerts.yml"
# Azure severities: 0 critical, 1 error, 2 warning, 3 informational, 4 verbose.
AZURE_SEVERITY = {"critical": 1, "warning": 3}
# Fired alerts resolve by themselves once the condition has been false this long.
TIME_TO_RESOLVE = "PT10M"
_GROUP_KEYS = {"name", "interval", "rules"}
_RULE_KEYS = {"alert", "expr", "for", "labels", "annotations"}
_DURATION = re.compile(r"^((?P<h>\d+)h)?((?P<m>\d+)m)?((?P<s>\d+)s)?$")


@dataclass(frozen=True)
class Parameters:
    """The values a stack's rules differ in."""

    namespace: str
    min_ready_replicas: int
    latency_p99_seconds: float


# The values monitoring/alerts.yml is written with (and promtool tests).
FILE_PARAMETERS = Parameters(namespace="aiapp", min_ready_replicas=2, latency_p99_seconds=0.5)
THRESHOLDS: Mapping[str, Callable[[Parameters], float]] = {
    "AppLatencyP99High": lambda p: p.latency_p99_seconds,
    "AppReadyReplicasBelowMinimum": lambda p: p.min_ready_replicas,
}


@dataclass(frozen=True)
class Rule:
    alert: str
    expr: str
    for_: str | None  # a Prometheus duration, e.g. "5m"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    name: str
    interval: str
    rules: tuple[Rule, ...]


class RulesFileError(ValueError):
    """monitoring/alerts.yml has something the translation to Azure cannot carry."""


def _strings(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RulesFileError(f"{where}: must map names to strings")
    return {str(k): v for k, v in value.items()}


@functools.cache  # read once per program run: the alerts and the release watch both use it
def load(path: Path = RULES_FILE) -> tuple[Group, ...]:
    """The groups of a rules file, refusing what Azure's rule groups have no place for (recording rules,
    keep_firing_for, limit, query_offset) rather than dropping it."""
    document = yaml.safe_load(path.read_text())
    groups = []
    for group in document["groups"]:
        if set(group) - _GROUP_KEYS:
            raise RulesFileError(
                f"group {group.get('name')}: unsupported keys {sorted(set(group) - _GROUP_KEYS)}"
            )
        rules = []
        for rule in group["rules"]:
            where = f"{path.name}: {rule.get('alert') or rule}"
            if "alert" not in rule or set(rule) - _RULE_KEYS:
                raise RulesFileError(f"{where}: only alerting rules with {sorted(_RULE_KEYS)} are translated")
            rules.append(
                Rule(
                    alert=rule["alert"],
                    expr=rule["expr"].strip(),
                    for_=rule.get("for"),
                    labels=_strings(rule.get("labels", {}), where),
                    annotations=_strings(rule.get("annotations", {}), where),
                )
            )
        groups.append(Group(name=group["name"], interval=group.get("interval", "1m"), rules=tuple(rules)))
    return tuple(groups)


def _number(value: float) -> str:
    return f"{value:g}"


def specialise(groups: tuple[Group, ...], parameters: Parameters) -> tuple[Group, ...]:
    """The groups with this stack's namespace and thresholds in place of the file's."""
    matcher = f'namespace="{FILE_PARAMETERS.namespace}"'
    found = set()

    def one(rule: Rule) -> Rule:
        if matcher not in rule.expr:
            raise RulesFileError(f"{rule.alert}: no {matcher} matcher: its series would be every namespace's")
        expr = rule.expr.replace(matcher, f'namespace="{parameters.namespace}"')
        if rule.alert in THRESHOLDS:
            found.add(rule.alert)
            comparison = top_level_comparison(expr)
            written = _number(THRESHOLDS[rule.alert](FILE_PARAMETERS))
            if comparison is None or float(comparison.threshold) != float(written):
                raise RulesFileError(
                    f"{rule.alert}: must end with a comparison against {written}, as written"
                )
            expr = replace_threshold(expr, _number(THRESHOLDS[rule.alert](parameters)))
        return replace(rule, expr=expr)

    specialised = tuple(replace(g, rules=tuple(one(r) for r in g.rules)) for g in groups)
    if found != set(THRESHOLDS):
        raise RulesFileError(f"alerts missing from the rules file: {sorted(set(THRESHOLDS) - found)}")
    return specialised


def iso_duration(duration: str) -> str:
    """A Prometheus duration (1h30m, 5m, 30s) as ISO 8601 (PT1H30M, PT5M, PT30S)."""
    match = _DURATION.match(duration)
    if not duration or match is None:
        raise RulesFileError(f"{duration!r}: only hours, minutes and seconds are translated")
    return "PT" + "".join(f"{match[unit]}{unit.upper()}" for unit in "hms" if match[unit])


def rule_args(rule: Rule, action_group_id: pulumi.Input[str]) -> alertsmanagement.PrometheusRuleArgs:
    severity = rule.labels.get("severity")
    if severity not in AZURE_SEVERITY:
        raise RulesFileError(f"{rule.alert}: label severity must be one of {sorted(AZURE_SEVERITY)}")
    return alertsmanagement.PrometheusRuleArgs(
        alert=rule.alert,
        expression=rule.expr,
        for_=iso_duration(rule.for_) if rule.for_ else None,
        severity=AZURE_SEVERITY[severity],
        labels=dict(rule.labels),
        annotations=dict(rule.annotations),
        enabled=True,
        actions=[alertsmanagement.PrometheusRuleGroupActionArgs(action_group_id=action_group_id)],
        resolve_configuration=alertsmanagement.PrometheusRuleResolveConfigurationArgs(
            auto_resolved=True, time_to_resolve=TIME_TO_RESOLVE
        ),
    )
