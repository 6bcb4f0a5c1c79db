"""Yardstick "hello": the ceiling, what the app's WSGI server itself does on this machine with no work.

A WSGI callable that reads the request body, as every server must, and answers a fixed body: the app's own
answer to the benchmark's digit (recorded from the app before the run, so the probe checks it as it checks
the app's, and wrk moves the same bytes both ways), with the headers the app's fast lane sends. No parsing,
no model, no metrics. `make bench` runs it under granian with the app's worker count and settings (one
blocking thread per worker, HTTP/1.1), so the app's req/s over its req/s is the fraction of the server's
ceiling that the app reaches (ceiling_fraction_c16).

Run: `HELLO_BODY_FILE=answer.json python -m granian --interface wsgi ... bench.yardsticks.hello:application`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BODY_FILE_ENV = "HELLO_BODY_FILE"


def make_application(body: bytes) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
    ]

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        environ["wsgi.input"].read(int(length) if length else -1)
        start_response("200 OK", headers)
        return [body]

    return application


def __getattr__(name: str) -> Any:
    """`application`, made on first access from $HELLO_BODY_FILE (the server's import of it), so that
    importing make_application needs no file."""
    if name != "application":
        raise AttributeError(name)
    path = os.environ.get(BODY_FILE_ENV)
    if not path:
        raise RuntimeError(f"{BODY_FILE_ENV} must name the file with the body to answer")
    built = globals()["application"] = make_application(Path(path).read_bytes())
    return built
