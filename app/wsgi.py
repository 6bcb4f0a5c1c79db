"""The WSGI entry a server loads in each worker process: `app.wsgi:application`.

Importing it builds the app from the environment and loads the model, once per worker; tests use
`app.factory.create_app` instead.
"""

from __future__ import annotations

import logging

from app.factory import create_app
from app.settings import load_settings
from model.errors import ModelError

try:
    application = create_app(load_settings())
except ModelError as exc:
    # `python -m app` verified the model before starting workers, so this is rare (a file changed since,
    # or an interface only onnxruntime sees). One clear line (JSON, app/logs.py: the server configured
    # logging in this worker), no traceback, and the worker stops.
    logging.getLogger("app").error(f"worker cannot serve the model: {exc}")
    raise SystemExit(3) from None
