"""Smoke test of a deployed stack: is the app up, does it answer a real digit, is it serving the right model?

Reads what the stack says it deployed from `pulumi stack output --json` (a file, or `-` for stdin):
  app_url        (required) the app's base URL
  model_version  (required) the model version the stack deployed
  model_sha256, model_name, app_commit, app_version  (optional) checked against /version when present
  promotion      (optional) the object the stack serves (pipelines/promotion.py); with --expect-promotion it
                 must be that object, whose model and commit /version must then report
  acme_server    (optional) `staging`: the certificate is from Let's Encrypt's staging CA, which no system
                 trusts; then --ca-bundle (or SMOKE_CA_BUNDLE) must name a PEM file with its roots
  (--require-commit: app_commit must be present and a full commit SHA, as the release's stacks export it)
  auth_token_scope  (present when the stack turned sign-in on) the scope of an access token for the app
Then, against the live app:
  0. with sign-in on: gets an access token for that scope from `az account get-access-token` (in the release,
     `az` is logged in as the deploy connection's identity, which the cicd stack gave the app role), and
     checks that the app refuses a request without a token (401, WWW-Authenticate: Bearer);
  1. waits for GET /readyz to answer 200;
  2. waits for GET /version to report that model (a rollout may still be draining old pods behind the load
     balancer), and the expected commit when one is given;
  3. POSTs two real handwritten digits (pipelines/digits.py) to /v1/predict and checks each answer: the right
     label, ten probabilities that sum to 1, and the model version in the response.
With sign-in on, 2 and 3 carry the token. The token is never printed.
Any failure exits 1 with what was wrong (the release then rolls the stack back: pipelines/rollback.py); a bad
invocation exits 2. --verdict-file gets the last line, passed or failed, for the rollback's report.

Standard library only: the release agent runs it without the project's dependencies (no scikit-learn).

    pulumi stack output --json --stack dev | python pipelines/smoke_test.py --outputs - \\
        --expect-model-version 3 --stack dev
    python pipelines/smoke_test.py --outputs outputs.json --expect-promotion promoted.json --stack prod
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from the checkout: import the repo's `pipelines` package
    sys.path.insert(0, str(REPO_ROOT))

from pipelines.azcli import TokenError, access_token  # noqa: E402 (after the path set-up above)
from pipelines.digits import DIGITS, PAYLOAD, answer_problems  # noqa: E402
from pipelines.promotion import COMMIT_SHA_, Promotion, PromotionError, served  # noqa: E402

REQUEST_TIMEOUT_SECONDS = 10.0
FULL_COMMIT = re.compile(rf"^{COMMIT_SHA_}$")


class SmokeFailure(Exception):
    """The deployed app is not what the stack says it deployed, or does not work."""


class UsageError(Exception):
    """The script was called with input it cannot use."""


@dataclass(frozen=True)
class Deployed:
    """What the stack says it deployed."""

    app_url: str
    model_version: str
    model_sha256: str | None = None
    model_name: str | None = None
    app_commit: str | None = None
    app_version: str | None = None
    acme_server: str | None = None
    token_scope: str | None = None  # with sign-in on: the scope of an access token for the app
    promotion: Promotion | None = None  # the object the stack serves, when it exports one

    def expecting(self, promotion: Promotion) -> Deployed:
        """What /version must report when the stack serves `promotion`: its model, commit and version."""
        return replace(
            self,
            model_name=promotion.model_name,
            model_version=promotion.model_version,
            model_sha256=promotion.model_sha256,
            app_commit=promotion.commit,
            app_version=promotion.app_version,
        )


def read_outputs(text: str) -> Deployed:
    """The stack outputs (`pulumi stack output --json`) this test needs; UsageError when they are unusable."""
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"the stack outputs are not JSON ({exc}); pass `pulumi stack output --json`"
        ) from None
    if not isinstance(outputs, dict):
        raise UsageError("the stack outputs are not a JSON object; pass `pulumi stack output --json`")
    missing = [key for key in ("app_url", "model_version") if outputs.get(key) in (None, "")]
    if missing:
        raise UsageError(
            f"the stack outputs lack {', '.join(missing)} (found: {', '.join(sorted(outputs)) or 'none'}); "
            "the stack must export app_url and model_version"
        )
    app_url = str(outputs["app_url"]).rstrip("/")
    if not app_url.startswith(("http://", "https://")):
        raise UsageError(f"app_url {app_url!r} is not an http(s) URL")

    def optional(key: str) -> str | None:
        value = outputs.get(key)
        return None if value in (None, "") else str(value)

    try:
        promotion = served(outputs)
    except PromotionError as exc:
        raise UsageError(str(exc)) from None
    return Deployed(
        app_url=app_url,
        model_version=str(outputs["model_version"]),
        model_sha256=optional("model_sha256"),
        model_name=optional("model_name"),
        app_commit=optional("app_commit"),
        app_version=optional("app_version"),
        acme_server=optional("acme_server"),
        token_scope=optional("auth_token_scope"),
        promotion=promotion,
    )


# The TLS trust of every request: the system's roots, plus --ca-bundle's (Let's Encrypt staging's) when given.
TLS = ssl.create_default_context()


def trust(deployed: Deployed, ca_bundle: str | None) -> None:
    """Trust `ca_bundle` too; a staging certificate without one is a usage error, not a failed deployment."""
    if ca_bundle:
        TLS.load_verify_locations(cafile=ca_bundle)
    elif deployed.acme_server == "staging" and deployed.app_url.startswith("https://"):
        raise UsageError(
            "the stack's certificate is from Let's Encrypt's staging CA (acme_server: staging), which no "
            "system trusts: pass --ca-bundle (or SMOKE_CA_BUNDLE) with its roots, "
            'https://letsencrypt.org/docs/staging-environment/ ("(STAGING) Pretend Pear X1" and '
            '"(STAGING) Bogus Broccoli X2")'
        )


# ------------------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or the raw text when the body is not JSON
    challenge: str | None = None  # the WWW-Authenticate header


def request(method: str, url: str, payload: Any = None, token: str | None = None) -> Answer:
    """One HTTP call (with `token` as a bearer token); connection problems raise OSError (URLError is one)."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_SECONDS, context=TLS) as response:
            status, raw, challenge = (
                response.status,
                response.read(),
                response.headers.get("WWW-Authenticate"),
            )
    except urllib.error.HTTPError as error:
        status, raw, challenge = error.code, error.read(), error.headers.get("WWW-Authenticate")
    text = raw.decode("utf-8", errors="replace")
    try:
        return Answer(status, json.loads(text), challenge)
    except json.JSONDecodeError:
        return Answer(status, text, challenge)


