"""A pipeline agent's step, stood in for: the pipeline scripts run under bash exactly as AzureCLI@2 runs them,
with a stand-in `pulumi` and a stand-in `az` on PATH (there is no Pulumi CLI, Azure CLI or Azure here).

Both stand-ins append one JSON line per call to one log, in call order: which tool, its arguments and the part
of the environment that selects credentials and state (ARM_*, AZURE_*, PULUMI_*, and what AzureCLI@2's
addSpnToEnvironment would add). So a test sees the environment every Pulumi process of a step was given.
What the stand-ins answer is set with FAKE_* variables (below). Nothing here proves how the real CLIs behave
with that environment: that rests on their source, cited in pipelines/scripts/lib.sh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.azure_ids import AKS_SERVER_APP_ID
from tests.pipelines.yaml_templates import PIPELINES_DIR

SCRIPTS = PIPELINES_DIR / "scripts"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
SUBSCRIPTION = "11111111-2222-4333-8444-555555555555"
AZBLOB_BACKEND = "azblob://pulumi?storage_account=aiappstate"
CLOUD_BACKEND = "https://api.pulumi.com"
FAKE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.stand-in.token"  # what the stand-in az hands out

# What the self-managed backend prints when `pulumi up` meets a lock left behind (pulumi/pulumi,
# pkg/backend/diy/lock.go: checkForLock, with the CLI's "error: " prefix); the lock file is
# <backend>/.pulumi/locks/<stack's fully qualified name>/<lock id>.json.
DIY_LOCK_ERROR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or "
    "delete the lock file with `pulumi cancel`.\n"
    "  azblob://pulumi/.pulumi/locks/organization/aiapp/dev/5d3e0b6c-1f7a-4a8e-9c1e-2b7f6f0e9a11.json"
    "?storage_account=aiappstate: created by vsts@fv-az123-456 (pid 4242) at 2025-06-01T03:00:12Z\n"
)
CLOUD_LOCK_ERROR = "error: [409] Conflict: Another update is currently in progress.\n"

DEV_REGISTRY = "aiappdev.azurecr.io"


def promotion_object(
    digest: str = "a",
    *,
    model_version: str = "1",
    model_sha256: str = "0" * 64,
    commit: str = COMMIT,
    registry: str = DEV_REGISTRY,
) -> dict[str, str]:
    """A promotion object (pipelines/promotion.py), the image's digest made of `digest` repeated."""
    return {
        "image": f"{registry}/aiapp@sha256:{digest * 64}",
        "modelName": "digits",
        "modelVersion": model_version,
        "modelSha256": model_sha256,
        "commit": commit,
        "appVersion": "dev",  # the app's APP_VERSION when unset, as the real app in the tests runs
    }


def stack_outputs(
    promotion: dict[str, str], app_url: str = "https://aiapp-dev.westeurope.cloudapp.azure.com", **more: Any
) -> dict[str, Any]:
    """A runtime stack's `pulumi stack output --json` when it serves `promotion` (the program's contract:
    its outputs come from the object; the registry it pulls from is the image's)."""
    return {
        "app_url": app_url,
        "acme_server": "production",
        "acr_login_server": promotion["image"].split("/", 1)[0],
        "image": promotion["image"],
        "model_name": promotion["modelName"],
        "model_version": promotion["modelVersion"],
        "model_sha256": promotion["modelSha256"],
        "app_commit": promotion["commit"],
        "app_version": promotion["appVersion"],
        "prometheus_query_endpoint": "https://aiapp-dev-amw.westeurope.prometheus.monitor.azure.com",
        "promotion": promotion,
        "release_watch": {"minutes": 3, "latencyP99Ms": 500, "maxErrorRatio": 0.01},
    } | more


_LOGGED_ENV = ("ARM_", "AZURE_", "PULUMI_", "idToken", "servicePrincipal", "tenantId")

# FAKE_PULUMI_OUTPUTS (file: the stack's outputs, which `stack output --json` prints), FAKE_PULUMI_EXIT
# (preview's exit status), FAKE_PULUMI_REFRESH (file: `refresh --preview-only --json`). `up`: FAKE_PULUMI_UPS
# (file: a JSON list, one result per `up`, in order: {"outputs": {...}} succeeds and makes those the stack's
# outputs, {"error": "..."} fails with that on stderr, exit 255); without it, FAKE_PULUMI_UP_ERROR (what a
# failing `up` prints; unset: up succeeds and the outputs stay). `login` and `config rm` only succeed.
_FAKE_PULUMI = """
if tool_args[0] == "stack":
    print(open(os.environ["FAKE_PULUMI_OUTPUTS"]).read())
elif tool_args[0] == "preview":
    print("Previewing update (dev):")
    print("    ~ kubernetes:apps/v1:Deployment app update [diff: ~spec]")
    sys.exit(int(os.environ.get("FAKE_PULUMI_EXIT", "0")))
elif tool_args[0] == "refresh":
    refresh = os.environ.get("FAKE_PULUMI_REFRESH")
    print(open(refresh).read() if refresh else '{"steps": [], "changeSummary": {"same": 12}}')
elif tool_args[0] == "up" and os.environ.get("FAKE_PULUMI_UPS"):
    queue = os.environ["FAKE_PULUMI_UPS"]
    results = json.load(open(queue))
    if not results:
        sys.exit("stand-in pulumi: no result queued for this `up`")
    json.dump(results[1:], open(queue, "w"))
    print("Updating (dev):")
    if "error" in results[0]:
        sys.stderr.write(results[0]["error"])
        sys.exit(255)
    with open(os.environ["FAKE_PULUMI_OUTPUTS"], "w") as outputs:
        json.dump(results[0]["outputs"], outputs)
    print("Update succeeded")
elif tool_args[0] == "up":
    if os.environ.get("FAKE_PULUMI_UP_ERROR"):
        print("Updating (dev):")
        sys.stderr.write(os.environ["FAKE_PULUMI_UP_ERROR"])
        sys.exit(255)
    print("Updating (dev): done")
"""

