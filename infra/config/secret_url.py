"""A secret URL from config (a webhook, which carries its own token): https:// only, checked when the value
resolves, which a preview does too, so a bad value stops the preview; the message names the key, never the
value."""

from __future__ import annotations

from urllib.parse import urlsplit

import pulumi

from infra.config.errors import ConfigError


def https_only(url: str, key: str) -> str:
    """The URL, if it is https://<host>/...: anything else would send its token in the clear."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{key}: is not an https:// URL (the value is a secret and is not shown); set it with "
            f"`pulumi config set --secret {key} https://<host>/<path>`"
        )
    return url.strip()


def https_secret(value: pulumi.Input[str], key: str) -> pulumi.Output[str]:
    """The secret `value` of `key`, checked by https_only, still secret."""
    return pulumi.Output.secret(pulumi.Output.from_input(value).apply(lambda url: https_only(url, key)))
