"""The README tells people what the pipelines do for themselves: the same shell variables, the same tier."""

from __future__ import annotations

import re

from tests.pipelines.yaml_templates import PIPELINES_DIR, REPO, load_pipeline

README = (REPO / "README.md").read_text()


def test_a_persons_shell_gets_the_state_variables_the_pipeline_scripts_set() -> None:
    lib = (PIPELINES_DIR / "scripts" / "lib.sh").read_text()
    exported = dict(
        re.findall(
            r"^\s*export (PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER|AZURE_KEYVAULT_AUTH_VIA_CLI)=(\S+)",
            lib,
            re.M,
        )
    )
    assert set(exported) == {"PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER", "AZURE_KEYVAULT_AUTH_VIA_CLI"}
    for name, value in exported.items():
        assert re.search(rf"^\s+export {name}={value}\b", README, re.M), (
            f"the README does not tell a shell {name}"
        )


def test_the_readme_names_the_tier_the_job_timeouts_assume() -> None:
    longest = max(
        int(job["timeoutInMinutes"])
        for name in ("ci.yml", "release.yml")
        for stage in load_pipeline(name).stages()
        for job in stage["jobs"]
    )
    assert longest <= 60
    said = " ".join(README.split())
    assert "assume Microsoft-hosted agents on the free grant" in said
    assert f"`timeoutInMinutes` of {longest} or less" in said
