"""Drive the policy pack the way the Pulumi engine does, without the Pulumi CLI.

Two levels, both on pulumi_policy's real code:
- `run_policy`: one policy's validator, given a ResourceValidationArgs built as the analyzer builds it
  (properties through a protobuf Struct, so numbers arrive as floats; then pulumi_policy's own
  deserialize_properties and unknown_checking_proxy) and a report_violation collector. `run_stack_policy`:
  the same for a stack policy, given every resource of a stack at once.
- `PackServer`: the real pack (`python -m pulumi.policy <engine> policy`, what the engine's
  pulumi-analyzer-policy-python shim runs) in a subprocess, spoken to over gRPC like the engine does.
"""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

REPO = Path(__file__).resolve().parents[2]
POLICY_PACK_DIR = REPO / "policy"
PROJECT = "aiapp"


def urn(resource_type: str, name: str, stack: str = "test") -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{resource_type}::{name}"


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """Resource properties as the engine sends them to an analyzer (a protobuf Struct)."""
    struct = struct_pb2.Struct()
    try:
        struct.update(props)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"properties are not plain JSON-like values ({exc}): {props!r}") from exc
    return struct


def as_engine_sees(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a policy's `args.props` is for these inputs: exactly the analyzer's own decoding."""
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(to_struct(props))))


def _no_options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def run_policy(
    policy: ResourceValidationPolicy, resource_type: str, props: Mapping[str, Any], name: str = "subject"
) -> list[str]:
    """The violation messages one policy reports for one resource (empty when it complies)."""
    args = ResourceValidationArgs(
        resource_type, as_engine_sees(props), urn(resource_type, name), name, _no_options(), None
    )
    messages: list[str] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        messages.append(message)

    result = policy.validate(args, report_violation)
    assert result is None, f"{policy.name} returned an awaitable: the pack's validators are synchronous"
    return messages


# (type, properties, name) of one resource of a stack
StackResource = tuple[str, Mapping[str, Any], str]


def run_stack_policy(
    policy: StackValidationPolicy, resources: Sequence[StackResource]
) -> list[tuple[str, str]]:
    """(message, urn) of each violation a stack policy reports for these resources together."""
    stack = [
        PolicyResource(t, as_engine_sees(props), urn(t, name), name, _no_options(), None, None, [], {})
        for t, props, name in resources
    ]
    violations: list[tuple[str, str]] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        violations.append((message, urn or ""))

    result = policy.validate(StackValidationArgs(stack), report_violation)
    assert result is None, f"{policy.name} returned an awaitable: the pack's validators are synchronous"
    return violations


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    message: str
    enforcement: str  # "MANDATORY", "ADVISORY", ...
    urn: str


def _resource(resource_type: str, props: Mapping[str, Any], name: str, stack: str) -> dict[str, Any]:
    """A resource as the engine sends it, alone (AnalyzeRequest) or with the stack's (AnalyzerResource)."""
    return {
        "type": resource_type,
        "properties": to_struct(props),
        "urn": urn(resource_type, name, stack),
        "name": name,
        "options": analyzer_pb2.AnalyzerResourceOptions(),
    }


def _diagnostics(response: Any, default_urn: str = "") -> list[Diagnostic]:
    """The diagnostics of an analyzer's answer; one without a URN is about `default_urn`."""
    return [
        Diagnostic(
            policy=d.policyName,
            message=d.message,
            enforcement=analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel),
            urn=d.urn or default_urn,
        )
        for d in response.diagnostics
    ]


class PackServer:
    """The real policy pack process and a gRPC client to it, as the engine holds them."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)

    def analyze(
        self, resource_type: str, props: Mapping[str, Any], name: str, stack: str = "test"
    ) -> list[Diagnostic]:
        request = analyzer_pb2.AnalyzeRequest(**_resource(resource_type, props, name, stack))
        return _diagnostics(self.stub.Analyze(request, timeout=60), request.urn)

    def analyze_stack(self, resources: Sequence[StackResource], stack: str = "test") -> list[Diagnostic]:
        """The stack policies' diagnostics, as the engine asks for them once all resources are known."""
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(**_resource(t, props, name, stack))
                for t, props, name in resources
            ]
        )
        return _diagnostics(self.stub.AnalyzeStack(request, timeout=60))

    def close(self) -> None:
        self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def pack_server(start_timeout: float = 60) -> Iterator[PackServer]:
    """Start policy/ as the engine does and yield a client; the process is stopped afterwards."""
    # The first argument is the engine's address; the pack only logs through it on a crash.
    command = [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(POLICY_PACK_DIR)]
    # stderr to a file, not a pipe: a chatty pack must never block on a full pipe nobody reads.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], start_timeout)
        line = process.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            process.kill()
            process.wait(timeout=10)
            stderr.seek(0)
            raise RuntimeError(
                f"the policy pack did not start (expected its port on stdout, got {line!r}):\n"
                f"{stderr.read().decode(errors='replace')}"
            )
        server = PackServer(process, int(line))
        try:
            yield server
        finally:
            server.close()