def _describe(answer: Answer) -> str:
    body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
    return f"HTTP {answer.status}: {body[:300]}"


def poll(what: str, attempt: Callable[[], str | None], timeout: float, interval: float) -> None:
    """Call `attempt` until it returns None (done) or `timeout` passes; it returns why it is not done yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            problem = attempt()
        except OSError as exc:
            problem = f"cannot connect ({exc})"
        if problem is None:
            return
        if time.monotonic() + interval > deadline:
            raise SmokeFailure(f"{what} within {timeout:g} s; last answer: {problem}")
        time.sleep(interval)


# ----------------------------------------------------------------------------------------------- checks


def wait_ready(app_url: str, timeout: float, interval: float) -> None:
    def ready() -> str | None:
        answer = request("GET", f"{app_url}/readyz")
        return None if answer.status == 200 else _describe(answer)

    poll(f"{app_url}/readyz did not answer 200", ready, timeout, interval)


def version_problem(answer: Answer, expected: Deployed, expected_commit: str | None) -> str | None:
    """Why /version's answer is not the expected deployment, or None when it is."""
    if answer.status != 200 or not isinstance(answer.body, dict):
        return _describe(answer)
    model = answer.body.get("model") if isinstance(answer.body.get("model"), dict) else {}
    app = answer.body.get("app") if isinstance(answer.body.get("app"), dict) else {}
    problems = []
    if str(model.get("version")) != expected.model_version:
        problems.append(f"model version {model.get('version')!r}, expected {expected.model_version!r}")
    if expected.model_sha256 is not None and model.get("sha256") != expected.model_sha256:
        problems.append(f"model sha256 {model.get('sha256')!r}, expected {expected.model_sha256!r}")
    if expected.model_name is not None and model.get("name") != expected.model_name:
        problems.append(f"model name {model.get('name')!r}, expected {expected.model_name!r}")
    for commit in (expected.app_commit, expected_commit):
        if commit is not None and not same_commit(str(app.get("commit")), commit):
            problems.append(f"app commit {app.get('commit')!r}, expected {commit!r}")
    if expected.app_version is not None and app.get("version") != expected.app_version:
        problems.append(f"app version {app.get('version')!r}, expected {expected.app_version!r}")
    return "; ".join(problems) or None


