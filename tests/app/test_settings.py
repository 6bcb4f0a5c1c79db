"""Settings: defaults, and a clear error naming the variable for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.servers import SERVERS
from app.settings import (
    DEFAULT_MODEL_DIR,
    ENV_VARS,
    SERVER_NAMES,
    AuthSettings,
    Settings,
    SettingsError,
    is_secure_url,
    load_settings,
)
from tests.conftest import REPO

AUDIENCE = "3f1c5e0a-1111-4222-8333-444444444444"
ISSUER = "https://login.microsoftonline.com/72f988bf-0000-4000-8000-00000000a11e/v2.0"


def test_defaults_from_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings.model_dir == DEFAULT_MODEL_DIR == Path(__file__).resolve().parents[2] / "build" / "model"
    assert (settings.host, settings.port, settings.metrics_port) == ("0.0.0.0", 8080, 9090)
    assert (settings.max_batch, settings.max_body_bytes, settings.max_image_pixels) == (
        64,
        8 << 20,
        2048 * 2048,
    )
    assert settings.server == "granian" and settings.threads == 1 and settings.workers >= 1
    assert (settings.app_version, settings.git_commit, settings.access_log) == ("dev", "unknown", False)
    assert settings.fast_lane is True
    assert settings.auth is None  # sign-in off


def test_every_variable_is_read() -> None:
    env = {
        "MODEL_DIR": "/srv/model",
        "HOST": "127.0.0.1",
        "PORT": "8000",
        "METRICS_PORT": "9000",
        "WORKERS": "3",
        "THREADS": "4",
        "SERVER": "gunicorn-gthread",
        "MAX_BATCH": "8",
        "MAX_BODY_BYTES": "65536",
        "MAX_IMAGE_PIXELS": "10000",
        "APP_VERSION": "1.2.3",
        "GIT_COMMIT": "abc123",
        "LOG_LEVEL": "warning",
        "ACCESS_LOG": "true",
        "FAST_LANE": "false",
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_ISSUER": ISSUER,
        "AUTH_JWKS_URL": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
        "AUTH_REQUIRED_ROLE": "Model.Invoke",
    }
    assert load_settings(env) == Settings(
        model_dir=Path("/srv/model"),
        host="127.0.0.1",
        port=8000,
        metrics_port=9000,
        workers=3,
        threads=4,
        server="gunicorn-gthread",
        max_batch=8,
        max_body_bytes=65536,
        max_image_pixels=10000,
        app_version="1.2.3",
        git_commit="abc123",
        log_level="warning",
        access_log=True,
        fast_lane=False,
        auth=AuthSettings(
            audience=AUDIENCE,
            issuer=ISSUER,
            jwks_url="https://login.microsoftonline.com/common/discovery/v2.0/keys",
            required_role="Model.Invoke",
        ),
    )
    # The README's table documents exactly the variables that are read.
    assert {name for name, _, _ in ENV_VARS} == set(env)


def test_the_readme_documents_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    assert [name for name, _, _ in ENV_VARS if f"| `{name}` |" not in readme] == []


def test_empty_variable_means_default() -> None:
    assert load_settings({"PORT": "", "WORKERS": "  "}).port == 8080


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "http", "PORT='http' is not an integer"),
        ("PORT", "0", "PORT=0 is out of range"),
        ("PORT", "65536", "PORT=65536 is out of range"),
        ("METRICS_PORT", "-1", "METRICS_PORT=-1 is out of range"),
        ("WORKERS", "0", "WORKERS=0 is out of range"),
        ("THREADS", "1.5", "THREADS='1.5' is not an integer"),
        ("MAX_BATCH", "0", "MAX_BATCH=0 is out of range"),
        ("MAX_BODY_BYTES", "10", "MAX_BODY_BYTES=10 is out of range"),
        ("MAX_IMAGE_PIXELS", str(1 << 30), "MAX_IMAGE_PIXELS=1073741824 is out of range"),
        ("SERVER", "uwsgi", "SERVER='uwsgi' is not allowed"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='loud' is not allowed"),
        ("ACCESS_LOG", "maybe", "ACCESS_LOG='maybe' is not a boolean"),
        ("FAST_LANE", "fast", "FAST_LANE='fast' is not a boolean"),
        ("FAST_LANE", "2", "FAST_LANE='2' is not a boolean"),
        ("APP_VERSION", "1.0\n", None),  # trailing whitespace is stripped, not an error
        ("GIT_COMMIT", "abc\x00def", "GIT_COMMIT='abc\\x00def' contains control characters"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, expected: str | None) -> None:
    if expected is None:
        load_settings({name: value})
        return
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert str(raised.value).startswith(expected)
    assert f"set {name} to" in str(raised.value), "the message says what to do"


@pytest.mark.parametrize(
    ("value", "fast_lane"),
    [
        ("true", True),
        ("On", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("OFF", False),
        ("0", False),
    ],
)
def test_fast_lane_is_a_boolean(value: str, fast_lane: bool) -> None:
    assert load_settings({"FAST_LANE": value}).fast_lane is fast_lane


def test_metrics_port_must_differ_from_port() -> None:
    with pytest.raises(SettingsError, match="PORT and METRICS_PORT are both 8000"):
        load_settings({"PORT": "8000", "METRICS_PORT": "8000"})


def test_every_server_name_has_a_start_function() -> None:
    assert set(SERVERS) == set(SERVER_NAMES)


def test_sign_in_needs_only_audience_and_issuer() -> None:
    auth = load_settings({"AUTH_AUDIENCE": AUDIENCE, "AUTH_ISSUER": ISSUER}).auth
    assert auth == AuthSettings(audience=AUDIENCE, issuer=ISSUER, jwks_url=None, required_role=None)
    assert auth.token_scope == f"{AUDIENCE}/.default"
    # Plain http is allowed to this machine only (a local key server, the tests).
    local = load_settings(
        {"AUTH_AUDIENCE": AUDIENCE, "AUTH_ISSUER": "http://127.0.0.1:8081/tenant/v2.0"}
    ).auth
    assert local is not None and local.issuer == "http://127.0.0.1:8081/tenant/v2.0"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AUTH_AUDIENCE": AUDIENCE}, "AUTH_ISSUER is not set"),
        ({"AUTH_AUDIENCE": f"api://{AUDIENCE}", "AUTH_ISSUER": ISSUER}, "AUTH_AUDIENCE='api://"),
        ({"AUTH_AUDIENCE": AUDIENCE, "AUTH_ISSUER": "login.microsoftonline.com"}, "AUTH_ISSUER='login."),
        (
            {"AUTH_AUDIENCE": AUDIENCE, "AUTH_ISSUER": "http://login.microsoftonline.com/t/v2.0"},
            "AUTH_ISSUER='http://login.microsoftonline.com/t/v2.0' is not an https:// URL",
        ),
        (
            {"AUTH_AUDIENCE": AUDIENCE, "AUTH_ISSUER": ISSUER, "AUTH_JWKS_URL": "ftp://keys"},
            "AUTH_JWKS_URL='ftp://keys' is not an https:// URL",
        ),
        (
            {"AUTH_AUDIENCE": AUDIENCE, "AUTH_ISSUER": ISSUER, "AUTH_REQUIRED_ROLE": "Model Invoke"},
            "AUTH_REQUIRED_ROLE='Model Invoke' is not an app role value",
        ),
        ({"AUTH_ISSUER": ISSUER}, "AUTH_ISSUER set but AUTH_AUDIENCE is not"),
        (
            {"AUTH_REQUIRED_ROLE": "Model.Invoke", "AUTH_JWKS_URL": "https://keys.example"},
            "AUTH_JWKS_URL, AUTH_REQUIRED_ROLE set but AUTH_AUDIENCE is not",
        ),
    ],
)
def test_bad_sign_in_settings_are_refused(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert str(raised.value).startswith(expected), str(raised.value)
    assert "set " in str(raised.value) or "unset" in str(raised.value), "the message says what to do"


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://login.microsoftonline.com/tenant/discovery/v2.0/keys", True),
        ("http://127.0.0.1:8080/keys", True),
        ("http://localhost/keys", True),
        ("http://[::1]:8080/keys", True),
        ("http://login.microsoftonline.com/keys", False),
        ("https://", False),
        ("ftp://127.0.0.1/keys", False),
        (None, False),
    ],
)
def test_one_rule_for_a_url_keys_or_tokens_may_come_from(url: object, secure: bool) -> None:
    """The settings' AUTH_* URLs, and the jwks_uri of an issuer's discovery document (app/signing_keys.py)."""
    assert is_secure_url(url) is secure
