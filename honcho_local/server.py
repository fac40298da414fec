"""`honcho-local serve`: build the services, serve the app with uvicorn, close cleanly on exit."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator

import uvicorn

from honcho_local import metrics, runtime, serverinfo
from honcho_local.api import create_app
from honcho_local.api.guard import serving_app
from honcho_local.config import Settings
from honcho_local.errors import Conflict
from honcho_local.http_writes import CoalescingHttpTools
from honcho_local.mcp import door
from honcho_local.wiring import build_services

log = logging.getLogger("honcho_local")


def run_server(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime.tune_for_serving()  # the switch interval and collector thresholds (runtime.py)
    listener = bind(settings.host, settings.port)  # before anything is built or said: a taken port fails first
    metrics.watch_gc()
    services = build_services(settings, with_worker=True)
    services.worker.start()
    app = create_app(services, http_threads=settings.http_threads or (os.cpu_count() or 1) + 1)
    runtime.freeze_long_lived()
    host, port = listener.getsockname()[:2]
    log.info("honcho-local serving %s on http://%s:%d", settings.db_path, host, port)
    mcp = door.mounted(serverinfo.loopback_url(host, port), settings.mcp_default_workspace)  # /mcp (docs/mcp.md)
    config = uvicorn.Config(serving_app(app, services.ingest, settings, mcp), host=settings.host, port=port,
                            log_level=settings.log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=5,
                            http=CoalescingHttpTools)  # one socket write per response (http_writes.py)
    # how the CLI finds this server and its admin routes while it holds the store (docs/admin.md); withdrawn
    # at the app's shutdown too, as uvicorn ends a SIGTERM'd process right after it (re-raising the signal)
    token = app.state.admin_token = serverinfo.publish(settings.home, serverinfo.loopback_url(host, port), os.getpid())
    app.on_shutdown.append(lambda: serverinfo.withdraw(settings.home, token))
    try:
        _Server(config).run(sockets=[listener])
    finally:
        serverinfo.withdraw(settings.home, token)
        listener.close()
        services.close()
    _end_process()


def _end_process() -> None:
    """Leave at once once the clean shutdown is done (store checkpointed and closed, worker stopped).

    The interpreter's own finalization would then destroy native objects (llama.cpp models, tantivy's
    index, DuckDB cursors) in no particular order, some still referenced by daemon threads: it crashed
    with SIGSEGV after a finished shutdown in 2 of 6 SIGTERM trials. Nothing is left to save by then."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _Server(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM or SIGINT ends `run()` normally: uvicorn re-raises the
    caught signal after its own shutdown, which killed the process (SIGTERM) or raised KeyboardInterrupt
    (SIGINT, exit 1) before `services.close()` could checkpoint the store and settle the worker."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._captured_signals:
            log.info("stopping on %s: clean shutdown", signal.Signals(self._captured_signals[-1]).name)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now, so that "serving … on" is only said of a port we hold."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Conflict(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another server using it? "
                       f"stop it, or pick another port with `honcho-local serve --port N`)") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
