"""The production WSGI servers, by name (SERVER=...): the one place that knows how to start each.

The benchmark runs the same Flask app under each and the fastest is the default, app.settings.DEFAULT_SERVER.
Every server forks its worker processes from this master, and each worker loads `app.wsgi:application`: the
app and its own model session. The master is not light: `python -m app` has already imported Flask, numpy,
onnxruntime and Pillow to verify the model before serving, so the workers start with those loaded. Only a
server's own package is imported late, in its start function: gunicorn is not in the image.
"""

from __future__ import annotations

from collections.abc import Callable

from app import logs
from app.settings import Settings

WSGI_TARGET = "app.wsgi:application"


class ServerUnavailable(RuntimeError):
    """The chosen server is not installed in this environment."""


def serve(settings: Settings) -> None:
    """Serve the app with settings.server until a signal stops it (blocks)."""
    SERVERS[settings.server](settings)


def _serve_granian(settings: Settings) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        WSGI_TARGET,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        # The work is CPU-bound under the GIL: more Python threads per worker add switching, not throughput.
        blocking_threads=settings.threads,
        http=HTTPModes.http1,  # behind a Kubernetes Service / load balancer: HTTP/1.1 only
        websockets=False,
        log_level=LogLevels(settings.log_level),
        log_access=settings.access_log,
        # The app's one logging setup (app/logs.py) in granian's master and workers: JSON lines on stderr.
        log_dictconfig=logs.config(settings.log_level),
        log_access_format=logs.ACCESS_FORMAT,
        # A crashed worker comes back; a worker that cannot even start crashes again at once, which granian
        # detects as a crash loop and exits non-zero (the container restarts, the failure is visible).
        respawn_failed_workers=True,
        workers_kill_timeout=10,
    ).serve()


def _gunicorn(worker_class: str) -> Callable[[Settings], None]:
    def start(settings: Settings) -> None:
        try:
            from gunicorn.app.base import BaseApplication
        except ImportError:
            raise ServerUnavailable(
                f"SERVER={settings.server} needs gunicorn, which is not installed here; "
                "install it or set SERVER=granian"
            ) from None

        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        options = {
            "bind": f"{host}:{settings.port}",
            "workers": settings.workers,
            "worker_class": worker_class,
            # gunicorn silently turns a sync worker with threads > 1 into gthread: keep "sync" what it says.
            "threads": settings.threads if worker_class == "gthread" else 1,
            "loglevel": settings.log_level,
            "accesslog": "-" if settings.access_log else None,
            "errorlog": "-",
            "logconfig_dict": logs.config(settings.log_level),  # the app's JSON lines (app/logs.py)
            "keepalive": 75,  # longer than cloud load balancers' idle timeouts: no reset races
            "graceful_timeout": 10,
            "worker_tmp_dir": "/tmp",  # the image's root filesystem is read-only
            "proc_name": "app",
            # gunicorn 27's control socket (under $HOME) is an admin channel this image does not need.
            "control_socket_disable": True,
        }

        class _Gunicorn(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                for key, value in options.items():
                    self.cfg.set(key, value)

            def load(self) -> Callable[..., object]:
                from app.wsgi import application

                return application

        _Gunicorn().run()

    return start


SERVERS: dict[str, Callable[[Settings], None]] = {
    "granian": _serve_granian,
    "gunicorn-sync": _gunicorn("sync"),
    "gunicorn-gthread": _gunicorn("gthread"),
}
