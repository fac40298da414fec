"""Small helpers over DuckDB results that the repositories share: the one row of an aggregate query."""

from __future__ import annotations

from typing import Any

import duckdb


def one(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The one row an executed query returns (an aggregate: a count, a max); none is an error in the query."""
    row = result.fetchone()
    if row is None:
        raise LookupError("a query that always returns one row returned none")
    return row


def scalar(result: duckdb.DuckDBPyConnection) -> Any:
    """The first column of the one row an executed query returns: `scalar(cur.execute("SELECT count(*) ..."))`."""
    return one(result)[0]
