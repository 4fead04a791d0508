"""The per-app state shared by routers: settings, database, broker, dispatcher, watchers.

Example:
    >>> context = request.app.state.context  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kaizen_server.db.engine import Database
from kaizen_server.events.broker import PromptEventBroker
from kaizen_server.optimization.dispatch import JobDispatcher
from kaizen_server.services.api_keys import KeyVerifier
from kaizen_server.services.prompt_cache import ActivePromptCache
from kaizen_server.services.rollout_watcher import RolloutWatcher
from kaizen_server.settings import ServerSettings

__all__ = ["ServerContext"]


@dataclass
class ServerContext:
    """Everything a request handler may need, built once by the app factory."""

    settings: ServerSettings
    database: Database
    broker: PromptEventBroker
    dispatcher: JobDispatcher
    keys: KeyVerifier = field(init=False)
    prompt_cache: ActivePromptCache = field(init=False)
    rollout_watcher: RolloutWatcher = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyVerifier(self.database, self.settings.api_key_cache_seconds)
        self.prompt_cache = ActivePromptCache(ttl=self.settings.prompt_cache_seconds)
        # Any active-prompt change, on this replica or another, empties the cache at once.
        self.broker.add_change_listener(self.prompt_cache.invalidate)
        self.rollout_watcher = RolloutWatcher(
            self.database, self.broker, self.settings.rollout_check_seconds
        )
