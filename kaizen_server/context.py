"""The per-app state shared by routers: settings, database, broker, dispatcher.

Example:
    >>> context = request.app.state.context  # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from cachetools import TTLCache

from kaizen_server.db.engine import Database
from kaizen_server.events.broker import PromptEventBroker
from kaizen_server.jobs.dispatch import JobDispatcher
from kaizen_server.services.prompt_cache import ActivePromptCache
from kaizen_server.settings import ServerSettings

__all__ = ["ServerContext"]


@dataclass
class ServerContext:
    """Everything a request handler may need, built once by the app factory."""

    settings: ServerSettings
    database: Database
    broker: PromptEventBroker
    dispatcher: JobDispatcher
    verified_keys: TTLCache[str, uuid.UUID] = field(init=False)
    prompt_cache: ActivePromptCache = field(init=False)

    def __post_init__(self) -> None:
        ttl = self.settings.api_key_cache_seconds
        self.verified_keys = TTLCache(maxsize=1024, ttl=max(ttl, 0.001))
        self.prompt_cache = ActivePromptCache(ttl=self.settings.prompt_cache_seconds)
        # Any active-prompt change, on this replica or another, empties the cache at once.
        self.broker.add_change_listener(self.prompt_cache.invalidate)

    def verified_key_id(self, key_hash: str) -> uuid.UUID | None:
        """The id of the API key hashed as ``key_hash`` if it was verified recently."""
        return self.verified_keys.get(key_hash)
