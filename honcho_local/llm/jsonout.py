"""Reading a model's JSON answer: decode, clip to the schema's size caps, validate.

Used by the router's repair loop and by the llama.cpp provider's unconstrained-first JSON path (a
grammar makes generation ~40% slower on this CPU, so it tries without one and keeps the grammar
for the answers that do not validate).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from honcho_local.llm.base import JsonSchema

_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*(?:```|$)", re.DOTALL)


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from exc


def _validated(value: Any, schema: JsonSchema) -> Any:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        raise ValueError(f"does not match the schema: {exc.message}") from exc
    return value


def parse_json_output(text: str, schema: JsonSchema) -> Any:
    """Decode `text` as JSON and validate it against `schema`; raises ValueError saying why not."""
    return _validated(_decode(text), schema)


def clip(value: Any, schema: JsonSchema) -> Any:
    """`value` cut to the schema's `maxItems` / `maxLength` (what a grammar would have enforced)."""
    kind = schema.get("type")
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: clip(v, props[k]) if k in props else v for k, v in value.items()}
    if kind == "array" and isinstance(value, list):
        items = value[:schema["maxItems"]] if "maxItems" in schema else value
        return [clip(v, schema.get("items", {})) for v in items]
    if kind == "string" and isinstance(value, str) and "maxLength" in schema:
        return value[:schema["maxLength"]]
    return value


def _unfenced(text: str) -> str:
    """The answer without a ``` fence around it (when it does not start with the JSON itself)."""
    body = text.strip()
    fenced = _FENCE.search(body)
    return fenced.group(1) if fenced and not body.startswith("{") else body


def extract_json(text: str, schema: JsonSchema) -> tuple[str, Any]:
    """The JSON value in a free-form answer (bare, or in a ``` fence, or the outermost {...}), clipped
    to the schema's caps and validated. Returns (its compact text, the value); ValueError says why not."""
    body = _unfenced(text)
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    value = _validated(clip(_decode(body[start:end + 1]), schema), schema)
    return json.dumps(value, ensure_ascii=False), value


def _closers(text: str) -> list[tuple[int, str]]:
    """Each place in `text` just after a `}` or `]` outside a string, with the brackets still open
    there, as the text that closes them: where a JSON prefix can be cut and closed."""
    out: list[tuple[int, str]] = []
    stack: list[str] = []
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack[-1] != ch:
                break  # not JSON from here on
            stack.pop()
            out.append((i + 1, "".join(reversed(stack))))
            if not stack:
                break
    return out


def _fill_required(value: Any, schema: JsonSchema) -> Any:
    """`value` with required array properties it never reached set to [] (recursively)."""
    if schema.get("type") == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value and props.get(key, {}).get("type") == "array":
                value[key] = []
        return {k: _fill_required(v, props[k]) if k in props else v for k, v in value.items()}
    if schema.get("type") == "array" and isinstance(value, list):
        return [_fill_required(v, schema.get("items", {})) for v in value]
    return value


def salvage(text: str, schema: JsonSchema) -> tuple[str, Any]:
    """The complete part of an answer cut off by the token limit: the longest prefix that ends after a
    complete array item or object and, with its open brackets closed and required arrays it never
    reached left empty, validates. A model that lists more facts than asked runs into `max_tokens`
    mid-string; what it finished is still good. Returns (compact text, value); ValueError if nothing
    complete is there."""
    body = _unfenced(text)
    start = body.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    body = body[start:]
    for cut, closing in reversed(_closers(body)):
        try:
            value = _fill_required(json.loads(body[:cut] + closing), schema)
            value = _validated(clip(value, schema), schema)
        except (json.JSONDecodeError, ValueError):
            continue
        return json.dumps(value, ensure_ascii=False), value
    raise ValueError("no complete JSON value before the cut")
