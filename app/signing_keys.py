"""The token issuer's signing keys (a JWKS), by key id: what app.tokens verifies signatures with.

- Fetched when a worker starts, by a background thread, from AUTH_JWKS_URL or else the `jwks_uri` of the
  issuer's OpenID configuration. Until a fetch succeeds the app is not ready (`problem` says why, /readyz
  answers 503 with it) and the thread logs the reason and retries, backing off to once every 30 s.
- Then refreshed every hour in the background (a key Entra withdraws stops being trusted within the hour). A
  failed refresh changes nothing: the keys in hand stay in use, with a warning in the log, and the app stays
  ready.
- A token naming a key id the set does not have triggers one fetch, at most once a minute (keys are rolled
  over by publishing the new key first; an attacker inventing key ids gets one fetch a minute, not one per
  request). Only that request waits for it; a request whose key is in hand never waits on the network.

The set is replaced whole, never changed in place, so readers take no lock. The keys are joserfc's (RSAKey,
over cryptography's RSA); nothing here parses or verifies a token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from app.settings import AuthSettings, is_secure_url

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 3600.0
UNKNOWN_KID_REFRESH_EVERY_S = 60.0
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # until the first success: 1, 2, 4 .. 30 s between attempts
FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 1 << 20  # a JWKS or OpenID configuration is a few KB; more is not one
ALGORITHM = "RS256"

FetchJson = Callable[[str], Any]


class KeyFetchError(Exception):
    """The keys could not be fetched or used; the message says why, for the log and /readyz."""


def fetch_json(url: str) -> Any:
    """GET `url` and parse its JSON body; KeyFetchError on any network, HTTP or format problem."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise KeyFetchError(f"{url} answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets, TLS failures are OSErrors
        raise KeyFetchError(f"{url} is unreachable ({exc})") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise KeyFetchError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise KeyFetchError(f"{url} did not answer JSON") from None


def parse_jwks(document: Any, url: str) -> dict[str, RSAKey]:
    """The RS256 signing keys of a JWKS document, by kid; other keys (encryption, other types) left out."""
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise KeyFetchError(f"{url} is not a JWKS (no list of keys)")
    keys: dict[str, RSAKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = RSAKey.import_key(dict(entry))
            key.public_key  # noqa: B018  (builds the RSA key now: a bad modulus fails here, not per token)
            keys[kid] = key
        except (JoseError, ValueError, TypeError) as exc:  # not a usable RSA public key
            log.warning("sign-in: the key %r of %s is unusable and left out: %s", kid, url, exc)
    if not keys:
        raise KeyFetchError(f"{url} holds no RS256 signing key with a key id")
    return keys


class SigningKeys:
    def __init__(
        self,
        settings: AuthSettings,
        fetch: FetchJson = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = settings.issuer
        self._jwks_url = settings.jwks_url  # discovered and kept on the first fetch when None
        self._fetch, self._clock = fetch, clock
        self._keys: Mapping[str, RSAKey] = {}
        self._fetching = threading.Lock()
        self._last_asked = -float("inf")  # when an unknown key id last made us fetch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.problem: str | None = "the signing keys have not been fetched yet"  # None once ready
        self.generation = 0  # counts changes of the key set (app.tokens drops its cache on a change)

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    def get_or_refresh(self, kid: str) -> RSAKey | None:
        """The key with this id; if unknown, one fetch first, unless one started less than a minute ago."""
        key = self._keys.get(kid)
        if key is not None or not self.ready:
            return key  # before the first fetch the background thread is at it: never a second fetcher
        with self._fetching:
            if kid not in self._keys and self._clock() - self._last_asked >= UNKNOWN_KID_REFRESH_EVERY_S:
                self._last_asked = self._clock()
                try:
                    self._refresh_locked()
                except KeyFetchError as exc:
                    log.warning(
                        "sign-in: a token names the unknown key %r and the refresh failed: %s", kid, exc
                    )
        return self._keys.get(kid)

    def refresh(self) -> int:
        """Fetch the key set now (the background thread's job); returns the number of keys. KeyFetchError when
        it fails: the keys in hand stay."""
        with self._fetching:
            return self._refresh_locked()

    def _refresh_locked(self) -> int:
        url = self._jwks_url or self._discover()
        keys = parse_jwks(self._fetch(url), url)
        self._jwks_url = url
        if keys.keys() != self._keys.keys():
            self.generation += 1
        self._keys, self.problem = keys, None
        return len(keys)

    def _discover(self) -> str:
        """The jwks_uri of the issuer's OpenID configuration, which must name the same issuer (OpenID Connect
        Discovery 1.0, section 4.3: else a configuration of another issuer could hand us its keys)."""
        url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
        document = self._fetch(url)
        if not isinstance(document, Mapping) or document.get("issuer") != self._issuer:
            found = document.get("issuer") if isinstance(document, Mapping) else None
            raise KeyFetchError(f"{url} names the issuer {found!r}, not AUTH_ISSUER {self._issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not is_secure_url(jwks_uri):
            raise KeyFetchError(f"{url} has no https jwks_uri (found {jwks_uri!r})")
        return str(jwks_uri)

    # ---------------------------------------------------------------------------------- the background thread

    def start(self) -> None:
        """Start fetching in the background (once per worker process: threads do not survive a fork)."""
        self._thread = threading.Thread(target=self._run, name="signing-keys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=FETCH_TIMEOUT_S * 3)

    def _refresh_logging_bugs(self) -> int:
        """refresh(), a bug turned into a failed fetch (logged with its traceback): the thread lives on."""
        try:
            return self.refresh()
        except KeyFetchError:
            raise
        except Exception as exc:
            log.exception("sign-in: fetching the signing keys failed unexpectedly")
            raise KeyFetchError(f"unexpected {type(exc).__name__}, see the log") from None

    def _run(self) -> None:
        delay, failures = RETRY_FIRST_S, 0
        while not self._stop.is_set():
            try:
                count = self._refresh_logging_bugs()
            except KeyFetchError as exc:
                failures += 1
                if self.ready:  # keys in hand: keep serving with them
                    log.warning(
                        "sign-in: refreshing the signing keys failed (%s); still using the %d keys fetched "
                        "before, retrying in %.0f s",
                        exc,
                        len(self._keys),
                        RETRY_MAX_S,
                    )
                    self._stop.wait(RETRY_MAX_S)
                    continue
                self.problem = f"the signing keys could not be fetched: {exc}"
                log.warning("sign-in: %s; not ready until they are, retrying in %.0f s", self.problem, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            # A recovery closes the warnings above, so it is said at their level; a routine fetch is info.
            (log.warning if failures else log.info)(
                "sign-in: %d signing keys from %s%s",
                count,
                self._jwks_url,
                " after failures" if failures else "",
            )
            delay, failures = RETRY_FIRST_S, 0
            self._stop.wait(REFRESH_EVERY_S)
