"""pipelines/*.yml expanded the way Azure Pipelines expands templates (parameters substituted, conditional
blocks inlined), enough to know what each pipeline runs and uses: connections, variable groups, environments,
script files. Only the pipeline tests need this; the Pulumi fixtures are in tests/harness/."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PIPELINES_DIR = REPO / "pipelines"

_PARAMETER = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")
_SCRIPT_FILE = re.compile(r"pipelines/[\w./-]+\.(?:sh|py)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _substitute(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PARAMETER.fullmatch(value.strip())
        if whole and whole.group(1) in parameters:
            return parameters[whole.group(1)]
        return _PARAMETER.sub(lambda m: str(parameters.get(m.group(1), m.group(0))), value)
    if isinstance(value, Mapping):
        return {_substitute(k, parameters): _substitute(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, parameters) for v in value]
    return value


_IF_EQ_PARAMETER = re.compile(r"^\$\{\{\s*if\s+eq\(\s*parameters\.(\w+)\s*,\s*'?([^')]*)'?\s*\)\s*\}\}$")


def _included(condition: str, parameters: Mapping[str, Any]) -> bool:
    """`${{ if eq(parameters.<name>, <value>) }}` decided like Azure Pipelines' eq (strings compared ignoring
    case; a boolean parameter given as "false" equals false); any other expression counts as included."""
    match = _IF_EQ_PARAMETER.match(condition.strip())
    if match is None or match.group(1) not in parameters:
        return True
    return str(parameters[match.group(1)]).lower() == match.group(2).strip().lower()


def _flatten_conditionals(items: list[Any], parameters: Mapping[str, Any]) -> list[Any]:
    """`- ${{ if ... }}:` blocks inlined when their condition on a parameter holds; a block whose condition
    cannot be decided here is inlined too, so every step a template may insert is counted as used."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and len(item) == 1 and str(next(iter(item))).startswith("${{"):
            condition, block = next(iter(item.items()))
            if _included(str(condition), parameters):
                out += _flatten_conditionals(list(block), parameters)
        else:
            out.append(item)
    return out


def expand(node: Any, base: Path, parameters: Mapping[str, Any] | None = None) -> Any:
    """`node` with every `template:` reference replaced by the template's (expanded) content."""
    node = _substitute(node, parameters or {})
    if isinstance(node, list):
        result: list[Any] = []
        for item in _flatten_conditionals(node, parameters or {}):
            if isinstance(item, Mapping) and "template" in item and set(item) <= {"template", "parameters"}:
                result += _include(base / item["template"], item.get("parameters") or {})
            else:
                result.append(expand(item, base))
        return result
    if isinstance(node, Mapping):
        return {k: expand(v, base) for k, v in node.items()}
    return node


def _include(path: Path, given: Mapping[str, Any]) -> list[Any]:
    template = load_yaml(path)
    declared = {p["name"]: p for p in template.get("parameters", [])}
    unknown = set(given) - set(declared)
    assert not unknown, f"{path.name} has no parameters {sorted(unknown)}"
    values = {name: given.get(name, spec.get("default")) for name, spec in declared.items()}
    for name, spec in declared.items():
        assert values[name] is not None, f"{path.name}: parameter {name} is required and not passed"
        if "values" in spec:
            assert values[name] in spec["values"], (
                f"{path.name}: {name}={values[name]!r} not in {spec['values']}"
            )
    body = {k: v for k, v in template.items() if k != "parameters"}
    (kind,) = body  # a steps (or jobs) template has exactly one list
    return expand(body[kind], path.parent, values)


@dataclass
class Pipeline:
    """A pipeline file with its templates expanded, and what it uses."""

    path: Path
    raw: dict[str, Any]
    expanded: dict[str, Any]
    connections: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    script_files: set[str] = field(default_factory=set)

    def stages(self) -> list[dict[str, Any]]:
        return self.expanded["stages"]

    def stage(self, name: str) -> dict[str, Any]:
        (found,) = [s for s in self.stages() if s["stage"] == name]
        return found

    @staticmethod
    def job_steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "deployment" in job:
            return job["strategy"]["runOnce"]["deploy"]["steps"]
        return job["steps"]


def load_pipeline(name: str) -> Pipeline:
    path = PIPELINES_DIR / name
    raw = load_yaml(path)
    expanded = expand(raw, path.parent)
    pipeline = Pipeline(path, raw, expanded)
    pipeline.groups = {
        v["group"] for v in expanded.get("variables", []) if isinstance(v, Mapping) and "group" in v
    }
    for stage in expanded["stages"]:
        for job in stage["jobs"]:
            environment = job.get("environment")
            if environment is not None:
                pipeline.environments.add(
                    environment if isinstance(environment, str) else environment["name"]
                )
            for step in Pipeline.job_steps(job):
                inputs = step.get("inputs") or {}
                for key in ("azureSubscription", "connectedServiceNameARM", "gitHubConnection"):
                    if key in inputs:
                        pipeline.connections.add(inputs[key])
                if "scriptPath" in inputs:
                    pipeline.script_files.add(inputs["scriptPath"])
                if "script" in step:
                    pipeline.script_files.update(_SCRIPT_FILE.findall(step["script"]))
    return pipeline
