"""Domain errors. Services raise these; `api/` maps them to HTTP once, `cli.py` to exit codes once."""

from __future__ import annotations


class HonchoLocalError(Exception):
    """Base of every error honcho-local raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(HonchoLocalError):
    """The request is well-formed transport-wise but its content is not acceptable (HTTP 422)."""


class BadRequest(HonchoLocalError):
    """The request breaks a rule that is not a validation rule, e.g. the observer limit (HTTP 400)."""


class NotFound(HonchoLocalError):
    """A named resource does not exist (HTTP 404)."""


class Conflict(HonchoLocalError):
    """The request conflicts with the current state (HTTP 409)."""


class PayloadTooLarge(HonchoLocalError):
    """A request body (an uploaded file) over its size limit (HTTP 413)."""


class UnsupportedMediaType(HonchoLocalError):
    """A body of a type the route cannot read, e.g. an upload with no text extractor (HTTP 415)."""


class ModelError(HonchoLocalError):
    """A model call failed or returned output that could not be used after retries."""

    def __init__(self, detail: str, raw_output: str | None = None) -> None:
        super().__init__(detail)
        self.raw_output = raw_output


class ModelUnavailable(HonchoLocalError):
    """No model is configured or loadable for a request that needs one (HTTP 503)."""


class StoreLocked(HonchoLocalError):
    """The DuckDB file is held by another process (normally a running `honcho-local serve`)."""


class DatasetUnavailable(HonchoLocalError):
    """A benchmark dataset is not in the datasets folder, is incomplete, or could not be fetched."""


class StorageFull(HonchoLocalError):
    """The disk holding the store is full: the write was not stored (HTTP 507)."""


class StoreUnavailable(HonchoLocalError):
    """The store cannot serve right now (being reopened after a fatal error) (HTTP 503)."""


class StoreCorrupt(HonchoLocalError):
    """The store's file cannot be opened: damaged; restore it from a backup."""
