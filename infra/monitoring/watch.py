"""What the release's SLO watch judges an update by (the `release_watch` output): how long it watches
(aiapp:watchMinutes), the p99 latency it allows (aiapp:alertLatencyP99Ms, the AppLatencyP99High alert's
threshold too) and the 5xx ratio it allows (the AppErrorRatioHigh alert's threshold, read from
monitoring/alerts.yml). Each threshold has one home, shared with the alerts: the watch keeps no release that
the alerts would page about."""

from __future__ import annotations

from infra.config.monitoring import MonitoringSettings
from infra.monitoring.promql import top_level_comparison
from infra.monitoring.rules import Group, RulesFileError, load

ERROR_RATIO_ALERT = "AppErrorRatioHigh"


def max_error_ratio(groups: tuple[Group, ...]) -> float:
    """The ratio the error alert fires above (its expression ends `> <ratio>`): the most a watch passes."""
    rules = [r for g in groups for r in g.rules if r.alert == ERROR_RATIO_ALERT]
    comparison = top_level_comparison(rules[0].expr) if len(rules) == 1 else None
    if comparison is None or comparison.operator != ">":
        raise RulesFileError(f"{ERROR_RATIO_ALERT}: must be one alert ending with `> <ratio>`")
    return float(comparison.threshold)


def release_watch(monitoring: MonitoringSettings) -> dict[str, int | float]:
    return {
        "minutes": monitoring.watch_minutes,
        "latencyP99Ms": monitoring.latency_p99_ms,
        "maxErrorRatio": max_error_ratio(load()),
    }
