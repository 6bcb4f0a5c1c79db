"""The serving app's settings: read once from environment variables, validated, frozen.

Every variable has a default; a bad value stops the start with a message that names the variable, the value
and what is allowed. Standard library only, for `python -m app`: it imports this module before it sets
PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads once, when first imported, so nothing here may pull
that in; and a bad value is refused (exit code 2) before Flask, numpy and onnxruntime load. (Not to keep
the master light: it imports those anyway, to verify the model before serving.)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
# In a checkout `make serve` fetches the model here; the image sets MODEL_DIR=/srv/model.
DEFAULT_MODEL_DIR = REPO_ROOT / "build" / "model"
SERVER_NAMES = ("granian", "gunicorn-sync", "gunicorn-gthread")
DEFAULT_SERVER = "granian"
LOG_LEVELS = ("debug", "info", "warning", "error")
# Below Pillow's own decompression-bomb warning threshold (89 Mpx): our cap is the one that speaks.
MAX_IMAGE_PIXELS_CEILING = 1 << 26
# AUTH_ISSUER and AUTH_JWKS_URL in plain http only to this machine (tests, a local key server): elsewhere a
# man in the middle could hand the app keys of his own, and every token he signed would pass.
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# An app role's value as Entra allows it: printable ASCII without spaces.
_ROLE = re.compile(r"^[!-~]{1,249}$")
# Entra v2 access tokens carry the API's application (client) id as `aud`, never its api:// identifier URI.
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class SettingsError(ValueError):
    """An environment variable has a value the app cannot run with."""


@dataclass(frozen=True)
class AuthSettings:
    """Sign-in (AUTH_*): Entra ID v2 access tokens for this API, checked by app.signin."""

    audience: str  # the `aud` a token must carry: the API's application (client) id
    issuer: str  # the `iss` a token must carry: https://login.microsoftonline.com/<tenant id>/v2.0
    jwks_url: (
        str | None
    )  # where the signing keys are; None: the jwks_uri of the issuer's OpenID configuration
    required_role: str | None  # an app role (`roles` claim) a caller must hold; None: any valid token

    @property
    def token_scope(self) -> str:
        """The scope a client asks Entra for (any registration answers to `<client id>/.default`)."""
        return f"{self.audience}/.default"

    @property
    def token_command(self) -> str:
        """How a person gets a token (the API's registration pre-authorizes the Azure CLI)."""
        return f"az account get-access-token --scope {self.token_scope} --query accessToken -o tsv"


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    host: str
    port: int
    metrics_port: int
    workers: int
    threads: int
    server: str
    max_batch: int
    max_body_bytes: int
    max_image_pixels: int
    app_version: str
    git_commit: str
    log_level: str
    access_log: bool
    fast_lane: bool
    auth: AuthSettings | None = None  # None: sign-in off (AUTH_AUDIENCE unset)


# name, default (as the env var would spell it, or None when computed), meaning: the README's table.
ENV_VARS: tuple[tuple[str, str, str], ...] = (
    ("MODEL_DIR", "<repo>/build/model", "directory with model.onnx + manifest.json (the image: /srv/model)"),
    ("HOST", "0.0.0.0", "address the app and metrics ports bind to"),
    ("PORT", "8080", "the app's HTTP port"),
    ("METRICS_PORT", "9090", "Prometheus /metrics port (must differ from PORT)"),
    (
        "WORKERS",
        "CPUs available",
        "server worker processes (default: CPUs in the affinity mask and cgroup quota)",
    ),
    ("THREADS", "1", "request threads per worker (granian blocking threads, gunicorn-gthread threads)"),
    ("SERVER", DEFAULT_SERVER, f"WSGI server: {', '.join(SERVER_NAMES)}"),
    ("MAX_BATCH", "64", "most inputs (instances or images) in one /v1/predict request"),
    ("MAX_BODY_BYTES", "8388608", "largest request body in bytes (8 MiB)"),
    ("MAX_IMAGE_PIXELS", "4194304", "largest image, width x height, checked before decoding (2048x2048)"),
    ("APP_VERSION", "dev", "the app's version, shown by /version"),
    ("GIT_COMMIT", "unknown", "the commit the app was built from, shown by /version"),
    ("LOG_LEVEL", "info", f"server log level: {', '.join(LOG_LEVELS)}"),
    ("ACCESS_LOG", "false", "log every request (true/false); off by default, it costs throughput"),
    ("FAST_LANE", "true", "the WSGI fast lane for plain JSON /v1/predict and OIP inference (true/false)"),
    ("AUTH_AUDIENCE", "unset", "the `aud` of the Entra ID access tokens this API takes; unset: sign-in off"),
    ("AUTH_ISSUER", "unset", "the tokens' `iss`, https://login.microsoftonline.com/<tenant id>/v2.0"),
    ("AUTH_JWKS_URL", "discovered", "the signing keys' URL; default: the issuer's OpenID configuration says"),
    ("AUTH_REQUIRED_ROLE", "unset", "an app role (`roles` claim) callers must hold; unset: any valid token"),
)


def available_cpus() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota (a pod's limit)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 CPU controller visible: the affinity mask is all we know
    return max(1, cpus)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: os.environ); raises SettingsError naming the first bad variable."""
    env = os.environ if environ is None else environ
    settings = Settings(
        model_dir=_path(env, "MODEL_DIR", DEFAULT_MODEL_DIR),
        host=_text(env, "HOST", "0.0.0.0"),
        port=_int(env, "PORT", 8080, 1, 65535),
        metrics_port=_int(env, "METRICS_PORT", 9090, 1, 65535),
        workers=_int(env, "WORKERS", available_cpus(), 1, 256),
        threads=_int(env, "THREADS", 1, 1, 256),
        server=_choice(env, "SERVER", DEFAULT_SERVER, SERVER_NAMES),
        max_batch=_int(env, "MAX_BATCH", 64, 1, 100_000),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 8 * 1024 * 1024, 1024, 1024**3),
        max_image_pixels=_int(env, "MAX_IMAGE_PIXELS", 2048 * 2048, 64, MAX_IMAGE_PIXELS_CEILING),
        app_version=_text(env, "APP_VERSION", "dev"),
        git_commit=_text(env, "GIT_COMMIT", "unknown"),
        log_level=_choice(env, "LOG_LEVEL", "info", LOG_LEVELS),
        access_log=_bool(env, "ACCESS_LOG", False),
        fast_lane=_bool(env, "FAST_LANE", True),
        auth=_auth(env),
    )
    if settings.port == settings.metrics_port:
        raise SettingsError(
            f"PORT and METRICS_PORT are both {settings.port}; metrics are served on a port of their own, "
            "set METRICS_PORT to another port"
        )
    return settings


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    # An empty variable (`PORT=`) means "unset", as in most shells' and Kubernetes' conventions.
    return value.strip() if value is not None and value.strip() else None


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = _raw(env, name)
    if value is None:
        return default
    if not value.isprintable():
        raise SettingsError(f"{name}={value!r} contains control characters; set {name} to plain text")
    return value


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = _raw(env, name)
    return default if value is None else Path(value)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(
            f"{name}={value!r} is not an integer; set {name} to an integer {low}..{high}"
        ) from None
    if not low <= number <= high:
        raise SettingsError(f"{name}={number} is out of range; set {name} to an integer {low}..{high}")
    return number


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() not in allowed:
        raise SettingsError(f"{name}={value!r} is not allowed; set {name} to one of: {', '.join(allowed)}")
    return value.lower()


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _raw(env, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean; set {name} to true or false")


def is_secure_url(value: object) -> bool:
    """An https:// URL, or plain http to this machine's loopback (a local key server, the tests)."""
    parts = urlsplit(value) if isinstance(value, str) else None
    return (
        parts is not None
        and bool(parts.hostname)
        and (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS))
    )


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = _text(env, name, "")
    if not value:
        return None
    if not is_secure_url(value):
        raise SettingsError(
            f"{name}={value!r} is not an https:// URL; set {name} to one (plain http only to 127.0.0.1)"
        )
    return value  # as given: the issuer is compared with `iss` exactly, a trailing slash included


