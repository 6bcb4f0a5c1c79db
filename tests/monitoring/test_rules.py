"""The alert rules, proven with Debian's promtool (the `prometheus` package, `make tools`): every rule passes
`promtool check rules`, and `promtool test rules` shows each alert firing on series that should fire it and
quiet on series that should not (monitoring/alerts.test.yml). Then the translation to Azure's rule groups
(infra/monitoring/rules.py), which the Pulumi program applies (tests/infra/test_monitoring.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.monitoring import promql
from infra.monitoring.rules import (
    FILE_PARAMETERS,
    RULES_FILE,
    Parameters,
    RulesFileError,
    iso_duration,
    load,
    specialise,
)
from tests.conftest import require_tool

TESTS_FILE = RULES_FILE.parent / "alerts.test.yml"


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def alert_names() -> list[str]:
    return [rule.alert for group in load() for rule in group.rules]


def test_every_rule_passes_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_promtool_test_rules_passes() -> None:
    result = promtool("test", "rules", TESTS_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_each_alert_has_a_case_that_fires_it_and_one_that_stays_quiet() -> None:
    cases: dict[str, set[str]] = {name: set() for name in alert_names()}
    for test in yaml.safe_load(TESTS_FILE.read_text())["tests"]:
        for check in test.get("alert_rule_test", []):
            cases[check["alertname"]].add("fires" if check.get("exp_alerts") else "quiet")
    assert cases == {name: {"fires", "quiet"} for name in alert_names()}


def test_the_required_alerts_are_there() -> None:
    assert sorted(alert_names()) == [
        "AppContainerRestarting",  # containers restarting
        "AppErrorRatioHigh",  # 5xx ratio over 1 % for 5 minutes
        "AppLatencyP99High",  # p99 latency over the configured threshold
        "AppNoPredictions",  # no predictions for 15 minutes while requests arrive
        "AppReadyReplicasBelowMinimum",  # fewer ready replicas than the minimum
    ]
    rules = {rule.alert: rule for group in load() for rule in group.rules}
    assert promql.top_level_comparison(rules["AppErrorRatioHigh"].expr).threshold == "0.01"
    assert rules["AppErrorRatioHigh"].for_ == "5m" and rules["AppNoPredictions"].for_ == "15m"


@pytest.mark.parametrize(
    ("alert", "broken"),
    [
        ("AppErrorRatioHigh", "vector(0) > 1"),  # never fires: its firing case must fail
        ("AppContainerRestarting", "vector(1) > 0"),  # always fires: its quiet case must fail
    ],
)
def test_promtool_test_rules_fails_when_an_alert_is_wrong(alert: str, broken: str, tmp_path: Path) -> None:
    """The control: the same tests against a rules file with one alert broken fail, naming it."""
    document = yaml.safe_load(RULES_FILE.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == alert:
                rule["expr"] = broken
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document))
    shutil.copy(TESTS_FILE, tmp_path / "alerts.test.yml")
    result = promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr


# ----------------------------------------------------------------------------------------- the translation


def test_the_files_own_values_translate_to_the_file_unchanged() -> None:
    groups = load()
    assert specialise(groups, FILE_PARAMETERS) == groups


def test_a_stacks_values_change_the_namespace_and_the_two_thresholds_only() -> None:
    groups = load()
    changed = specialise(groups, Parameters(namespace="ml", min_ready_replicas=3, latency_p99_seconds=0.25))
    for before, after in zip(
        [r for g in groups for r in g.rules], [r for g in changed for r in g.rules], strict=True
    ):
        expected = before.expr.replace('namespace="aiapp"', 'namespace="ml"')
        if before.alert == "AppReadyReplicasBelowMinimum":
            expected = expected[: -len("2")] + "3"
        if before.alert == "AppLatencyP99High":
            expected = expected[: -len("0.5")] + "0.25"
        assert after.expr == expected
        assert (after.alert, after.for_, after.labels, after.annotations) == (
            before.alert,
            before.for_,
            before.labels,
            before.annotations,
        )


def test_a_rules_file_without_a_threshold_as_written_is_refused(tmp_path: Path) -> None:
    text = RULES_FILE.read_text().replace('deployment="aiapp"} < 2', 'deployment="aiapp"} < 4')
    (tmp_path / "alerts.yml").write_text(text)
    with pytest.raises(
        RulesFileError, match="AppReadyReplicasBelowMinimum: must end with a comparison against 2"
    ):
        specialise(load(tmp_path / "alerts.yml"), FILE_PARAMETERS)


def test_what_azure_cannot_carry_is_refused(tmp_path: Path) -> None:
    document = yaml.safe_load(RULES_FILE.read_text())
    document["groups"][0]["rules"][0]["keep_firing_for"] = "5m"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document))
    with pytest.raises(RulesFileError, match="only alerting rules"):
        load(tmp_path / "alerts.yml")


@pytest.mark.parametrize(
    ("prometheus", "iso"), [("1m", "PT1M"), ("15m", "PT15M"), ("1h30m", "PT1H30M"), ("90s", "PT90S")]
)
def test_durations_are_iso_8601(prometheus: str, iso: str) -> None:
    assert iso_duration(prometheus) == iso


def test_a_duration_in_days_is_refused() -> None:
    with pytest.raises(RulesFileError):
        iso_duration("1d")


def test_measures_are_what_an_alert_compares() -> None:
    assert promql.measures('sum(rate(a{x="(b"}[5m])) / sum(rate(a[5m])) > 0.01') == [
        'sum(rate(a{x="(b"}[5m])) / sum(rate(a[5m]))'
    ]
    assert promql.measures("(sum(rate(a[5m])) > 0) unless on(pod) (sum(rate(b[5m])) > 0)") == [
        "sum(rate(a[5m]))",
        "sum(rate(b[5m]))",
    ]
    assert promql.measures('x{route=~"/a|/b and c"} >= bool 3') == ['x{route=~"/a|/b and c"}']
    assert promql.top_level_comparison('histogram_quantile(0.99, rate(h{le!="0.5"}[5m]))') is None
    assert promql.replace_threshold("a < 2", "3") == "a < 3"
    with pytest.raises(ValueError):
        promql.replace_threshold("(a > 0) unless (b > 0)", "1")
