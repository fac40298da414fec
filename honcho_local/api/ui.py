"""The memory inspector at `/ui` (issue 32; a honcho-local extension, docs/ui.md): static files shipped in
the package (`honcho_local/api/ui_files/`: HTML, CSS and ES modules; no CDN, no build step), served with a strict
Content-Security-Policy so that the page can load only its own files and talk only to this server's API.
The page renders every stored value as text (`textContent`), and the policy forbids inline script, so a
message that contains markup stays words on the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.static_files import create_static_files_router

UI_DIR = Path(__file__).with_name("ui_files")
UI_PATH = "/ui"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
           (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-cache")]


class SecurityHeaders:
    """ASGI middleware: the policy headers on every `/ui` response (files, 404s alike)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in dict(HEADERS)]
                message = {**message, "headers": kept + HEADERS}
            await send(message)

        await self.app(scope, receive, with_headers)


def ui_router() -> Router:
    """`/ui` and `/ui/…`: the inspector's files, outside the OpenAPI schema."""
    if not (UI_DIR / "index.html").is_file():
        raise RuntimeError(f"the inspector's files are missing from {UI_DIR}: reinstall honcho-local")
    return create_static_files_router(path=UI_PATH, directories=[UI_DIR], html_mode=True, name="ui",
                                      include_in_schema=False, middleware=[SecurityHeaders])