# FAKE_AZ_FAIL: a word; a call whose arguments contain it fails, as `az` does without a valid login.
# `account get-access-token ... --query accessToken -o tsv` prints FAKE_AZ_TOKEN, the step's login's token.
_FAKE_AZ = """
fail = os.environ.get("FAKE_AZ_FAIL")
if fail and fail in tool_args:
    sys.stderr.write("ERROR: AADSTS700024: Client assertion is not within its valid time range.\\n")
    sys.exit(1)
if tool_args[:2] == ["account", "get-access-token"] and "accessToken" in tool_args:
    print(os.environ["FAKE_AZ_TOKEN"])
"""

_PRELUDE = """#!{python}
import json, os, sys
tool_args = sys.argv[1:]
with open(os.environ["FAKE_TOOL_LOG"], "a") as log:
    env = {{k: v for k, v in os.environ.items() if k.startswith({prefixes!r})}}
    log.write(json.dumps({{"tool": {tool!r}, "args": tool_args, "env": env}}) + "\\n")
"""


def _write_tool(bin_dir: Path, name: str, body: str) -> None:
    tool = bin_dir / name
    tool.write_text(_PRELUDE.format(python=sys.executable, prefixes=_LOGGED_ENV, tool=name) + body)
    tool.chmod(0o755)


@dataclass
class Agent:
    """An agent's environment inside AzureCLI@2 (its `az` logged in), with the stand-in CLIs on PATH."""

    tmp: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every call of the stand-ins, in order: {"tool", "args", "env"}."""
        path = Path(self.env["FAKE_TOOL_LOG"])
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def pulumi(self, command: str | None = None) -> list[dict[str, Any]]:
        return [
            call
            for call in self.calls
            if call["tool"] == "pulumi" and (command is None or call["args"][0] == command)
        ]

    def az(self) -> list[list[str]]:
        return [call["args"] for call in self.calls if call["tool"] == "az"]

    def without_az(self) -> None:
        (self.tmp / "bin" / "az").unlink()

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SCRIPTS / script), *args],
            cwd=PIPELINES_DIR.parent,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, script: str, *args: str) -> subprocess.Popen[str]:
        """The script running in the background (its output: communicate())."""
        return subprocess.Popen(
            ["bash", str(SCRIPTS / script), *args],
            cwd=PIPELINES_DIR.parent,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def make_agent(tmp_path: Path) -> Agent:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _write_tool(bin_dir, "pulumi", _FAKE_PULUMI)
    _write_tool(bin_dir, "az", _FAKE_AZ)
    python = bin_dir / "python"  # the agent's `python` (UsePythonVersion): this interpreter
    python.symlink_to(sys.executable)
    outputs = tmp_path / "stack-outputs.json"
    outputs.write_text(json.dumps(stack_outputs(promotion_object())))
    env = {
        # only the agent's own PATH entries and the stand-ins: nothing of this machine's environment leaks in
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_TOOL_LOG": str(tmp_path / "tools.log"),
        "FAKE_PULUMI_OUTPUTS": str(outputs),
        "FAKE_AZ_TOKEN": FAKE_TOKEN,
        # what AzureCLI@2 sets for every script (Tasks/AzureCLIV2/azureclitask.ts: loginAzureRM)
        "AZURE_CONFIG_DIR": str(tmp_path / ".azclitask-x1y2z3"),
        "AZURESUBSCRIPTION_CLIENT_ID": "c1c1c1c1-1111-4222-8333-444444444444",
        "AZURESUBSCRIPTION_TENANT_ID": "72f988bf-0000-4000-8000-00000000a11e",
        # the variable group and the pipeline
        "AZURE_TENANT_ID": "72f988bf-0000-4000-8000-00000000a11e",
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
        "AKS_SERVER_APP_ID": AKS_SERVER_APP_ID,
        "PULUMI_BACKEND_URL": AZBLOB_BACKEND,
        "PULUMI_STACK_DEV": "dev",
        "PULUMI_STACK_PROD": "contoso/aiapp/prod",
        "MODEL_VERSION_CONFIG_KEY": "aiapp:modelVersion",
        "PROMOTED_IMAGE_CONFIG_KEY": "aiapp:promotedImage",
        "MODEL_VERSION": "1",
        "BUILD_BUILDNUMBER": "20250101.1",
        "BUILD_SOURCEVERSION": COMMIT,
        # an unset secret variable mapped with env: reaches the script as its literal macro
        "PULUMI_ACCESS_TOKEN": "$(PULUMI_ACCESS_TOKEN)",
    }
    if "LANG" in os.environ:
        env["LANG"] = os.environ["LANG"]
    return Agent(tmp_path, env)
