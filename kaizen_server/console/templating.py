"""The console's Jinja2 templates, their filters, and the headers of every console answer.

Templates autoescape (``.html``): every task name, prompt, comment and output is rendered as
text, never as markup. Pages load only the console's own static files: the policy allows no
inline script or style, no other host, no framing.

Example:
    >>> score_text(0.4666), score_text(None)
    ('0.47', 'not evaluated')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

__all__ = [
    "CONSOLE_CONTENT_SECURITY_POLICY",
    "CONSOLE_PREFIX",
    "STATIC_DIR",
    "page",
    "redirect",
    "score_text",
]

CONSOLE_PREFIX = "/console"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

CONSOLE_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Own scripts, styles and requests only; no inline script or style; never framed."""

_PAGE_HEADERS = {
    "Content-Security-Policy": CONSOLE_CONTENT_SECURITY_POLICY,
    # Pages show data that changes and that only a signed-in browser may see.
    "Cache-Control": "no-store",
}


def score_text(score: float | None) -> str:
    """A score as shown: two decimals, or "not evaluated" when nothing was measured."""
    return "not evaluated" if score is None else f"{score:.2f}"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _short_id(value: object) -> str:
    return str(value)[:8]


templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters["score"] = score_text
templates.env.filters["when"] = _when
templates.env.filters["short_id"] = _short_id
templates.env.globals["prefix"] = CONSOLE_PREFIX


def page(
    request: Request, name: str, context: Mapping[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render the template ``name`` with the console's headers."""
    return templates.TemplateResponse(
        request, name, dict(context), status_code=status_code, headers=_PAGE_HEADERS
    )


def redirect(path: str, *, headers: Mapping[str, str] | None = None) -> RedirectResponse:
    """303 See Other to the console path ``path`` (after a form: the browser GETs it)."""
    return RedirectResponse(path, status_code=303, headers={**_PAGE_HEADERS, **(headers or {})})
