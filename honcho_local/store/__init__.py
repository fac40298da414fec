"""Storage on one DuckDB file: the append-only event log and the representation store.

Only this package imports duckdb. `Store` owns the file; repositories are plain functions that take
a connection (a writer transaction) or a read cursor.
"""

from honcho_local.store.db import Store, Tag, WriteContext, log_tag, peer_tag, summaries_tag, utcnow, ws_tag

__all__ = ["Store", "Tag", "WriteContext", "log_tag", "peer_tag", "summaries_tag", "utcnow", "ws_tag"]
