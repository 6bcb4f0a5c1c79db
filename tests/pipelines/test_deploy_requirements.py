"""The deploy jobs install requirements.txt alone (pipelines/templates/setup.yml, `packages: deploy`): that
must be enough for everything they run. Every module that the Pulumi program, the policy pack, the model
lifecycle and the pipeline scripts import from outside the standard library and this repository comes from a
distribution requirements.txt names, or one those require, as the metadata of the distributions installed in
this virtualenv (the same pins) says. What the release agent runs with its system Python, outside that
virtualenv, needs the standard library alone: pipelines/promotion.py among it, the promotion contract the
program imports too."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.pipelines.yaml_templates import REPO

# What the resolve, preview and deploy jobs run: __main__.py (pulumi), policy/ (--policy-pack), model/
# (resolve_model.py and the image's model fetch), pipelines/*.py.
DEPLOY_CODE = ("__main__.py", "infra", "model", "policy", "pipelines")
LOCAL = {"infra", "model", "policy", "pipelines", "rules", "app", "tests"}  # rules: the pack's own package
# Run with the agent's system Python (`python pipelines/<script>.py`: smoke.sh, deploy.sh, preview.yml), and
# pipelines/promotion.py, which smoke_test.py and the Pulumi program (infra/config/promotion.py) import.
STDLIB_ONLY = (
    "pipelines.promotion",
    "pipelines.smoke_test",
    "pipelines.drift_report",
    "pipelines.stack_lock",
    "pipelines.pr_comment",
)


def _imported_modules() -> dict[str, set[str]]:
    """Top-level modules imported (at any depth, lazy imports too) -> the files importing them."""
    found: dict[str, set[str]] = {}
    for entry in DEPLOY_CODE:
        path = REPO / entry
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(file.relative_to(REPO)))
    return found


def _installed_closure(requirements: Path) -> set[str]:
    """The distributions requirements.txt names and everything they require, transitively."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    todo = [Requirement(line) for line in lines if line and not line.startswith("-")]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        for extra in requirement.extras:
            seen.add(f"{name}[{extra}]")
        for line in metadata.requires(requirement.name) or []:
            child = Requirement(line)
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in ("", *requirement.extras)
            ):
                todo.append(child)
    return seen


def test_requirements_txt_alone_provides_every_module_the_deploy_jobs_import() -> None:
    modules = _imported_modules()
    assert {"pulumi", "pulumi_azure_native", "pulumi_policy", "azure"} <= set(modules)  # the walk found them
    provided = _installed_closure(REPO / "requirements.txt")
    distributions = metadata.packages_distributions()
    missing = {}
    for module, files in sorted(modules.items()):
        if module in sys.stdlib_module_names or module in LOCAL or module == "__future__":
            continue
        names = {canonicalize_name(d) for d in distributions.get(module, [])}
        assert names, f"{module} (imported by {sorted(files)}) is not installed at all"
        if not names & provided:
            missing[module] = sorted(files)
    assert not missing, f"imported by the deploy path but not installed by requirements.txt: {missing}"


def test_the_check_would_see_a_test_tool_imported_by_the_program() -> None:
    """The closure is not everything installed: pytest, a test tool, is outside it."""
    provided = _installed_closure(REPO / "requirements.txt")
    assert "pulumi" in provided and "pyyaml" in provided  # infra/cluster.py's yaml comes with pulumi
    assert not {"pytest", "hypothesis", "playwright", "gunicorn"} & provided


def _import_without_site_packages(*modules: str) -> subprocess.CompletedProcess[str]:
    """`modules` imported by this Python with no site-packages (-S) and no environment (-I): the standard
    library and this checkout only."""
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); " + "; ".join(f"import {m}" for m in modules)
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_what_the_agents_system_python_runs_needs_only_the_standard_library() -> None:
    """The promotion contract stays importable without pydantic or pulumi (the program's side adds those)."""
    result = _import_without_site_packages(*STDLIB_ONLY)
    assert result.returncode == 0, result.stderr
    # The check would see a dependency: neither the program's config nor pydantic imports that way.
    for module in ("infra.config.promotion", "pydantic"):
        refused = _import_without_site_packages(module)
        assert refused.returncode != 0 and "ModuleNotFoundError" in refused.stderr, module
