"""The Honcho filter DSL compiled to a parameterised DuckDB WHERE clause.

Grammar: a filter is an object whose keys are `AND` / `OR` / `NOT` (each a list of filters) or
column names. A column's value is a scalar (equality), `null` (IS NULL), `"*"` (no condition), a
list (IN), or an object of operators `gte, lte, gt, lt, ne, in, contains, icontains`. `metadata`
takes an object: per key, an operator object compares that key's value; anything else is JSON
containment (`{"metadata": {"tags": ["a"]}}` matches a list holding "a"). `NOT: [f1, f2]` matches
rows where none of f1, f2 holds. Unknown keys, operators or operand types raise `InvalidInput`.

Under `metadata`, an object is an operator object when any of its keys is an operator or looks like
one (`$`-prefixed, a common operator of other filter languages, or a near-miss of ours): then every
key must be one of ours (issue 31: `{"score": {"between": [1, 5]}}` silently became containment and
matched nothing). Any other object is containment of a nested object (`{"address": {"city": "Oslo"}}`).
An `in` list holds at most MAX_IN_ITEMS values (100,000 took 8.6 s of server time).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from dataclasses import dataclass
from typing import Any

from honcho_local.errors import InvalidInput

OPERATORS = {"gte": ">=", "lte": "<=", "gt": ">", "lt": "<", "ne": "IS DISTINCT FROM"}
ALL_OPERATORS = set(OPERATORS) | {"in", "contains", "icontains"}
LOGICAL = {"AND", "OR", "NOT"}
MAX_DEPTH = 8
MAX_IN_ITEMS = 1_000
# keys that mean an operator in other filter languages (MongoDB, SQLAlchemy filters, Supabase...)
FOREIGN_OPERATORS = {"eq", "neq", "nin", "not_in", "notin", "between", "like", "ilike", "exists", "regex", "match",
                     "startswith", "endswith", "is", "isnull", "not", "gteq", "lteq", "ge", "le", "equals"}


@dataclass(frozen=True)
class Column:
    """A filterable field: its SQL expression and type (`str`, `int`, `bool`, `datetime`, `json`, `ids`: a JSON
    array of ids)."""

    sql: str
    type: str


class FilterCompiler:
    def __init__(self, columns: dict[str, Column]) -> None:
        self.columns = columns
        self.params: list[Any] = []

    def compile(self, filters: Any, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            raise InvalidInput("filters are nested too deeply")
        if not isinstance(filters, dict):
            raise InvalidInput("a filter must be a JSON object")
        parts = [self._key(key, value, depth) for key, value in filters.items()]
        parts = [p for p in parts if p]
        return " AND ".join(f"({p})" for p in parts)

    def _key(self, key: str, value: Any, depth: int) -> str:
        if key in LOGICAL:
            return self._logical(key, value, depth)
        column = self.columns.get(key)
        if column is None:
            allowed = ", ".join(sorted(self.columns))
            raise InvalidInput(f"unknown filter key {key!r}; allowed: {allowed}, AND, OR, NOT")
        if column.type == "json":
            return self._json(key, column, value)
        if column.type == "ids":
            return self._ids(key, column, value)
        return self._scalar(key, column, value)

    def _ids(self, key: str, column: Column, value: Any) -> str:
        """A JSON array of ids: `{"contains": id}` matches rows whose array holds that exact id (Honcho's
        `{"source_ids": {"contains": id}}`); `"*"` is no condition."""
        if value == "*":
            return ""
        if not isinstance(value, dict) or set(value) != {"contains"} or not isinstance(value["contains"], str):
            raise InvalidInput(f"filter on {key!r} takes {{\"contains\": \"<id>\"}} (an id the list must hold)")
        self.params.append(value["contains"])
        return f"list_contains(json_extract_string({column.sql}, '$[*]'), ?)"

    def _logical(self, op: str, value: Any, depth: int) -> str:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{op} takes a non-empty list of filters")
        subs = [self.compile(item, depth + 1) or "TRUE" for item in value]
        if op == "AND":
            return " AND ".join(f"({s})" for s in subs)
        if op == "OR":
            return " OR ".join(f"({s})" for s in subs)
        return " AND ".join(f"NOT ({s})" for s in subs)

    def _scalar(self, key: str, column: Column, value: Any) -> str:
        if value == "*":
            return ""
        if value is None:
            return f"{column.sql} IS NULL"
        if isinstance(value, list):
            return self._op(key, column, "in", value)
        if isinstance(value, dict):
            if not value:
                raise InvalidInput(f"filter on {key!r} has an empty operator object")
            return " AND ".join(self._op(key, column, op, operand) for op, operand in value.items())
        return f"{column.sql} = {self._param(key, column, value)}"

    def _op(self, key: str, column: Column, op: str, operand: Any) -> str:
        if op not in ALL_OPERATORS:
            raise InvalidInput(f"unknown operator {op!r} on {key!r}; allowed: {', '.join(sorted(ALL_OPERATORS))}")
        if op == "in":
            if not isinstance(operand, list):
                raise InvalidInput(f"'in' on {key!r} takes a list")
            _check_in_size(key, operand)
            if not operand:
                return "FALSE"
            marks = ", ".join(self._param(key, column, v) for v in operand)
            return f"{column.sql} IN ({marks})"
        if op in ("contains", "icontains"):
            if column.type != "str" or not isinstance(operand, str):
                raise InvalidInput(f"'{op}' on {key!r} takes a string and needs a text field")
            like = "ILIKE" if op == "icontains" else "LIKE"
            self.params.append(f"%{_escape_like(operand)}%")
            return f"{column.sql} {like} ? ESCAPE '\\'"
        if operand is None:
            if op != "ne":
                raise InvalidInput(f"'{op}' on {key!r} needs a value, not null")
            return f"{column.sql} IS NOT NULL"
        return f"{column.sql} {OPERATORS[op]} {self._param(key, column, operand)}"

    def _param(self, key: str, column: Column, value: Any) -> str:
        self.params.append(_coerce(key, column.type, value))
        return "?"

    def _json(self, key: str, column: Column, value: Any) -> str:
        if value == "*":
            return ""
        if value is None:
            return f"{column.sql} IS NULL"
        if not isinstance(value, dict):
            raise InvalidInput(f"filter on {key!r} takes an object")
        parts = []
        for sub, cond in value.items():
            if not isinstance(sub, str) or not sub:
                raise InvalidInput(f"{key} keys must be non-empty strings")
            if cond == "*":
                continue
            if isinstance(cond, dict) and cond and _operator_object(f"{key}.{sub}", cond):
                parts.append(self._json_ops(key, column, sub, cond))
            else:
                self.params.append(json.dumps({sub: cond}))
                parts.append(f"json_contains({column.sql}, ?::JSON)")
        return " AND ".join(f"({p})" for p in parts)

    def _json_ops(self, key: str, column: Column, sub: str, cond: dict[str, Any]) -> str:
        path = "$." + json.dumps(sub)
        parts = []
        for op, operand in cond.items():
            self.params.append(path)
            text = f"json_extract_string({column.sql}, ?)"
            if op == "in":
                if not isinstance(operand, list) or not operand:
                    raise InvalidInput(f"'in' on {key}.{sub} takes a non-empty list")
                _check_in_size(f"{key}.{sub}", operand)
                self.params.pop()
                self.params.append(path)
                self.params.extend(json.dumps(v, separators=(",", ":")) for v in operand)
                marks = ", ".join("json(?)" for _ in operand)
                parts.append(f"json_extract({column.sql}, ?) IN ({marks})")
                continue
            if op in ("contains", "icontains"):
                if not isinstance(operand, str):
                    raise InvalidInput(f"'{op}' on {key}.{sub} takes a string")
                like = "ILIKE" if op == "icontains" else "LIKE"
                self.params.append(f"%{_escape_like(operand)}%")
                parts.append(f"{text} {like} ? ESCAPE '\\'")
                continue
            if isinstance(operand, bool) or operand is None or isinstance(operand, (list, dict)):
                if op != "ne":
                    raise InvalidInput(f"'{op}' on {key}.{sub} takes a number or a string")
                self.params.append(json.dumps(operand))
                parts.append(f"json_extract({column.sql}, ?) IS DISTINCT FROM ?::JSON")
                continue
            if isinstance(operand, (int, float)):
                self.params.append(operand)
                parts.append(f"TRY_CAST({text} AS DOUBLE) {OPERATORS[op]} ?")
            else:
                self.params.append(str(operand))
                parts.append(f"{text} {OPERATORS[op]} ?")
        return " AND ".join(parts)


def _check_in_size(key: str, values: list[Any]) -> None:
    if len(values) > MAX_IN_ITEMS:
        raise InvalidInput(f"'in' on {key!r} takes at most {MAX_IN_ITEMS:,} values, got {len(values):,}: "
                           f"split the request")


def _looks_like_operator(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return (lowered in ALL_OPERATORS or lowered.startswith("$") or lowered in FOREIGN_OPERATORS
            or bool(difflib.get_close_matches(lowered, ALL_OPERATORS, n=1, cutoff=0.8)))


def _operator_object(where: str, cond: dict[str, Any]) -> bool:
    """True when `cond` is meant as operators (then each must be ours); False for a nested object."""
    if not any(_looks_like_operator(k) for k in cond):
        return False
    unknown = [k for k in cond if k not in ALL_OPERATORS]
    if unknown:
        raise InvalidInput(f"unknown operator {unknown[0]!r} on {where!r}; allowed: {', '.join(sorted(ALL_OPERATORS))} "
                           f"(to match a nested object by containment, use keys that are not operators)")
    return True


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _coerce(key: str, kind: str, value: Any) -> Any:
    if kind == "str":
        if not isinstance(value, str):
            raise InvalidInput(f"filter on {key!r} takes a string, got {type(value).__name__}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"filter on {key!r} takes an integer, got {type(value).__name__}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"filter on {key!r} takes true or false, got {type(value).__name__}")
        return value
    if kind == "datetime":
        return parse_datetime(value, key)
    raise InvalidInput(f"filter on {key!r}: unsupported value")  # pragma: no cover


def parse_datetime(value: Any, what: str) -> dt.datetime:
    """An ISO-8601 string (or datetime) as naive UTC; raises `InvalidInput` otherwise."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(f"{what} must be an ISO-8601 datetime, got {value!r}") from exc
    else:
        raise InvalidInput(f"{what} must be an ISO-8601 datetime string")
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
        except OverflowError:  # 9999-12-31T23:59:59-14:00 is in the year 10000 in UTC
            raise InvalidInput(f"{what} {str(value)[:64]!r} is out of range: in UTC it must fall between "
                               "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z") from None
    return parsed


def compile_filters(filters: Any, columns: dict[str, Column]) -> tuple[str, list[Any]]:
    """`(sql, params)` for a filter object; `("TRUE", [])` when there is nothing to filter on."""
    if filters is None:
        return "TRUE", []
    compiler = FilterCompiler(columns)
    sql = compiler.compile(filters)
    return (sql or "TRUE"), compiler.params
