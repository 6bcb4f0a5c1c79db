"""The app's log lines: one JSON object per line on stderr, from the master, the WSGI server and the workers
alike, through one logging configuration (`config()`), so that Log Analytics can query them by field
(ContainerLogV2 parses a line that is a JSON object into its LogMessage column).

Each line has `time` (UTC, ISO 8601), `level`, `logger` and `message`; an exception adds `exception` (its
traceback, still on the same line), `extra={...}` fields are added as they are, and granian's access log
(ACCESS_LOG=true) adds `method`, `path`, `status`, `duration_ms` and `client`. Standard library only:
`python -m app` sets it up before reading its settings, so that even a bad setting is reported as JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.settings import LOG_LEVELS

# What every LogRecord has: anything else on a record came in through `extra=` and is a field of its own.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
ACCESS_LOGGER = "granian.access"
# granian's access-log fields (granian/log.py, log_request_builder) and the names they get here. The query
# string is left out: it is client input and may carry anything.
_ACCESS_FIELDS = {
    "method": "method",
    "path": "path",
    "status": "status",
    "dt_ms": "duration_ms",
    "addr": "client",
}
ACCESS_FORMAT = "%(method)s %(path)s %(status)d"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == ACCESS_LOGGER and isinstance(record.args, Mapping):
            entry.update(
                {name: record.args[key] for key, name in _ACCESS_FIELDS.items() if key in record.args}
            )
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def level_from(environ: Mapping[str, str]) -> str:
    """LOG_LEVEL as the settings read it (app/settings.py), or info when it is not one they allow (they
    then refuse it, and that refusal is logged at info's threshold)."""
    value = (environ.get("LOG_LEVEL") or "").strip().lower()
    return value if value in LOG_LEVELS else "info"


def config(level: str) -> dict[str, Any]:
    """The one logging configuration (logging.config.dictConfig): `python -m app` applies it, and hands it to
    the WSGI server, which applies it again in its master and in every worker. Every logger propagates to the
    root's one JSON handler; granian's own config is replaced, not merged (granian.log.configure_logging
    updates its defaults with this dict's top-level keys)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            ACCESS_LOGGER: {"level": "INFO"},
            # gunicorn (SERVER=gunicorn-*) gives its loggers text handlers of their own and stops them
            # propagating before it applies this config: configuring them here removes those handlers.
            "gunicorn.error": {"propagate": True},
            "gunicorn.access": {"propagate": True},
        },
    }