def _auth(env: Mapping[str, str]) -> AuthSettings | None:
    """Sign-in is on when AUTH_AUDIENCE is set; the other AUTH_* mean nothing without it: refused alone."""
    audience = _text(env, "AUTH_AUDIENCE", "")
    issuer, jwks_url = _url(env, "AUTH_ISSUER"), _url(env, "AUTH_JWKS_URL")
    role = _text(env, "AUTH_REQUIRED_ROLE", "") or None
    if not audience:
        stray = [name for name in ("AUTH_ISSUER", "AUTH_JWKS_URL", "AUTH_REQUIRED_ROLE") if _raw(env, name)]
        if stray:
            raise SettingsError(
                f"{', '.join(stray)} set but AUTH_AUDIENCE is not, so sign-in is off and they would do "
                "nothing; set AUTH_AUDIENCE (the API's application id) or unset them"
            )
        return None
    if not _GUID.match(audience):
        raise SettingsError(
            f"AUTH_AUDIENCE={audience!r} is not an application (client) id; Entra v2 access tokens carry the "
            "API's client id (a GUID) as `aud`, not its api:// identifier URI: set AUTH_AUDIENCE to that GUID"
        )
    if issuer is None:
        raise SettingsError(
            "AUTH_ISSUER is not set, and sign-in (AUTH_AUDIENCE) needs it; set AUTH_ISSUER to the tokens' "
            "issuer, https://login.microsoftonline.com/<tenant id>/v2.0"
        )
    if role is not None and not _ROLE.match(role):
        raise SettingsError(
            f"AUTH_REQUIRED_ROLE={role!r} is not an app role value; set it to the role's value, "
            "without spaces (e.g. Model.Invoke)"
        )
    return AuthSettings(audience=audience, issuer=issuer, jwks_url=jwks_url, required_role=role)
