"""File uploads (`POST …/sessions/{s}/messages/upload`, Honcho 3.x): a file becomes messages.

As Honcho does: the file's text is taken by its content type (`text/*` decoded as UTF-8, UTF-16 or
Latin-1, markdown included; `application/json` parsed and written back compactly; `application/pdf` page
by page, each page's text headed `[Page n]`), split into chunks of at most the message size limit (at a
paragraph break, else a line break, else a sentence end, else a space), and each chunk is a message of
`peer_id` with the form's `metadata`, `configuration` and `created_at`. All the chunks are written in one
transaction, so a file is stored whole or not at all. Files over `MAX_FILE_BYTES` are 413, other types 415,
an unreadable file or one without text 422.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from honcho_local import schemas
from honcho_local.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_FILE_BYTES = 5_242_880  # Honcho's MAX_FILE_SIZE
BREAKS = ("\n\n", "\n", ". ", " ")


def extract_text(content: bytes, content_type: str) -> str:
    """The file's text, by content type."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/pdf":
        return _pdf_text(content)
    if media.startswith("text/"):
        for encoding in ("utf-8", "utf-16", "latin-1"):
            try:
                return content.decode(encoding)
            except UnicodeDecodeError:
                continue
    if media == "application/json":
        try:
            return json.dumps(json.loads(content.decode("utf-8")), ensure_ascii=False) if content.strip() else ""
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"the uploaded JSON file is not valid UTF-8 JSON: {exc}") from exc
    raise UnsupportedMediaType(f"unsupported file type {media or 'none'!r}: upload text/* (plain, markdown...), "
                              "application/json or application/pdf")


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages]
    except (PyPdfError, ValueError, OSError) as exc:
        raise InvalidInput(f"the uploaded PDF could not be read: {exc}") from exc
    return "\n\n".join(f"[Page {n}]\n{text}" for n, text in enumerate(pages, start=1) if text.strip())


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most `limit` characters, cut at the latest natural break inside each."""
    chunks: list[str] = []
    start = 0
    while len(text) - start > limit:
        end = start + limit
        cut = next((text.rfind(b, start, end) + len(b) for b in BREAKS if text.rfind(b, start, end) > start), end)
        chunks.append(text[start:cut])
        start = cut
    chunks.append(text[start:])
    return [c for c in chunks if c]


def upload_batch(content: bytes, content_type: str, form: dict[str, Any], limit: int) -> schemas.MessageBatch:
    """The messages a file becomes (the batch may hold more than an API batch's 100: one file, one write)."""
    if len(content) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"the file has {len(content):,} bytes; the limit is {MAX_FILE_BYTES:,}")
    chunks = split_text(extract_text(content, content_type), limit)
    if not chunks:
        raise InvalidInput("the uploaded file holds no text")
    fields = {"peer_id": form.get("peer_id"), "metadata": _json_field(form, "metadata"),
              "configuration": _json_field(form, "configuration"), "created_at": _created_at(form)}
    try:
        messages = [schemas.MessageCreate.model_validate({**fields, "content": chunk}) for chunk in chunks]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    return schemas.MessageBatch.model_construct(messages=messages)


def _json_field(form: dict[str, Any], name: str) -> Any:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a JSON object: {exc}") from exc


def _created_at(form: dict[str, Any]) -> datetime | None:
    raw = form.get("created_at")
    if raw in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"created_at must be an ISO-8601 datetime, got {str(raw)[:64]!r}") from exc
