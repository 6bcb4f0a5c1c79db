"""The release's rollback: a step of a stack's deployment job failed. Put back what the stack served before
this release's update, check it, tell the release webhook, and fail the run with one message.

Run by scripts/rollback.sh, the job's last step (templates/deploy.yml: `condition: failed()`; a step that runs
out of time fails too: microsoft/azure-pipelines-agent, src/Agent.Worker/StepsRunner.cs, RunStepAsync), in the
work dir the earlier steps wrote (scripts/deploy.sh, smoke.sh, watch.sh):

    stack, before.json, previous.json   what the stack served before the update (none: its first release)
    update-started, up.log, outputs.json, deploy.passed
    smoke.verdict, smoke.passed, watch.verdict, watch.passed

What failed is the first of those steps that did not pass; a step stopped by its time limit wrote no verdict.
Before update-started nothing changed, and nothing is rolled back. After it, the stack is given back its
previous object with no build (`pulumi config rm aiapp:modelVersion`, which the failed update may have
written into the stack's file, then `pulumi up --config aiapp:promotedImage=<previous>`), and the smoke test
checks it serves exactly that. Not when there is no previous object (the stack's first release), nor when the
previous image is in another registry than the one the stack pulls from now (its acr_login_server after the
update: prod switched to the shared registry, say, and its own registry is gone): then it says so.

Then a POST to the release webhook (RELEASE_WEBHOOK_URL: the cicd stack's aiapp:alertWebhookUrl, a secret
variable of the deploy group; unset, a warning) of {"text": <the message>, ...}, the shape chat webhooks take,
and one error line: what failed, what was restored, what to look at. The URL is never printed. Exit status 1
always: the release failed.

    python -m pipelines.rollback dev <work dir> [--cannot-restore <why>]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from pipelines.promotion import Promotion, PromotionError
from pipelines.stack_lock import CLOUD_LOCKED, DIY_LOCKED

SMOKE_TEST = Path(__file__).resolve().parent / "smoke_test.py"
HAND_ROLLBACK = 'README, "Azure DevOps: CI on every change, release every night" > "Rolling back by hand"'


@dataclass(frozen=True)
class Failure:
    what: str  # which step failed, and how
    look_at: str
    changed: bool  # whether the stack may have changed (its update began)


@dataclass(frozen=True)
class Outcome:
    text: str
    restored: Promotion | None = None  # redeployed
    verified: bool = False  # and its smoke test passed


def _last_line(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None


def _read(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _last_error(log: str) -> str | None:
    errors = [line.strip() for line in log.splitlines() if line.strip().startswith("error:")]
    return errors[-1][:400] if errors else None


def what_failed(work: Path, stack: str, environment: str) -> Failure:
    """The first step of the job that did not pass, from the files the steps leave."""
    if not (work / "update-started").exists():
        return Failure(
            f"the job stopped before the update of stack {stack} began",
            "the failed step's log above",
            changed=False,
        )
    if not (work / "deploy.passed").exists():
        log = _read(work / "up.log")
        error = _last_error(log)
        if DIY_LOCKED in log or CLOUD_LOCKED in log:  # the update never began: another one holds the stack
            return Failure(
                f"pulumi up of {stack} could not begin: the stack is locked",
                "the lock's holder and the commands that clear it, above (scripts/deploy.sh, stack_lock.py)",
                changed=False,
            )
        ran = (
            "did not finish"
            if not (work / "outputs.json").exists()
            else "finished, but deploy.sh stopped after it"
        )
        return Failure(
            f"pulumi up of {stack} {ran}" + (f": {error}" if error else ""),
            "the pulumi up log above: the resource that failed (a Deployment that never became ready: its "
            "pods' events and logs, `kubectl -n <namespace> describe deployment`)",
            changed=True,
        )
    # The checks after the update, in the job's order: each leaves <step>.passed, or its verdict's last line.
    checks = (
        (
            "smoke",
            "the smoke test",
            "the smoke test's output above: what /readyz, /version or /v1/predict answered",
        ),
        (
            "watch",
            "the SLO watch",
            "the watch's figures above, and the failed build's logs (ContainerLogV2) and the dashboard for "
            "its commit",
        ),
    )
    for step, name, look_at in checks:
        if not (work / f"{step}.passed").exists():
            verdict = _last_line(work / f"{step}.verdict") or "it did not finish within its time"
            return Failure(f"{name} of {stack} failed: {verdict}", look_at, changed=True)
    return Failure(
        f"a step of {environment}'s job failed after the watch passed",
        "the failed step's log above",
        changed=True,
    )


# -------------------------------------------------------------------------------------------- the restore


def _run(command: list[str], log: Path | None = None) -> int:
    """Run a command, its output shown as it comes (and kept in `log`); its exit status."""
    shown: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            shown.append(line)
    if log is not None:
        log.write_text("".join(shown), encoding="utf-8")
    return process.returncode


def _outputs(stack: str) -> dict[str, Any] | None:
    done = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return None
    try:
        outputs = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None
    return outputs if isinstance(outputs, dict) else None


def restore(stack: str, work: Path, previous: Promotion | None) -> Outcome:
    """Give the stack back `previous` and smoke-test it; what came of it."""
    if previous is None:
        return Outcome(
            f"nothing was restored: this was stack {stack}'s first release (before it, the stack served no "
            "promotion object), so there is nothing to roll back to"
        )
    now = _outputs(stack)
    if now is None:
        return Outcome(f"nothing was restored: stack {stack}'s outputs cannot be read (pulumi stack output)")
    pulls_from = now.get("acr_login_server")
    if pulls_from != previous.login_server:
        return Outcome(
            f"nothing was restored: there is no rollback target, as the previous image {previous.image} is "
            f"in registry {previous.login_server} and stack {stack} now pulls from {pulls_from} (its own "
            "registry was replaced, e.g. by the shared one)"
        )
    print(f"rolling stack {stack} back to {previous.describe()}", flush=True)
    model_key, promoted_key = os.environ["MODEL_VERSION_CONFIG_KEY"], os.environ["PROMOTED_IMAGE_CONFIG_KEY"]
    status = _run(["pulumi", "config", "rm", model_key, "--stack", stack])
    if status != 0:
        return Outcome(f"nothing was restored: `pulumi config rm {model_key}` failed (exit {status})")
    message = f"rollback of release {os.environ.get('BUILD_BUILDNUMBER', '?')}: back to {previous.image}"
    up = ["pulumi", "up", "--refresh", "--non-interactive", "--yes", "--diff", "--color", "never"]
    up += ["--policy-pack", "policy", "--stack", stack]
    up += ["--config", f"{promoted_key}={previous.to_json()}", "--message", message]
    status = _run(up, work / "rollback-up.log")
    if status != 0:
        error = _last_error(_read(work / "rollback-up.log"))
        return Outcome(
            f"nothing was restored: the rollback's pulumi up failed (exit {status})"
            + (f": {error}" if error else "")
        )
    rolled = _outputs(stack)
    if rolled is None:
        return Outcome(f"{previous.describe()} was redeployed, but stack {stack}'s outputs cannot be read")
    (work / "rolled-back.json").write_text(json.dumps(rolled), encoding="utf-8")
    (work / "restored.json").write_text(previous.to_json(), encoding="utf-8")
    smoke = [sys.executable, str(SMOKE_TEST), "--outputs", str(work / "rolled-back.json")]
    smoke += ["--expect-promotion", str(work / "restored.json"), "--require-commit", "--stack", stack]
    smoke += [
        "--timeout",
        os.environ.get("SMOKE_TIMEOUT", "120"),
        "--verdict-file",
        str(work / "rollback.verdict"),
    ]
    status = _run(smoke)
    if status != 0:
        verdict = _last_line(work / "rollback.verdict") or f"exit {status}"
        return Outcome(
            f"{previous.describe()} was redeployed, but its smoke test failed: {verdict}", previous
        )
    return Outcome(f"restored {previous.describe()}, and its smoke test passed", previous, verified=True)


# ------------------------------------------------------------------------------------------ the report


def message(environment: str, stack: str, failure: Failure, outcome: Outcome) -> str:
    build = os.environ.get("BUILD_BUILDNUMBER")
    release = f"release {build}" if build else "the release"
    parts = [
        f"{release} failed on stack {stack}: {failure.what}.",
        f"{outcome.text[0].upper()}{outcome.text[1:]}.",
    ]
    if failure.changed and not outcome.verified:
        parts.append(
            f"Stack {stack} may still run the failed release: roll it back by hand ({HAND_ROLLBACK})."
        )
    parts.append(f"Look at: {failure.look_at}.")
    if environment == "dev":
        parts.append("Prod was not touched.")
    return " ".join(parts)


def run_url() -> str | None:
    """This run's page: Azure Pipelines' predefined variables, which reach every script."""
    collection, project = os.environ.get("SYSTEM_COLLECTIONURI"), os.environ.get("SYSTEM_TEAMPROJECT")
    build_id = os.environ.get("BUILD_BUILDID")
    if not (collection and project and build_id):
        return None
    return f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={build_id}"


def post(url: str | None, payload: dict[str, Any]) -> None:
    """Tell the release webhook; a failure to is a warning (the run's own status and service hook remain)."""
    if not url:
        print(
            "##vso[task.logissue type=warning]no release webhook: the cicd stack's aiapp:alertWebhookUrl is "
            "not set, so nobody is told what the rollback did beyond this log",
            flush=True,
        )
        return
    try:
        answer = requests.post(url, json=payload, timeout=15)
        answer.raise_for_status()
    except requests.HTTPError as exc:  # the URL is a credential: say what came back, never where from
        print(
            f"##vso[task.logissue type=warning]the release webhook answered HTTP {exc.response.status_code}"
        )
    except requests.RequestException as exc:
        reason = type(exc).__name__
        print(f"##vso[task.logissue type=warning]the release webhook could not be reached ({reason})")
    else:
        print(f"told the release webhook (HTTP {answer.status_code})", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("environment", choices=("dev", "prod"))
    parser.add_argument("work", type=Path, help="the deployment job's work dir")
    parser.add_argument("--cannot-restore", help="why this step cannot restore anything (its login failed)")
    args = parser.parse_args(argv)
    stack = _last_line(args.work / "stack") or args.environment
    failure = what_failed(args.work, stack, args.environment)
    previous: Promotion | None = None
    if not failure.changed:
        outcome = Outcome(f"stack {stack} was not changed, so nothing was rolled back")
    elif args.cannot_restore:
        outcome = Outcome(f"nothing was restored: {args.cannot_restore}")
    else:
        try:
            path = args.work / "previous.json"
            previous = Promotion.parse(path.read_text(encoding="utf-8"), str(path)) if path.exists() else None
        except (OSError, PromotionError) as exc:
            outcome = Outcome(f"nothing was restored: the recorded previous object cannot be read ({exc})")
        else:
            outcome = restore(stack, args.work, previous)
    text = message(args.environment, stack, failure, outcome)
    post(
        os.environ.get("RELEASE_WEBHOOK_URL"),
        {
            "text": text,
            "stack": stack,
            "environment": args.environment,
            "failed": failure.what,
            "outcome": outcome.text,
            "restored": outcome.restored.as_dict() if outcome.restored else None,
            "lookAt": failure.look_at,
            "run": run_url(),
        },
    )
    print(f"##vso[task.logissue type=error]{text}", file=sys.stderr)
    print(text, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
