"""Sign-in in the benchmark: the app with AUTH_* set, beside the app without, in the same run.

A stand-in issuer (tools/issuer.py: a key pair, tokens shaped as Entra's) serves its JWKS from a
pytest-httpserver on 127.0.0.1, which the signed-in servers fetch at start. Two ways to send tokens, because
the app remembers verified tokens (app/tokens.py):
  - "signin-repeat": one token on every request, as a client reuses its token for its hour: after the first
    request, the app's cost is the cache lookup;
  - "signin-fresh": wrk's Lua `request()` hands out a new token each time, cycling through more tokens than
    all workers' caches hold together, so that every request is a full RS256 verification.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.tokens import CACHE_SIZE
from bench import wrk
from bench.body import protocols, reference_digit
from bench.timing import time_interleaved
from tools.issuer import Issuer, key_server, sign_in_env

TOKEN_LIFETIME_S = 4 * 3600  # longer than any run: no token expires mid-measurement


@dataclass
class SignIn:
    """The issuer, its key endpoint and the wrk scripts; `env` turns sign-in on in a server."""

    issuer: Issuer
    keys_url: str
    token: str  # the one token of "signin-repeat"
    scripts: dict[str, Path] = field(default_factory=dict)

    @property
    def env(self) -> Mapping[str, str]:
        return sign_in_env(self.issuer, self.keys_url)

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def fresh_token_count(workers: int) -> int:
    """Tokens to cycle through so that no worker ever sees one again while it still remembers it: each of
    `workers` caches holds CACHE_SIZE, so one more than all of them together, whatever the split."""
    return workers * CACHE_SIZE + 1


@contextlib.contextmanager
def serve_keys() -> Iterator[tuple[Issuer, dict[str, str]]]:
    """A new issuer with its key endpoint on 127.0.0.1 (until the block ends), and the AUTH_* settings that
    make the app trust it."""
    issuer = Issuer()
    with key_server(issuer.jwks()) as server:
        yield issuer, sign_in_env(issuer, server.url_for("/keys"))


@contextlib.contextmanager
def sign_in(body: bytes, workers: int, directory: Path) -> Iterator[SignIn]:
    """The key endpoint (running until the block ends) and the two wrk scripts, written to `directory`."""
    with serve_keys() as (issuer, env):
        setup = SignIn(issuer, env["AUTH_JWKS_URL"], issuer.token(lifetime_s=TOKEN_LIFETIME_S))
        setup.scripts["signin-repeat"] = wrk.write_script(body, directory, "signin-repeat", setup.headers)
        fresh = [issuer.token(lifetime_s=TOKEN_LIFETIME_S) for _ in range(fresh_token_count(workers))]
        setup.scripts["signin-fresh"] = wrk.write_cycling_script(body, directory, "signin-fresh", fresh)
        yield setup


def time_sign_in(model_dir: Path, runs: int, warmup: int) -> dict[str, dict[str, float]]:
    """The /v1 request per call in-process, taking turns: "off" (the app without sign-in), "repeat" (the app
    with sign-in, one token), "fresh" (the same app, a token never seen before each time). For the
    benchmark's own process (bench.inprocess), which may load the app."""
    from app.factory import create_app
    from app.settings import load_settings
    from app.state import STATE_KEY
    from bench.inprocess import wsgi_request

    settings = load_settings({"MODEL_DIR": str(model_dir)})
    with serve_keys() as (issuer, env):
        off = create_app(settings)
        on = create_app(dataclasses.replace(settings, auth=load_settings(env).auth))
        keys = on.extensions[STATE_KEY].keys
        deadline = time.monotonic() + 30
        while not keys.ready:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench.signin: the app did not get its signing keys: {keys.problem}")
            time.sleep(0.01)
        token = issuer.token(lifetime_s=TOKEN_LIFETIME_S)
        fresh: Iterator[str] = iter([issuer.token(lifetime_s=TOKEN_LIFETIME_S) for _ in range(warmup + runs)])
        v1 = protocols(reference_digit(), "")["v1"]
        calls: dict[str, Any] = {
            "off": wsgi_request(off, v1),
            "repeat": wsgi_request(on, v1, lambda: token),
            "fresh": wsgi_request(on, v1, lambda: next(fresh)),
        }
        return time_interleaved(calls, runs, warmup)
