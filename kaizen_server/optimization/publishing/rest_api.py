"""One call to a git host's REST API (GitHub, Bitbucket Server) that fails as a
:class:`PullRequestError` naming the host, the step and the host's own message."""

from __future__ import annotations

from typing import Any

import httpx

from kaizen_server.optimization.publishing.errors import PullRequestError

__all__ = ["RestApi", "error_message"]


def error_message(response: httpx.Response) -> str:
    """The host's explanation of a failed response: its ``message`` and ``errors``.

    Example:
        >>> error_message(httpx.Response(409, json={"errors": [{"message": "exists"}]}))
        'exists'
    """
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(payload, dict):
        return response.reason_phrase
    message = str(payload.get("message", ""))
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        details = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
        message = f"{message} ({details})" if message else details
    return message or response.reason_phrase


class RestApi:
    """Requests under ``prefix`` of ``client``'s base URL, as host ``host``."""

    def __init__(self, client: httpx.Client, prefix: str, host: str) -> None:
        self.client = client
        self.prefix = prefix
        self.host = host

    def call(
        self, method: str, path: str, what: str, *, ok: tuple[int, ...] = (200, 201), **kw: Any
    ) -> httpx.Response:
        """Send one request; :class:`PullRequestError` on a transport error or a status
        outside ``ok``."""
        try:
            response = self.client.request(method, f"{self.prefix}{path}", **kw)
        except httpx.HTTPError as exc:
            raise PullRequestError(f"{self.host} {what} failed: {exc}") from exc
        if response.status_code not in ok:
            raise PullRequestError(
                f"{self.host} {what} failed: HTTP {response.status_code} {error_message(response)}"
            )
        return response
