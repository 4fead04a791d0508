"""Everything the plugin keeps for one running app: client, queue, tokens, counters.

One :class:`KaizenRuntime` exists per app while its lifespan runs; it lives in the lifespan
state (so in ``request.state``), never in a module global or ``app.state``, so two apps (or
two tests) in one process never share a client.

Example:
    >>> runtime = KaizenRuntime(KaizenSettings(api_key="kz-key"))  # doctest: +SKIP
    >>> await runtime.start()  # doctest: +SKIP
    >>> runtime.metrics_snapshot()["feedback_queued"]  # doctest: +SKIP
    0
    >>> await runtime.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kaizen_fastapi.active_prompts import PromptResolver
from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.feedback_queue import DeliveryQueue
from kaizen_fastapi.metrics import KaizenMetrics, PrometheusExport
from kaizen_fastapi.prompt_events import PromptChange, PromptEventSubscriber
from kaizen_fastapi.rate_limit import TokenBucketLimiter
from kaizen_fastapi.rollout_units import RolloutUnits
from kaizen_fastapi.settings import KaizenSettings
from kaizen_fastapi.tokens import FeedbackTokenSigner, ReplayGuard, derive_token_key
from kaizen_sdk import AsyncCTClient
from kaizen_sdk.config import resolve_config
from kaizen_sdk.errors import CTError
from kaizen_sdk.retry import RetryPolicy

__all__ = [
    "STATE_KEY",
    "ClientFactory",
    "KaizenConfigurationError",
    "KaizenRuntime",
    "default_client",
    "runtime_from_state",
]

logger = logging.getLogger("kaizen_fastapi")

ClientFactory = Callable[[KaizenSettings], AsyncCTClient]
"""Builds the shared client from the settings (replace it to inject a test transport)."""


class KaizenConfigurationError(RuntimeError):
    """The plugin cannot start with these settings (the message names the fix)."""


MIN_TOKEN_SECRET_LENGTH = 32
"""Shortest secret feedback tokens are signed with (KAIZEN_TOKEN_SECRET or the API key)."""


def _api_key_of(settings: KaizenSettings) -> str | None:
    return settings.api_key.get_secret_value() if settings.api_key else None


def _configuration_error(exc: CTError) -> KaizenConfigurationError:
    return KaizenConfigurationError(
        f"Kaizen cannot start ({exc.message}); set KAIZEN_API_KEY or pass "
        "KaizenSettings(api_key=...)"
    )


def default_client(settings: KaizenSettings) -> AsyncCTClient:
    """The shared ``AsyncCTClient`` for ``settings``."""
    try:
        return AsyncCTClient(
            api_key=_api_key_of(settings),
            base_url=settings.base_url,
            cache_ttl=settings.cache_ttl,
            timeout=settings.timeout,
        )
    except CTError as exc:
        raise _configuration_error(exc) from exc


class KaizenRuntime:
    """The plugin's per-app state between start-up and shutdown."""

    def __init__(
        self, settings: KaizenSettings, client_factory: ClientFactory = default_client
    ) -> None:
        self.settings = settings
        try:  # the key the client uses (settings or KAIZEN_API_KEY), for the stream and tokens
            api_key = resolve_config(_api_key_of(settings), settings.base_url).api_key
        except CTError as exc:
            raise _configuration_error(exc) from exc
        token_secret = (
            settings.token_secret.get_secret_value() if settings.token_secret else api_key
        )
        if len(token_secret) < MIN_TOKEN_SECRET_LENGTH:
            source = "KAIZEN_TOKEN_SECRET" if settings.token_secret else "the API key"
            raise KaizenConfigurationError(
                f"Kaizen cannot start: feedback tokens would be signed with a key derived from "
                f"{source}, only {len(token_secret)} characters long, which can be guessed "
                "offline from one token; set KAIZEN_TOKEN_SECRET to 32 or more random "
                "characters (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self.client = client_factory(settings)
        self.base_url = self.client.base_url.rstrip("/")
        self.metrics = KaizenMetrics()
        self.monitor = ConnectivityMonitor(self.base_url)
        self.prompts = PromptResolver(self.client, settings, self.metrics, self.monitor)
        self.rollout_units = RolloutUnits(settings)
        self.queue = DeliveryQueue(
            self.client,
            self.metrics,
            self.monitor,
            maxsize=settings.queue_size,
            max_bytes=settings.queue_max_bytes,
            batch_size=settings.batch_size,
            flush_interval=settings.flush_interval,
            retry=RetryPolicy(
                backoff_base=settings.retry_backoff_initial, backoff_max=settings.retry_backoff_max
            ),
        )
        self.tokens = FeedbackTokenSigner(derive_token_key(token_secret), ttl=settings.token_ttl)
        self.used_tokens = ReplayGuard(maxsize=settings.max_used_tokens)
        self.rate_limiter = TokenBucketLimiter(
            rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst
        )
        self.prompt_events: PromptEventSubscriber | None = None
        if settings.prompt_events:
            self.prompt_events = PromptEventSubscriber(
                self.base_url,
                api_key,
                on_change=self._on_prompt_change,
                metrics=self.metrics,
                monitor=self.monitor,
                read_timeout=settings.events_read_timeout,
                retry=RetryPolicy(
                    backoff_base=settings.events_backoff_initial,
                    backoff_max=settings.events_backoff_max,
                ),
            )
        self._prometheus = PrometheusExport(self.metrics_snapshot)

    async def start(self) -> None:
        """Start the delivery worker and the prompt stream, then warm the configured prompts.

        Never fails because the CT server is down: waiting for the stream and warming each
        give up after ``warm_timeout``.
        """
        await self.queue.start()
        if self.prompt_events is not None:
            # Connect before warming, so no change between the two can be missed.
            self.prompt_events.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.prompt_events.first_attempt_done.wait(), self.settings.warm_timeout
                )
        await self.prompts.warm(self.settings.warm_tasks, self.settings.warm_timeout)
        if self.settings.prometheus:
            self._prometheus.register()

    async def stop(self) -> None:
        """Stop the stream, flush pending deliveries (bounded), close the client."""
        self._prometheus.unregister()
        if self.prompt_events is not None:
            await self.prompt_events.stop()
        await self.queue.close(self.settings.shutdown_flush_timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), 5.0)

    def metrics_snapshot(self) -> dict[str, int]:
        """The plugin counters plus the SDK prompt-cache statistics (``cache_*``)."""
        snapshot = self.metrics.as_dict()
        stats = self.client.cache_stats
        for name in (
            "hits",
            "misses",
            "stale_serves",
            "fallback_serves",
            "fetch_errors",
            "refreshes",
        ):
            snapshot[f"cache_{name}"] = int(getattr(stats, name))
        return snapshot

    async def _on_prompt_change(self, change: PromptChange) -> None:
        logger.info(
            "Kaizen prompt of %s changed to version %d", change.task_name, change.version_number
        )
        await self.prompts.refresh_changed(change.task_id, change.task_name)


STATE_KEY = "kaizen_fastapi.runtime"
"""The one key of the lifespan state (and so of ``request.state``) the plugin uses."""


def runtime_from_state(state: Mapping[str, Any] | None) -> KaizenRuntime | None:
    """The runtime in a lifespan/request state mapping (``scope["state"]``), if any."""
    if state is None:
        return None
    runtime = state.get(STATE_KEY)
    return runtime if isinstance(runtime, KaizenRuntime) else None
