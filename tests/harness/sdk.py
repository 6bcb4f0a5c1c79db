"""The one module of the harness that reaches into the Pulumi SDK's private API. Written for pulumi==3.272.0.

Pulumi's public testing API (`pulumi.runtime.set_mocks`, `Mocks`, `MockMonitor`) runs a program once per
process, as a unit test imports it; the harness runs the real __main__.py many times in one pytest process
and reads what the engine saw. That needs the seams in SEAMS below, and nothing outside this module touches
the SDK's internals. tests/harness/test_sdk.py fails as soon as the installed SDK is not WRITTEN_FOR (the
version requirements.txt pins): then re-check each seam against the new SDK's source (pulumi/runtime/rpc.py,
settings.py, stack.py, config.py, sync_await.py, mocks.py) and update WRITTEN_FOR.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from tests.harness.records import Recorded

WRITTEN_FOR = "3.272.0"

# Each private name used here, and why (tests/harness/test_sdk.py checks that each still exists).
SEAMS: dict[str, str] = {
    "pulumi.runtime.rpc._special_sig_key": "the key that marks a secret (or other special value) on the wire",
    "pulumi.runtime.rpc._special_secret_sig": "the value of that key for a secret: to unwrap recorded inputs",
    "pulumi.runtime.rpc.deserialize_properties": "a registration's inputs (protobuf Struct) as Python values",
    "pulumi.runtime.settings.ROOT": "the root Stack resource: cleared so the next run gets a fresh stack",
    "pulumi.runtime.settings.SETTINGS": "its .outputs, the pending outputs of the last run: cleared",
    "pulumi.runtime.config.set_all_config": "the stack's config and secret keys, as the CLI hands them over",
    "pulumi.runtime.stack.run_pulumi_func": "runs a program body and waits for every registration it made",
    "pulumi.runtime.sync_await._sync_await": "drives that coroutine on the SDK's own event loop",
    "pulumi.runtime.mocks.MockMonitor.RegisterResource": "overridden to record each registration's options",
    "pulumi.runtime.mocks.MockMonitor.ReadResource": "overridden to record each read of an existing resource",
}


class Export(NamedTuple):
    value: Any  # None when not known
    known: bool
    secret: bool


def unwrap_secrets(value: Any) -> tuple[Any, bool]:
    """`value` with every secret marker replaced by the secret's value, and whether there was one."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            inner, _ = unwrap_secrets(value.get("value"))
            return inner, True
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = unwrap_secrets(v)
            secret = secret or s
        return out, secret
    if isinstance(value, list):
        items = [unwrap_secrets(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, plus a record of each registration with its parent and options, and of each
    read of an existing resource (`<Resource>.get`: the engine manages nothing of it)."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Recorded] = []
        self.reads: list[Recorded] = []

    def ReadResource(self, request):  # the engine protocol's name
        response = super().ReadResource(request)
        registration = self.get_registered_resources()[response.urn]
        self.reads.append(
            _recorded(
                request,
                registration,
                id=request.id,
                inputs={},
                custom=True,
                protect=False,
                ignore_changes=(),
                delete_before_replace=False,
                replace_on_changes=(),
                retain_on_delete=False,
                secret_inputs=frozenset(),
            )
        )
        return response

    def RegisterResource(self, request):  # the engine protocol's name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw_inputs = rpc.deserialize_properties(request.object)
        secret_inputs = frozenset(k for k, v in raw_inputs.items() if unwrap_secrets(v)[1])
        inputs, _ = unwrap_secrets(raw_inputs)
        registration = self.get_registered_resources()[response.urn]
        self.recorded.append(
            _recorded(
                request,
                registration,
                id=registration.id or "",
                inputs=inputs,
                custom=bool(request.custom),
                protect=bool(request.protect),
                ignore_changes=tuple(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                replace_on_changes=tuple(request.replaceOnChanges),
                retain_on_delete=bool(request.retainOnDelete),
                secret_inputs=secret_inputs,
            )
        )
        return response


def _recorded(
    request: Any, registration: pulumi_mocks.MockMonitor.ResourceRegistration, **specific: Any
) -> Recorded:
    """What a registration's and a read's requests both carry, the outputs the mocks gave the resource, and
    what is `specific` to the one."""
    outputs, _ = unwrap_secrets(dict(registration.state))
    return Recorded(
        type=request.type,
        name=request.name,
        urn=registration.urn,
        outputs=outputs,
        parent=request.parent or None,
        provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
        dependencies=tuple(request.dependencies),
        additional_secret_outputs=tuple(request.additionalSecretOutputs),
        **specific,
    )


async def _resolve(value: Any) -> Export:
    out = pulumi.Output.from_input(value)
    known = await out.is_known()
    secret = await out.is_secret()
    resolved = await out.future(with_unknowns=True) if known else None
    return Export(resolved, known, secret)


def run_mock_program(
    body: Callable[[], Any],
    monitor: RecordingMonitor,
    *,
    project: str,
    stack: str,
    preview: bool,
    config: Mapping[str, str],
    secret_keys: list[str],
) -> dict[str, Export]:
    """Run `body` as the program of a fresh mock stack that `monitor` answers for, to the last registration.

    Returns the stack's exports (`pulumi.export`) and, when `body` returns a mapping, its values, resolved.
    The runtime's global state is reset before and after, so runs follow one another in one process; they
    must not overlap (the caller holds a lock).
    """
    settings.ROOT.set(None)
    settings.SETTINGS.outputs.clear()
    set_all_config(dict(config), secret_keys)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    exports: dict[str, Export] = {}

    async def program() -> None:
        returned = body()
        root = settings.get_root_resource()
        values = dict(getattr(root, "outputs", {}) or {})
        if isinstance(returned, Mapping):
            values.update(returned)
        for key, value in values.items():
            exports[key] = await _resolve(value)

    try:
        _sync_await(run_pulumi_func(program))
    finally:
        settings.ROOT.set(None)
        set_all_config({}, [])
    return exports


def missing_seams() -> list[str]:
    """The SEAMS that the installed SDK no longer has (for tests/harness/test_sdk.py)."""
    import importlib

    missing = []
    for dotted in SEAMS:
        parts = dotted.split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                target: Any = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attribute in parts[split:]:
                    target = getattr(target, attribute)
            except AttributeError:
                missing.append(dotted)
            break
        else:
            missing.append(dotted)
    return missing
