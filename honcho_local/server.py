"""`honcho-local serve`: build the services, serve the app with uvicorn, close cleanly on exit."""

from __future__ import annotations

import gc
import logging
import os
import sys

import uvicorn

from honcho_local import metrics
from honcho_local.api import create_app
from honcho_local.config import Settings
from honcho_local.wiring import build_services

log = logging.getLogger("honcho_local")


def run_server(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The writer thread releases the GIL inside DuckDB and must get it back quickly; the default
    # 5 ms switch interval makes it queue behind request threads (measured: BEGIN/COMMIT calls
    # dominated the writer's time).
    sys.setswitchinterval(0.0005)
    metrics.watch_gc()
    services = build_services(settings, with_worker=True)
    services.worker.start()
    app = create_app(services, http_threads=settings.http_threads or (os.cpu_count() or 1) + 1)
    # Everything built so far (modules, the app, models' Python state) lives as long as the process:
    # move it out of the collector's reach, so a full collection only walks what requests allocate
    # (measured: full collections took ~46 ms each, stopping every thread, and set the write tail).
    gc.collect()
    gc.freeze()
    log.info("honcho-local serving %s on http://%s:%d", settings.db_path, settings.host, settings.port)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run()
    finally:
        services.close()
