"""The README tells people what the pipelines assume: the tier the job timeouts fit."""

from __future__ import annotations

from tests.pipelines.yaml_templates import REPO, load_pipeline

README = (REPO / "README.md").read_text()


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