def same_commit(reported: str, expected: str) -> bool:
    """Full SHAs must be equal; an abbreviated one (7+ hex digits) must be a prefix of the other."""
    reported, expected = reported.strip().lower(), expected.strip().lower()
    if len(reported) < 7 or len(expected) < 7:
        return False
    return reported.startswith(expected) or expected.startswith(reported)


def wait_version(
    app_url: str,
    expected: Deployed,
    expected_commit: str | None,
    timeout: float,
    interval: float,
    token: str | None = None,
) -> None:
    poll(
        f"{app_url}/version did not report the deployed model",
        lambda: version_problem(request("GET", f"{app_url}/version", token=token), expected, expected_commit),
        timeout,
        interval,
    )


def prediction_problems(answer: Answer, expected_version: str) -> list[str]:
    """Why the /v1/predict answer to DIGITS is wrong (an empty list when it is right)."""
    if answer.status != 200 or not isinstance(answer.body, dict):
        return [f"POST /v1/predict answered {_describe(answer)}"]
    return answer_problems(answer.body, expected_version)


def check_predict(app_url: str, expected_version: str, token: str | None = None) -> None:
    try:
        answer = request("POST", f"{app_url}/v1/predict", PAYLOAD, token)
    except OSError as exc:
        raise SmokeFailure(f"POST {app_url}/v1/predict: cannot connect ({exc})") from None
    problems = prediction_problems(answer, expected_version)
    if problems:
        raise SmokeFailure("wrong prediction: " + "; ".join(problems))


def require_commit(deployed: Deployed) -> None:
    """The release checks the commit the stack says its image carries: it must say one."""
    if deployed.app_commit is None or not FULL_COMMIT.match(deployed.app_commit):
        raise SmokeFailure(
            f"the stack output app_commit is {deployed.app_commit!r}, not a full commit SHA, so the commit "
            "the app reports cannot be checked: the release deploys from a clean git checkout with full "
            "history (fetchDepth: 0), where app_commit is the newest commit of the image's files"
        )


def app_token(scope: str) -> str:
    """An access token for the app's API, for the identity `az` is logged in as; never printed."""
    try:
        return access_token(scope=scope)
    except TokenError as exc:
        raise SmokeFailure(
            f"{exc}; the release's identity needs the app role of the API's registration (the cicd stack "
            "assigns it)"
        ) from None


def check_sign_in_required(app_url: str) -> None:
    """The stack says sign-in is on: the app must refuse a prediction without a token."""
    try:
        answer = request("POST", f"{app_url}/v1/predict", {"instances": [list(DIGITS[0][1])]})
    except OSError as exc:
        raise SmokeFailure(f"POST {app_url}/v1/predict: cannot connect ({exc})") from None
    if answer.status != 401 or not (answer.challenge or "").startswith("Bearer"):
        raise SmokeFailure(
            "the stack turned sign-in on, but without a token POST /v1/predict answered "
            f"{_describe(answer)} (expected 401 with WWW-Authenticate: Bearer)"
        )


def run(
    deployed: Deployed,
    expected_commit: str | None,
    timeout: float,
    interval: float,
    log: Callable[[str], None],
) -> None:
    token = None
    if deployed.token_scope is not None:
        log(f"sign-in is on: getting an access token for {deployed.token_scope} from az")
        token = app_token(deployed.token_scope)
    log(f"waiting for {deployed.app_url}/readyz")
    wait_ready(deployed.app_url, timeout, interval)
    if token is not None:
        log("checking the app refuses a request without a token")
        check_sign_in_required(deployed.app_url)
    log(f"checking {deployed.app_url}/version reports model {deployed.model_version}")
    wait_version(deployed.app_url, deployed, expected_commit, timeout, interval, token)
    log(f"predicting {len(DIGITS)} real digits with {deployed.app_url}/v1/predict")
    check_predict(deployed.app_url, deployed.model_version, token)


