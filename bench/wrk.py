"""Drive a server with wrk: a POST of one fixed JSON body, a bounded duration, latency percentiles.

wrk's own `done` hook (Lua) prints the figures as one JSON line, so nothing is scraped from its text table.
Any non-2xx answer, socket error or timeout makes the measurement fail: a fast server that errors is not fast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

MARKER = "BENCH_WRK_JSON "

# The setup every script shares; %s: the request body as a Lua long-bracket string.
_SETUP = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
"""
# %s: MARKER. latency:percentile() is in microseconds.
_DONE = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%%d,"duration_us":%%d,"connect_errors":%%d,"read_errors":%%d,"write_errors":%%d,' ..
    '"status_errors":%%d,"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""
# A new Authorization header on every request, the tokens taken in turn (wrk then formats each request
# anew: a few microseconds of wrk's time, where the static scripts send one prepared request).
_CYCLE = """\
local tokens = {
%s
}
local next_token = 0
request = function()
  next_token = next_token %% #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[next_token]
  return wrk.format()
end
"""


@dataclass(frozen=True)
class LoadResult:
    connections: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()
        }


class LoadError(RuntimeError):
    """wrk failed, or the server answered with errors under load."""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadError("wrk is not installed: `apt-get install wrk` (make tools installs it)")
    return path


def _lua_string(text: str) -> str:
    if "]==]" in text:
        raise ValueError("the text contains ']==]', which would end the Lua string early")
    return f"[==[{text}]==]"


def write_script(
    body: bytes, directory: Path, name: str = "post", headers: Mapping[str, str] | None = None
) -> Path:
    """A script posting `body`, with the same `headers` on every request."""
    lines = [_SETUP % _lua_string(body.decode())]
    lines += [f'wrk.headers["{key}"] = {_lua_string(value)}\n' for key, value in (headers or {}).items()]
    script = directory / f"{name}.lua"
    script.write_text("".join(lines) + _DONE % MARKER)
    return script


def write_cycling_script(body: bytes, directory: Path, name: str, tokens: Sequence[str]) -> Path:
    """A script posting `body` with `Authorization: Bearer <token>`, the next of `tokens` each time."""
    table = ",\n".join(f"  {_lua_string(token)}" for token in tokens)
    script = directory / f"{name}.lua"
    script.write_text(_SETUP % _lua_string(body.decode()) + _CYCLE % table + _DONE % MARKER)
    return script


def run(url: str, script: Path, connections: int, duration_s: float, timeout_s: float = 5.0) -> LoadResult:
    """One wrk run with one thread (wrk shares 2 cores with the server: more threads only steal CPU)."""
    argv = [
        require_wrk(),
        "--threads", "1",
        "--connections", str(connections),
        "--duration", f"{duration_s:g}s",
        "--timeout", f"{timeout_s:g}s",
        "--script", str(script),
        url,
    ]  # fmt: skip
    try:
        finished = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    except subprocess.TimeoutExpired:
        raise LoadError(
            f"wrk did not finish within {duration_s + timeout_s + 30:.0f} s: {' '.join(argv)}"
        ) from None
    lines = [line for line in finished.stdout.splitlines() if line.startswith(MARKER)]
    if finished.returncode != 0 or not lines:
        raise LoadError(
            f"wrk failed (exit {finished.returncode}): {finished.stderr.strip() or finished.stdout}"
        )
    figures = json.loads(lines[-1][len(MARKER) :])
    errors = {key: figures[key] for key in figures if key.endswith(("_errors", "timeouts")) and figures[key]}
    if errors:
        raise LoadError(f"{url} at {connections} connections answered with errors: {errors}")
    if figures["requests"] == 0:
        raise LoadError(f"{url} at {connections} connections answered no request in {duration_s:g} s")
    seconds = figures["duration_us"] / 1e6
    return LoadResult(
        connections=connections,
        duration_s=seconds,
        requests=figures["requests"],
        requests_per_s=figures["requests"] / seconds,
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        mean_ms=figures["mean_us"] / 1000,
    )
