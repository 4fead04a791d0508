"""In-process cache of rendered active-prompt responses (body bytes + ETag) per task reference.

``GET /api/v1/prompts/{task}`` is what every app replica polls; answering it from memory
makes it about as cheap as a constant endpoint. The cache stays correct across replicas:

* every change of an active prompt wakes the prompt-event broker (this replica's activation
  right after its commit; other replicas' through PostgreSQL ``NOTIFY``, or on SQLite the
  broker's poll of the event table, which also sees activations by job processes), and the
  broker's wake-up calls :meth:`ActivePromptCache.invalidate`;
* a fill that started before an invalidation is discarded (a generation counter), so a
  response read from the old state can never be stored after the change was announced;
* entries expire after ``ttl`` seconds anyway: the safety net for changes that announce
  nothing (a task renamed or deleted on another replica) or a lost notification.

Example:
    >>> cache = ActivePromptCache(ttl=2.0)
    >>> generation = cache.generation
    >>> cache.put("summarize", RenderedPrompt(b"{}", '"e1"'), generation)
    >>> cache.get("summarize").etag
    '"e1"'
    >>> cache.invalidate()
    >>> cache.get("summarize") is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import TTLCache
from starlette.responses import Response

__all__ = ["MAX_IF_NONE_MATCH", "ActivePromptCache", "RenderedPrompt", "etag_matches"]

MAX_IF_NONE_MATCH = 1000
"""Longest ``If-None-Match`` header accepted (longer ones get a 422)."""


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when the ``If-None-Match`` header value names ``etag`` (weakly) or is ``*``.

    Example:
        >>> etag_matches('W/"a", "b"', '"a"'), etag_matches('"b"', '"a"')
        (True, False)
    """
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates or "*" in candidates


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A task's active prompt as sent: the JSON body and its strong ETag."""

    body: bytes
    etag: str

    def response(self, if_none_match: str | None) -> Response:
        """200 with the body, or 304 without one when ``If-None-Match`` names the ETag."""
        headers = {"ETag": self.etag, "Cache-Control": "no-cache"}
        if etag_matches(if_none_match, self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type="application/json", headers=headers)


class ActivePromptCache:
    """Rendered active prompts by task reference (UUID or name, as requested).

    Not thread-safe: used from the server's event loop only (no ``await`` inside).
    """

    def __init__(self, ttl: float, maxsize: int = 4096) -> None:
        self._enabled = ttl > 0
        self._entries: TTLCache[str, RenderedPrompt] = TTLCache(maxsize, max(ttl, 0.001))
        self._generation = 0

    @property
    def generation(self) -> int:
        """Read before loading a prompt from the database; pass it to :meth:`put`."""
        return self._generation

    def get(self, task_ref: str) -> RenderedPrompt | None:
        """The cached response for ``task_ref``, if fresh."""
        return self._entries.get(task_ref)

    def put(self, task_ref: str, rendered: RenderedPrompt, generation: int) -> None:
        """Store ``rendered`` unless the cache was invalidated since ``generation`` was read."""
        if self._enabled and generation == self._generation:
            self._entries[task_ref] = rendered

    def invalidate(self) -> None:
        """Forget every entry (an active prompt, a task name or a task changed somewhere)."""
        self._generation += 1
        self._entries.clear()