# ------------------------------------------------------------------------------------------------ verdict


def verdict(line: str, verdict_file: Path | None) -> None:
    """The test's last line; also written to --verdict-file, which the release's rollback report quotes."""
    if verdict_file is not None:
        verdict_file.write_text(line + "\n", encoding="utf-8")


def report_failure(reason: str, stack: str | None, verdict_file: Path | None) -> None:
    where = f" for stack {stack}" if stack else ""
    if os.environ.get("TF_BUILD"):  # in Azure Pipelines: an error annotation on the run's summary
        print(f"##vso[task.logissue type=error]smoke test failed{where}: {reason}", file=sys.stderr)
    line = f"SMOKE TEST FAILED{where}: {reason}"
    print(line, file=sys.stderr)
    verdict(line, verdict_file)


def check_promotion(deployed: Deployed, expected: Promotion) -> Deployed:
    """The stack must serve exactly `expected`; then /version must report its model, commit and version."""
    if deployed.promotion is None:
        raise SmokeFailure(
            f"the stack exports no promotion output, so it cannot be told to serve {expected.describe()}"
        )
    if deployed.promotion != expected:
        raise SmokeFailure(
            f"the stack serves {deployed.promotion.to_json()}, not the object it was given, "
            f"{expected.to_json()} (was aiapp:promotedImage passed to pulumi up?)"
        )
    return deployed.expecting(expected)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--outputs", required=True, help="`pulumi stack output --json` as a file, or - for stdin"
    )
    parser.add_argument("--expect-model-version", help="fail unless the stack deployed this version")
    parser.add_argument("--expect-commit", help="fail unless /version reports this commit")
    parser.add_argument(
        "--require-commit",
        action="store_true",
        help="fail unless the outputs carry app_commit, a full commit SHA, which /version must report",
    )
    parser.add_argument(
        "--ca-bundle",
        default=os.environ.get("SMOKE_CA_BUNDLE") or None,
        help="a PEM file of extra roots to trust (Let's Encrypt staging's, for acme_server staging)",
    )
    parser.add_argument(
        "--expect-promotion",
        type=Path,
        help="a file with the promotion object the stack was given (aiapp:promotedImage): the stack must "
        "serve exactly it, and /version report its model and commit",
    )
    parser.add_argument("--stack", help="the stack's name, for the messages")
    parser.add_argument("--verdict-file", type=Path, help="where to write the one-line verdict, too")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each check (300)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between attempts (5)")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.interval <= 0:
        parser.error("--timeout and --interval must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text(encoding="utf-8")
        deployed = read_outputs(text)
        trust(deployed, args.ca_bundle)
        expected = (
            Promotion.parse(args.expect_promotion.read_text(encoding="utf-8"), str(args.expect_promotion))
            if args.expect_promotion
            else None
        )
    except (OSError, UsageError, PromotionError, ssl.SSLError) as exc:
        print(f"smoke_test: {exc}", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, flush=True)

    try:
        if args.expect_model_version is not None and args.expect_model_version != deployed.model_version:
            raise SmokeFailure(
                f"the stack deployed model version {deployed.model_version!r}, but this release resolved "
                f"{args.expect_model_version!r} (was aiapp:modelVersion passed to pulumi up?)"
            )
        if expected is not None:
            deployed = check_promotion(deployed, expected)
        if args.require_commit:
            require_commit(deployed)
        run(deployed, args.expect_commit, args.timeout, args.interval, log)
    except SmokeFailure as failure:
        report_failure(str(failure), args.stack, args.verdict_file)
        return 1
    model = f"{deployed.model_name} " if deployed.model_name else ""
    line = f"smoke test passed: {deployed.app_url} serves model {model}version {deployed.model_version}"
    log(line)
    verdict(line, args.verdict_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
