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

    def __post_init__(self) -> None:
        ttl = self.settings.api_key_cache_seconds
        self.verified_keys = TTLCache(maxsize=1024, ttl=max(ttl, 0.001))
