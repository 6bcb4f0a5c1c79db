"""pipelines/*.yml: valid against Microsoft's schema, triggers in the YAML only, and the stages in order."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import config as stack_config
from infra.config.devops import RELEASE_ENVIRONMENTS as ENVIRONMENTS
from infra.config.keys import bounds
from infra.config.monitoring import MonitoringSettings
from infra.pipelines.names import (
    CI_YAML,
    DEPLOY_CONNECTION,
    DEPLOY_VARIABLE_GROUP,
    MAIN_BRANCH,
    MODEL_VERSION_CONFIG_KEY,
    PREVIEW_CONNECTION,
    PREVIEW_VARIABLE_GROUP,
    RELEASE_WEBHOOK_VARIABLE,
    RELEASE_YAML,
)
from pipelines import watch
from tests.pipelines.yaml_templates import PIPELINES_DIR, REPO, Pipeline, load_pipeline, load_yaml

YAML_FILES = sorted(PIPELINES_DIR.rglob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
SCHEMA_ARGS = [
    "--builtin-schema",
    "vendor.azure-pipelines",
    "--data-transform",
    "azure-pipelines",
    "--regex-variant",
    "nonunicode",
]


def check_schema(*files: Path) -> subprocess.CompletedProcess[str]:
    tool = str(CHECK_JSONSCHEMA) if CHECK_JSONSCHEMA.exists() else shutil.which("check-jsonschema")
    if tool is None:
        pytest.fail("check-jsonschema is not installed: it is in requirements-dev.txt (make venv)")
    return subprocess.run([tool, *SCHEMA_ARGS, *map(str, files)], capture_output=True, text=True, check=False)


def test_every_pipeline_file_is_valid_against_the_azure_pipelines_schema() -> None:
    assert {f.name for f in YAML_FILES} >= {"ci.yml", "release.yml"}
    result = check_schema(*YAML_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "original, broken",
    [
        ('    always: "true"', "    always: true"),  # the schema wants booleans as strings
        ("trigger: none", "triggers: none"),  # a typo of a top-level key
        ("environment: prod", "environmnet: prod"),
    ],
)
def test_the_schema_check_rejects_a_broken_release(tmp_path: Path, original: str, broken: str) -> None:
    text = (PIPELINES_DIR / "release.yml").read_text()
    assert original in text
    copy = tmp_path / "release.yml"
    copy.write_text(text.replace(original, broken, 1))
    assert check_schema(copy).returncode == 1


# --------------------------------------------------------------------------------------------- triggers


def test_ci_runs_once_per_push_to_main_and_once_per_pull_request() -> None:
    """A push to a pull request's branch queues one run (the pull request's), not a second one as a push: the
    push trigger is main's only. (Azure Repos builds pull requests through the branch policy on main, whose
    scope tests/pipelines/test_pipelines_component.py checks; GitHub through `pr:`.)"""
    ci = load_yaml(REPO / CI_YAML)
    main = MAIN_BRANCH.removeprefix("refs/heads/")
    assert ci["trigger"]["branches"] == {"include": [main]}
    assert ci["pr"]["branches"] == {"include": [main]}
    assert "schedules" not in ci


def test_release_runs_nightly_on_main_even_without_changes_and_by_hand_only_otherwise() -> None:
    release = load_yaml(REPO / RELEASE_YAML)
    assert release["trigger"] == "none"
    assert release["pr"] == "none"
    (schedule,) = release["schedules"]
    assert schedule["branches"]["include"] == [MAIN_BRANCH.removeprefix("refs/heads/")]
    assert schedule["always"] == "true"  # ships a newly published model without a new commit
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month, weekday) == ("*", "*", "*"), "nightly means every day"
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert release["lockBehavior"] == "sequential"  # with the environments' exclusive lock: one at a time
    (parameter,) = release["parameters"]  # manual runs choose the model version (a rollback is a number)
    assert (parameter["name"], parameter["default"]) == ("modelVersion", "latest")


# ------------------------------------------------------------------------------------------- what runs


def _scripts(steps: list[dict]) -> list[str]:
    return [step.get("script") or (step.get("inputs") or {}).get("scriptPath", "") for step in steps]


def test_ci_lints_and_tests_before_any_preview() -> None:
    ci = load_pipeline("ci.yml")
    assert [s["stage"] for s in ci.stages()] == ["test", "preview"]
    (test_job,) = ci.stage("test")["jobs"]
    steps = Pipeline.job_steps(test_job)
    scripts = _scripts(steps)
    # The container tests need root; the job's PATH (its Python and .venv) survives sudo.
    (test,) = [i for i, script in enumerate(scripts) if script.endswith("make test")]
    assert scripts[test] == 'sudo -E env "PATH=$PATH" make test'
    # The page's browser test drives the hosted agent's Google Chrome (sudo -E passes the variable on).
    assert test_job["variables"] == {"CHROMIUM_PATH": "/usr/bin/google-chrome"}
    assert scripts.index("make lint") < test
    (give_back,) = [i for i, script in enumerate(scripts) if script.startswith("sudo chown -R")]
    assert test < give_back < min(i for i, s in enumerate(steps) if s.get("task") == "PublishTestResults@2")
    assert steps[give_back]["condition"] == "succeededOrFailed()"
    (junit,) = [s for s in steps if s.get("task") == "PublishTestResults@2"]
    assert junit["inputs"]["testResultsFormat"] == "JUnit"
    assert junit["inputs"]["testResultsFiles"] == "build/junit.xml"
    assert junit["condition"] == "succeededOrFailed()"  # results are published when tests fail too
    (coverage,) = [s for s in steps if "codecoverage.publish" in s.get("script", "")]
    assert "codecoveragetool=Cobertura" in coverage["script"] and "build/coverage.xml" in coverage["script"]
    assert coverage["condition"] == "succeededOrFailed()"

    preview = ci.stage("preview")
    assert preview["dependsOn"] == "test"
    assert "condition" not in preview  # the default, succeeded(): a failing test stops the run here
    assert {job["job"] for job in preview["jobs"]} == {f"preview_{env}" for env in ENVIRONMENTS}
    for job in preview["jobs"]:
        env = job["job"].removeprefix("preview_")
        steps = Pipeline.job_steps(job)
        (azure,) = [s for s in steps if s.get("task") == "AzureCLI@2"]
        assert azure["inputs"]["azureSubscription"] == PREVIEW_CONNECTION
        assert azure["inputs"]["scriptPath"] == "pipelines/scripts/preview.sh"
        assert azure["inputs"]["arguments"].split()[0] == env
        assert steps[0] == {"checkout": "self", "fetchDepth": "0"}  # the same image commit as the release's
        (comment,) = [s for s in steps if "pr_comment.py" in s.get("script", "")]
        assert f"--stack {env}" in comment["script"]
        assert "succeededOrFailed()" in comment["condition"] and "'PullRequest'" in comment["condition"]
        assert comment["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
    preview_script = (PIPELINES_DIR / "scripts" / "preview.sh").read_text()
    assert re.search(r"pulumi preview .*--diff .*--policy-pack policy", preview_script)


def test_release_resolves_once_then_deploys_dev_then_hands_dev_s_object_to_prod() -> None:
    release = load_pipeline("release.yml")
    assert [s["stage"] for s in release.stages()] == ["resolve", "dev", "prod"]
    (resolve_job,) = release.stage("resolve")["jobs"]
    (resolve_step,) = [s for s in Pipeline.job_steps(resolve_job) if s.get("task") == "AzureCLI@2"]
    assert resolve_step["inputs"]["scriptPath"] == "pipelines/scripts/resolve-model.sh"
    output = f"stageDependencies.resolve.{resolve_job['job']}.outputs['{resolve_step['name']}.MODEL_VERSION']"

    assert release.stage("dev")["dependsOn"] == "resolve"
    assert release.stage("prod")["dependsOn"] == "dev"
    (dev_job,) = release.stage("dev")["jobs"]
    (prod_job,) = release.stage("prod")["jobs"]
    # dev builds the one version resolved at the start; prod is given the object dev served, never a version
    assert dev_job["variables"] == {"MODEL_VERSION": f"$[ {output} ]"}
    (dev_deploy,) = [
        s
        for s in Pipeline.job_steps(dev_job)
        if s.get("inputs", {}).get("scriptPath", "").endswith("deploy.sh")
    ]
    job_name = dev_job["deployment"]  # a runOnce deployment job's outputs are under its own name
    promotion = f"stageDependencies.dev.{job_name}.outputs['{job_name}.{dev_deploy['name']}.PROMOTION']"
    assert prod_job["variables"] == {"PROMOTED_IMAGE": f"$[ {promotion} ]"}
    deploy_script = (PIPELINES_DIR / "scripts" / "deploy.sh").read_text()
    assert 'echo "##vso[task.setvariable variable=PROMOTION;isOutput=true]$promotion"' in deploy_script
    assert re.search(r"pulumi up .*--policy-pack policy", deploy_script)
    assert 'config="$MODEL_VERSION_CONFIG_KEY=$MODEL_VERSION"' in deploy_script
    assert 'config="$PROMOTED_IMAGE_CONFIG_KEY=$(cat "$work/promoted.json")"' in deploy_script
    for env, job in (("dev", dev_job), ("prod", prod_job)):
        stage = release.stage(env)
        assert "condition" not in stage  # a failed dev (rolled back or not) stops prod
        assert job["environment"] == env and "deployment" in job
        steps = Pipeline.job_steps(job)
        # Deployment jobs do not check out by themselves; full history finds the image's commit (app_commit).
        assert steps[0] == {"checkout": "self", "fetchDepth": "0"}
        scripts = _scripts(steps)
        order = [
            scripts.index(f"pipelines/scripts/{name}.sh") for name in ("deploy", "smoke", "watch", "rollback")
        ]
        assert order == sorted(order), "pulumi up, smoke test, watch, then the rollback"
        for index in order:
            step = steps[index]
            # As the release's identity, whose `az` session gives each its tokens.
            assert step["task"] == "AzureCLI@2" and step["inputs"]["azureSubscription"] == DEPLOY_CONNECTION
            assert step["inputs"]["arguments"].split()[0] == env
        deploy, smoke, watch, rollback = (steps[i] for i in order)
        assert "condition" not in deploy and "condition" not in smoke and "condition" not in watch
        assert rollback["condition"] == "failed()"  # only when the update, the smoke test or the watch failed
        assert rollback["env"] == {
            "PULUMI_ACCESS_TOKEN": "$(PULUMI_ACCESS_TOKEN)",
            RELEASE_WEBHOOK_VARIABLE: f"$({RELEASE_WEBHOOK_VARIABLE})",
        }
        assert "PULUMI_ACCESS_TOKEN" not in str(smoke) + str(watch)
    # The smoke test checks the commit the stack exports (app_commit), not the run's source version.
    smoke_script = (PIPELINES_DIR / "scripts" / "smoke.sh").read_text()
    assert "--require-commit" in smoke_script and "SOURCEVERSION" not in smoke_script


# Checkout, Python, the project's packages, the Pulumi CLI and kubelogin, from caches: the steps before the
# first one with a limit of its own.
SETUP_MINUTES = 5


def test_each_deployment_job_s_steps_fit_its_limit_and_leave_the_rollback_its_minutes() -> None:
    """A step over its limit fails, and the rollback (condition failed()) then runs with its own minutes; the
    job is cancelled at its own limit whatever runs, so the limits must add up within it."""
    smoke_timeout = int(
        re.search(r"SMOKE_TIMEOUT:-(\d+)", (PIPELINES_DIR / "scripts" / "smoke.sh").read_text())[1]
    )
    for stage in load_pipeline("release.yml").stages():
        for job in stage["jobs"]:
            if "deployment" not in job:
                continue
            steps = {
                s["inputs"]["scriptPath"].rsplit("/", 1)[-1]: s
                for s in Pipeline.job_steps(job)
                if "inputs" in s and "scriptPath" in s["inputs"]
            }
            limits = {name: int(step["timeoutInMinutes"]) for name, step in steps.items()}
            assert set(limits) == {"deploy.sh", "smoke.sh", "watch.sh", "rollback.sh"}
            assert SETUP_MINUTES + sum(limits.values()) <= int(job["timeoutInMinutes"]) <= 60, limits
            # The smoke test's two waits end within its step.
            assert 2 * smoke_timeout + 60 <= limits["smoke.sh"] * 60
            # The watch is told its step's limit, and the longest window config allows (aiapp:watchMinutes)
            # fits it with both waits for Prometheus' ingestion: no setting makes a good release fail.
            budget = int(steps["watch.sh"]["inputs"]["arguments"].split()[2])
            assert budget == limits["watch.sh"]
            _, longest = bounds(MonitoringSettings.model_fields["watch_minutes"])
            needed = longest * 60 + 2 * watch.DEFAULT_INGESTION_TIMEOUT + watch.OVERHEAD_SECONDS
            assert needed <= budget * 60


def test_each_pipeline_uses_only_its_own_connection_group_and_environments() -> None:
    ci, release = load_pipeline("ci.yml"), load_pipeline("release.yml")
    assert (ci.connections, ci.groups, ci.environments) == (
        {PREVIEW_CONNECTION},
        {PREVIEW_VARIABLE_GROUP},
        set(),
    )
    assert (release.connections, release.groups, release.environments) == (
        {DEPLOY_CONNECTION},
        {DEPLOY_VARIABLE_GROUP},
        set(ENVIRONMENTS),
    )


def test_every_script_and_make_target_the_pipelines_call_exists() -> None:
    called = load_pipeline("ci.yml").script_files | load_pipeline("release.yml").script_files
    assert {
        "pipelines/scripts/deploy.sh",
        "pipelines/scripts/preview.sh",
        "pipelines/pr_comment.py",
    } <= called
    for script in called:
        assert (REPO / script).is_file(), f"{script} is called by a pipeline and does not exist"
    for script in (PIPELINES_DIR / "scripts").glob("*.sh"):
        for target in re.findall(r"\$\(dirname \"\$0\"\)/(\.\./)?([\w.]+\.(?:py|sh))", script.read_text()):
            assert (script.parent / "".join(target)).is_file(), f"{script.name} calls a missing {target[1]}"
        for module in re.findall(r"python -m pipelines\.(\w+)", script.read_text()):
            assert (PIPELINES_DIR / f"{module}.py").is_file(), f"{script.name} runs a missing {module}"
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
    makefile = (REPO / "Makefile").read_text()
    steps_text = "\n".join(path.read_text() for path in PIPELINES_DIR.rglob("*.yml"))
    targets = set(re.findall(r"\bmake (\w[\w-]*)", steps_text))
    assert targets >= {"venv", "lint", "test"}
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"the Makefile has no target {target}"


def test_the_config_key_the_release_sets_is_the_one_the_program_reads() -> None:
    namespace, key = MODEL_VERSION_CONFIG_KEY.split(":")
    assert namespace == stack_config.NAMESPACE
    settings = stack_config.load_settings(lambda k: {"owner": "team", key: "7"}.get(k), stack_name="dev")
    assert settings.model.version == "7"


def test_the_pipelines_install_the_pulumi_cli_and_python_the_project_pins() -> None:
    parameters = {p["name"]: p for p in load_yaml(PIPELINES_DIR / "templates" / "setup.yml")["parameters"]}
    requirements = (REPO / "requirements.txt").read_text()
    (sdk,) = re.findall(r"^pulumi==([0-9.]+)$", requirements, re.MULTILINE)
    assert parameters["pulumiVersion"]["default"] == sdk, (
        "the CLI and the pulumi SDK must be the same release"
    )
    python = re.search(r'requires-python = ">=([0-9.]+)"', (REPO / "pyproject.toml").read_text())
    assert python is not None and parameters["pythonVersion"]["default"] == python.group(1)


# ------------------------------------------------------------------------------ jobs, sessions and caches


def _jobs() -> list[tuple[str, dict]]:
    """(pipeline file, job) for every job of both pipelines, templates expanded."""
    return [
        (name, job)
        for name in ("ci.yml", "release.yml")
        for stage in load_pipeline(name).stages()
        for job in stage["jobs"]
    ]


def _job_name(job: dict) -> str:
    return job.get("job") or job["deployment"]


def test_every_job_ends_within_the_free_grants_60_minutes() -> None:
    """A Microsoft-hosted job may run 60 minutes on the free grant (360 on a paid parallel job); the README
    says which tier the pipelines assume. Each job states its limit, so none inherits a longer one."""
    for name, job in _jobs():
        assert "timeoutInMinutes" in job, f"{name}: job {_job_name(job)} sets no timeoutInMinutes"
        assert 0 < int(job["timeoutInMinutes"]) <= 60, (
            f"{name}: job {_job_name(job)} may run longer than 60 min"
        )


def test_every_azure_step_keeps_its_az_session_alive_and_gets_no_id_token() -> None:
    """The federated ID token lasts ~10 minutes: later Pulumi processes of a step ask the `az` session, which
    keepAzSessionActive logs in again every 8 minutes (Tasks/AzureCLIV2/azureclitask.ts). The step's first
    token (addSpnToEnvironment's idToken) is never handed to the script: nothing may outlive it with it."""
    azure_steps = [
        step
        for _, job in _jobs()
        for step in Pipeline.job_steps(job)
        if str(step.get("task", "")).startswith("AzureCLI@")
    ]
    assert len(azure_steps) >= 11  # resolve, two previews, and for dev and prod: up, smoke, watch, rollback
    for step in azure_steps:
        assert step["task"] == "AzureCLI@2"
        assert step["inputs"]["keepAzSessionActive"] is True, step["displayName"]
        assert step["inputs"].get("addSpnToEnvironment", False) is False, step["displayName"]


def _install_step(steps: list[dict]) -> dict:
    (install,) = [
        s for s in steps if "make venv" in s.get("script", "") or "pip install" in s.get("script", "")
    ]
    return install


def test_deploy_jobs_install_only_what_deploying_needs() -> None:
    """Resolve, preview and deploy jobs install requirements.txt (the program and the model lifecycle), never
    the test and benchmark tools of requirements-dev.txt (`make venv`); only the test job does."""
    for name, job in _jobs():
        steps = Pipeline.job_steps(job)
        install = _install_step(steps)["script"]
        if (name, _job_name(job)) == ("ci.yml", "test"):
            assert install == "make venv"
        else:
            assert "make venv" not in install and "requirements-dev" not in install, _job_name(job)
            assert re.search(r"-m venv \.venv\b", install) and install.endswith("-r requirements.txt")


def test_pips_downloads_and_pulumis_plugins_are_cached_between_runs() -> None:
    for name, job in _jobs():
        steps = Pipeline.job_steps(job)
        caches = {s["inputs"]["path"]: s for s in steps if s.get("task") == "Cache@2"}
        install = _install_step(steps)
        # pip's cache: where the install step's pip writes, restored before it, keyed by what it installs
        pip_cache = install["env"]["PIP_CACHE_DIR"]
        assert pip_cache in caches, f"{name}: {_job_name(job)} does not cache pip's downloads"
        assert steps.index(caches[pip_cache]) < steps.index(install)
        key = caches[pip_cache]["inputs"]["key"]
        assert "requirements.txt" in key.split(" | ")
        if "make venv" in install["script"]:
            assert {"requirements-dev.txt", "app/requirements.txt"} <= set(key.split(" | "))
        assert caches[pip_cache]["inputs"]["restoreKeys"].strip() in key
        # Pulumi's plugins: wherever the Pulumi CLI is installed, under the PULUMI_HOME the job sets
        runs_pulumi = any("install-pulumi.sh" in s.get("script", "") for s in steps)
        plugin_caches = [path for path in caches if path.endswith("/plugins")]
        if not runs_pulumi:
            assert plugin_caches == [], _job_name(job)
            continue
        (home_step,) = [s for s in steps if "variable=PULUMI_HOME]" in s.get("script", "")]
        home = home_step["script"].split("variable=PULUMI_HOME]", 1)[1].strip().strip('"')
        assert plugin_caches == [f"{home}/plugins"], _job_name(job)
        plugins = caches[plugin_caches[0]]
        assert steps.index(home_step) < steps.index(plugins)
        assert "requirements.txt" in plugins["inputs"]["key"].split(" | ")  # the SDK pins name the plugins
        assert not any("pulumi " in s.get("script", "") for s in steps[: steps.index(plugins)])
