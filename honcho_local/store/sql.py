"""What the entity modules of the store share: the cursor type, the one row of an aggregate query, rows
as dicts with their JSON columns decoded, a page of typed rows with its total, compact JSON text, and
replacing a row's metadata or configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb
import msgspec

from honcho_local.store.writectx import WriteContext, ws_tag

Cursor = duckdb.DuckDBPyConnection
Row = TypeVar("Row")


def one(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The one row an executed query returns (an aggregate: a count, a max); none is an error in the query."""
    row = result.fetchone()
    if row is None:
        raise LookupError("a query that always returns one row returned none")
    return row


def scalar(result: duckdb.DuckDBPyConnection) -> Any:
    """The first column of the one row an executed query returns: `scalar(cur.execute("SELECT count(*) ..."))`."""
    return one(result)[0]


def dumps(value: Any) -> str:
    """Compact JSON text (what json.dumps with separators=(",", ":") and ensure_ascii=False gives, for
    JSON-born values) by msgspec: an order of magnitude faster, and every event's metadata passes here."""
    return _ENCODER.encode(value).decode()


_ENCODER = msgspec.json.Encoder()


def _decode(row: tuple[Any, ...], names: list[str], json_cols: set[str]) -> dict[str, Any]:
    return {n: (json.loads(v) if n in json_cols and v is not None else v) for n, v in zip(names, row)}


def fetch(cur: Cursor, sql: str, params: list[Any], json_cols: set[str]) -> list[dict[str, Any]]:
    result = cur.execute(sql, params)
    names = [d[0] for d in result.description]
    return [_decode(row, names, json_cols) for row in result.fetchall()]


def rows_page(cur: Cursor, base_sql: str, params: list[Any], order: str, page_no: int, size: int,
              row: Callable[[tuple[Any, ...]], Row]) -> tuple[list[Row], int]:
    """One page of a query, each row built by `row` (a typed row from a `SELECT` of its fields), plus the total."""
    total = scalar(cur.execute(f"SELECT count(*) FROM ({base_sql})", params))
    result = cur.execute(f"{base_sql} ORDER BY {order} LIMIT ? OFFSET ?", [*params, size, (page_no - 1) * size])
    return [row(r) for r in result.fetchall()], total


def columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows)]


def replace_fields(ctx: WriteContext, table: str, where: str, key: list[Any], metadata: dict | None,
                    configuration: dict | None) -> None:
    """Replace `metadata` and/or `configuration` of one row (a field given as None is left alone).
    `key` starts with the workspace id (every table here belongs to one)."""
    for column, value in (("metadata", metadata), ("configuration", configuration)):
        if value is not None:
            ctx.conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", [dumps(value), *key])
            ctx.touch(ws_tag(key[0]))
