"""Prometheus metrics (prometheus-client), one registry per process, rendered at `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_WRITTEN = Counter("honcho_events_written", "Events appended to the log", ["kind"], registry=REGISTRY)
WRITE_GROUP_SECONDS = Histogram(
    "honcho_write_group_seconds", "Time the writer thread spends on one group commit", registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2))
WRITE_GROUP_OPS = Histogram(
    "honcho_write_group_operations", "Write operations committed together in one group", registry=REGISTRY,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024))
WRITE_QUEUE_WAIT_SECONDS = Histogram(
    "honcho_write_queue_wait_seconds", "Time a write operation waits before its group starts", registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1))
EVENT_LOOP_LAG_SECONDS = Histogram(
    "honcho_event_loop_lag_seconds", "How late the HTTP event loop runs a 50 ms timer", registry=REGISTRY,
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1))
REQUEST_SECONDS = Histogram(
    "honcho_http_request_seconds", "Server-side time from request start to response end", ["route"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))
CHECKPOINTS = Counter("honcho_store_checkpoints", "DuckDB checkpoints run by the writer when idle",
                      registry=REGISTRY)
CHECKPOINT_SECONDS = Histogram(
    "honcho_store_checkpoint_seconds", "Time one DuckDB checkpoint takes (writes wait for it)", registry=REGISTRY,
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
READ_CACHE_LOOKUPS = Gauge(
    "honcho_read_cache_lookups", "Read-cache lookups since the server started, by result (hit or miss)", ["result"],
    registry=REGISTRY)
READ_CACHE_ENTRIES = Gauge("honcho_read_cache_entries", "Entries held by the read cache", registry=REGISTRY)
TASKS_QUEUED = Gauge("honcho_reasoning_tasks_queued", "Work units waiting for or in reasoning", registry=REGISTRY)
REASONING_SECONDS = Histogram(
    "honcho_reasoning_duration_seconds", "Wall time of one reasoning model call (retries excluded)", ["task"],
    registry=REGISTRY, buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 300))
TOKENS = Counter("honcho_reasoning_tokens", "Model tokens processed by the worker", ["task", "kind"],
                 registry=REGISTRY)
CHAT_TOKENS = Counter("honcho_chat_tokens", "Model tokens processed by dialectic chat", ["kind"], registry=REGISTRY)
CHAT_SECONDS = Histogram(
    "honcho_chat_duration_seconds", "Wall time of one dialectic chat model call", registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 300))
MODEL_ERRORS = Counter("honcho_model_errors", "Failed model calls (after the model layer's own retries)",
                       ["task"], registry=REGISTRY)
FALLBACK_USES = Counter("honcho_model_fallback_uses", "Calls answered by the fallback model", ["task"],
                        registry=REGISTRY)
CONCLUSIONS = Counter("honcho_conclusions_derived", "Conclusions stored by the deriver (per observer)",
                      registry=REGISTRY)
UNIT_RUNS = Counter("honcho_work_unit_runs", "Work-unit passes (each works its units until caught up)",
                    registry=REGISTRY)
UNITS_FAILED = Counter("honcho_work_units_failed", "Work units that gave up after their retries",
                       registry=REGISTRY)
GC_PAUSE_SECONDS = Histogram(
    "honcho_gc_pause_seconds", "Python garbage-collector pauses (every thread stops)", ["generation"],
    registry=REGISTRY, buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5))
INFO = Gauge("honcho_build_info", "Build information", ["version"], registry=REGISTRY)


def watch_gc() -> None:
    """Time every collection (gc.callbacks): a full collection over a large heap stops all threads,
    which shows in the write path's tail latency."""
    import gc
    import time

    started: list[float] = [0.0]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            GC_PAUSE_SECONDS.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - started[0])

    if not any(getattr(cb, "__qualname__", "").startswith("watch_gc") for cb in gc.callbacks):
        gc.callbacks.append(callback)


def render() -> bytes:
    return generate_latest(REGISTRY)
