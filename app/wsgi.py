"""The WSGI entry a server loads in each worker process: `app.wsgi:application`.

Importing it builds the app from the environment and loads the model, once per worker; tests use
`app.factory.create_app` instead.
"""

from __future__ import annotations

import sys

from app.factory import create_app
from app.settings import load_settings
from model.errors import ModelError

try:
    application = create_app(load_settings())
except ModelError as exc:
    # `python -m app` verified the model before starting workers, so this is rare (a file changed since,
    # or an interface only onnxruntime sees). One clear line, no traceback, and the worker stops.
    print(f"app: worker cannot serve the model: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None
