"""Swagger UI (``/docs``) and ReDoc (``/redoc``) served from the server itself, no CDN.

FastAPI's own docs pages load their JavaScript and CSS from a CDN, so they stay blank on a
machine without internet access. :func:`install_offline_docs` serves the same pages (FastAPI's
``get_swagger_ui_html`` / ``get_redoc_html``) with the assets that the ``fastapi-offline``
package ships (Swagger UI, ReDoc, favicon; MIT), mounted under ``/docs/assets``. Each page
carries its own ``Content-Security-Policy``: same-origin scripts plus the SHA-256 hash of each
inline script of the page, so no ``'unsafe-inline'`` script is allowed.

Build the app with ``docs_url=None, redoc_url=None`` so FastAPI does not add its CDN pages.

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI(docs_url=None, redoc_url=None)
    >>> install_offline_docs(app)
    >>> sorted(r.path for r in app.routes if r.path.startswith(("/docs", "/redoc")))
    ['/docs', '/docs/assets', '/redoc']
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "ASSET_FILES", "docs_content_security_policy", "install_offline_docs"]

ASSETS_PATH = "/docs/assets"
"""Where the Swagger UI / ReDoc files are served."""

ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
"""The files the pages load (all shipped by ``fastapi-offline``)."""

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _assets_directory() -> Path:
    directory = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in ASSET_FILES if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline does not ship {missing} in {directory}")
    return directory


def docs_content_security_policy(html: str) -> str:
    """The policy of a docs page: its own inline scripts by hash, everything else same-origin.

    Styles may be inline: ReDoc (styled-components) and Swagger UI inject ``<style>`` at run
    time. Images may be ``data:`` URIs (Swagger UI's icons).

    Example:
        >>> policy = docs_content_security_policy("<script>go()</script>")
        >>> script_src = policy.split("; ")[1]
        >>> script_src.startswith("script-src 'self' 'sha256-"), "unsafe" in script_src
        (True, False)
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    script_src = f"script-src 'self' {hashes}".rstrip()
    return (
        f"default-src 'none'; {script_src}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(
        html, headers={"Content-Security-Policy": docs_content_security_policy(html)}
    )


def install_offline_docs(
    app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc"
) -> None:
    """Add the Swagger UI and ReDoc pages and mount their assets at :data:`ASSETS_PATH`."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(directory=_assets_directory()), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        response = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # No badge image from the public validator.
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
        return _page(bytes(response.body).decode())

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        response = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        return _page(bytes(response.body).decode())
