"""The harness reaches into the Pulumi SDK's private API (tests/harness/sdk.py): it was written for one SDK
version, and is re-checked by a person whenever that version changes."""

from __future__ import annotations

import re
from importlib.metadata import version

from tests.harness import sdk
from tests.harness.run import REPO_ROOT


def pinned(package: str) -> str:
    """The version requirements.txt pins `package` to."""
    found = re.search(rf"^{re.escape(package)}==(\S+)", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert found, f"requirements.txt does not pin {package}"
    return found.group(1)


def test_the_installed_pulumi_sdk_is_the_one_the_private_seams_were_written_for() -> None:
    installed = version("pulumi")
    assert installed == sdk.WRITTEN_FOR == pinned("pulumi"), (
        f"tests/harness/sdk.py relies on private parts of the Pulumi SDK ({', '.join(sdk.SEAMS)}), checked "
        f"against pulumi {sdk.WRITTEN_FOR}; installed: {installed}, requirements.txt: {pinned('pulumi')}. "
        "Re-check each seam against the new SDK's source (does it still exist and mean the same?), then set "
        "sdk.WRITTEN_FOR to the pinned version."
    )


def test_every_private_seam_still_exists() -> None:
    assert sdk.missing_seams() == []
