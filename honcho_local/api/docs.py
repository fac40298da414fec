"""The `/docs` page (Swagger UI) served whole from honcho-local: no CDN, so it works offline.

Litestar's `SwaggerRenderPlugin` points its scripts, stylesheet and favicon at a CDN by default. Here
they point at `/docs/assets/`, a static-files router over the Swagger UI dist files that the
`swagger-ui-py` package ships (Swagger UI 5.x, which renders the OpenAPI 3.1 schema Litestar writes).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/docs/assets"
_PACKAGE = "swagger_ui"  # import name of the `swagger-ui-py` distribution


def swagger_ui_dir() -> Path:
    """The folder of Swagger UI dist files inside the installed `swagger-ui-py` package (located
    without importing it: only its files are used)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing: reinstall honcho-local")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (folder / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"no Swagger UI files in {folder}: reinstall swagger-ui-py")
    return folder


def swagger_plugin() -> SwaggerRenderPlugin:
    """Swagger UI rendered at the OpenAPI path, every asset from `ASSETS_PATH`."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def assets_router() -> Router:
    """Static files under `ASSETS_PATH`: the Swagger UI dist folder, outside the schema."""
    return create_static_files_router(path=ASSETS_PATH, directories=[swagger_ui_dir()], name="docs_assets",
                                      include_in_schema=False)
