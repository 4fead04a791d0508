"""Who a console request acts as, and the checks every console form passes.

* :data:`ConsoleUser`: the signed-in session of the request's cookie; without one, a page
  redirects to the sign-in form (and back afterwards).
* :data:`CheckedForm`: the form of a POST, after the CSRF checks: the browser says the
  request comes from this site (``Sec-Fetch-Site`` / ``Origin``), and the form carries the
  session's CSRF token. The session cookie is also ``SameSite=Strict``.
* :class:`ConsoleError`: a problem a console user is shown as a page (or, to a client that
  does not take HTML, as an RFC 7807 body).

Example:
    >>> @router.post("/things")  # doctest: +SKIP
    ... async def add_thing(user: ConsoleUser, form: CheckedForm) -> Response: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from kaizen_server.api.dependencies import Context
from kaizen_server.console.templating import CONSOLE_PREFIX
from kaizen_server.services.console_sessions import (
    ConsoleIdentity,
    csrf_token,
    csrf_token_matches,
    find_session,
)

__all__ = [
    "SESSION_COOKIE",
    "CheckedForm",
    "ConsoleError",
    "ConsoleUser",
    "SignInRequired",
    "SignedInUser",
    "safe_next_path",
    "same_site_request",
]

SESSION_COOKIE = "kaizen_console"

MAX_FORM_FIELDS = 50
"""No console form has more fields; a request with more is refused before it is parsed."""


class ConsoleError(Exception):
    """A problem shown to the console user: ``status`` and a message naming the problem."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class SignInRequired(Exception):
    """The request has no valid session: the browser goes to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class SignedInUser:
    """A request's session: its identity and the CSRF token its forms carry."""

    identity: ConsoleIdentity
    csrf: str
    token: str


def safe_next_path(value: str | None) -> str:
    """Where to go after signing in: a console path of this server, never another site.

    Example:
        >>> safe_next_path("/console/jobs?task=a"), safe_next_path("//evil.example/console")
        ('/console/jobs?task=a', '/console')
        >>> safe_next_path("https://evil.example/console")
        '/console'
    """
    if not value or len(value) > 2000:
        return CONSOLE_PREFIX
    parts = urlsplit(value)
    path_ok = parts.path == CONSOLE_PREFIX or parts.path.startswith(CONSOLE_PREFIX + "/")
    if parts.scheme or parts.netloc or not path_ok or "\\" in value:
        return CONSOLE_PREFIX
    return value


def same_site_request(request: Request) -> bool:
    """False when the browser says the request comes from another site.

    ``Sec-Fetch-Site`` is sent by every current browser; ``Origin`` by older ones on POST.
    A client sending neither (curl, a test) is not a browser that another site could drive.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin == own


async def console_user(request: Request, context: Context) -> SignedInUser:
    """The request's signed-in session, else :class:`SignInRequired`."""
    token = request.cookies.get(SESSION_COOKIE, "")
    identity = None
    if token:
        async with context.database.reader() as session:
            identity = await find_session(session, token)
    if identity is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(quote(request.url.path + query, safe="/?=&"))
    return SignedInUser(identity, csrf_token(token), token)


ConsoleUser = Annotated[SignedInUser, Depends(console_user)]


async def checked_form(request: Request, user: ConsoleUser) -> FormData:
    """The POSTed form, once it passed the CSRF checks (403 otherwise)."""
    if not same_site_request(request):
        raise ConsoleError(403, "This form was sent from another site; open the console and retry.")
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    sent = form.get("csrf")
    if not isinstance(sent, str) or not csrf_token_matches(user.token, sent):
        raise ConsoleError(403, "The form's CSRF token is missing or stale; reload the page.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]
