"""Settings of the Kaizen FastAPI plugin, read from ``KAIZEN_*`` environment variables.

The settings are read when the app starts (in the lifespan), not at import time. Pass an
instance to :func:`kaizen_fastapi.kaizen_lifespan` / :func:`kaizen_fastapi.create_kaizen_router`,
or override :func:`kaizen_fastapi.get_kaizen_settings` in ``app.dependency_overrides``, to
configure the plugin in code.

Example:
    >>> settings = KaizenSettings(api_key="kz-demo", prompt_routes={"/summarize*": "summarize"})
    >>> settings.task_for_path("/summarize/42")
    'summarize'
    >>> settings.api_key.get_secret_value()  # a SecretStr: never printed by accident
    'kz-demo'
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import ByteSize, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaizen_fastapi.feedback_queue import DEFAULT_MAX_BYTES

__all__ = ["KaizenSettings", "get_kaizen_settings", "task_for_path"]


class KaizenSettings(BaseSettings):
    """Configuration of the plugin; every field can be set as ``KAIZEN_<FIELD>``.

    Mappings and lists are given as JSON in the environment, e.g.
    ``KAIZEN_WARM_TASKS='["summarize_ticket"]'``.
    """

    model_config = SettingsConfigDict(env_prefix="KAIZEN_", extra="ignore")

    # --- connection to the CT server -------------------------------------------------------
    api_key: SecretStr | None = Field(
        default=None, description="CT server API key; stays on the server side of the app."
    )
    base_url: str | None = Field(
        default=None, description="CT server URL (the SDK defaults to http://localhost:8000)."
    )
    cache_ttl: float = Field(default=300.0, gt=0, description="Prompt cache TTL in seconds.")
    timeout: float = Field(default=10.0, gt=0, description="HTTP timeout to the CT server (s).")

    # --- prompts ---------------------------------------------------------------------------
    warm_tasks: list[str] = Field(
        default_factory=list, description="Tasks whose prompts are fetched at start-up."
    )
    warm_timeout: float = Field(
        default=5.0, ge=0, description="Longest the start-up waits for warming (s)."
    )
    prompt_routes: dict[str, str] = Field(
        default_factory=dict,
        description="Path glob -> task, e.g. {'/summarize*': 'summarize_ticket'}; first match.",
    )
    prompt_routes_exclude: list[str] = Field(
        default_factory=list, description="Path globs the prompt middleware never maps."
    )
    fallback_prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Task -> prompt text served when the CT server is down and nothing is cached.",
    )
    strict: bool = Field(
        default=False,
        description="Answer 503 instead of serving a fallback prompt when the server is down.",
    )
    prompt_header: str = Field(
        default="X-Kaizen-Prompt-Version",
        description="Response header naming the prompt version served ('fallback' if so).",
    )

    rollout_unit: str = Field(
        default="cookie",
        pattern=r"^(cookie|request|header:[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100})$",
        description="What keeps one version during a rollout: 'cookie' (a random id the plugin "
        "sets in rollout_cookie), 'header:<Name>' (e.g. header:X-User-Id; requests without it "
        "draw at random) or 'request' (each request draws at random).",
    )
    rollout_cookie: str = Field(
        default="kaizen_unit",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Name of the cookie that holds the rollout unit (rollout_unit 'cookie').",
    )

    # --- prompt-change stream --------------------------------------------------------------
    prompt_events: bool = Field(
        default=True, description="Subscribe to the CT server's prompt-change event stream."
    )
    events_read_timeout: float = Field(
        default=45.0, gt=0, description="Silence (s) after which the stream is reconnected."
    )
    events_backoff_initial: float = Field(default=0.5, gt=0)
    events_backoff_max: float = Field(default=30.0, gt=0)

    # --- end-user endpoints ----------------------------------------------------------------
    router_prefix: str = Field(
        default="/kaizen",
        description="Prefix of create_kaizen_router(settings) and, read at import, of the "
        "default kaizen_router; request.url_for(FEEDBACK_ROUTE_NAME) gives the mounted URL.",
    )
    token_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of feedback tokens; default: derived from the API key, so every "
        "replica sharing the key accepts the tokens of the others.",
    )
    token_ttl: float = Field(default=24 * 3600.0, gt=0, description="Token lifetime (s).")
    max_used_tokens: int = Field(
        default=200_000, gt=0, description="Bound of the used-token memory (replay protection)."
    )
    max_body_bytes: int = Field(default=8192, gt=0, description="Larger bodies get 413.")
    rate_limit_per_second: float = Field(
        default=2.0, gt=0, description="Sustained feedback requests per second per client."
    )
    rate_limit_burst: int = Field(default=20, gt=0, description="Burst per client.")
    feedback_source: str = Field(default="end_user", description="`source` of stored feedback.")

    # --- delivery queue --------------------------------------------------------------------
    queue_size: int = Field(default=10_000, gt=0, description="Most items the queue holds.")
    queue_max_bytes: ByteSize = Field(
        default=ByteSize(DEFAULT_MAX_BYTES),
        ge=64 * 2**10,
        description="Most memory the delivery queue's items hold, in bytes or with a unit "
        "('16MiB'); at least 64KiB. A full queue drops (and counts) new items.",
    )
    batch_size: int = Field(default=100, gt=0, le=1000, description="Items per batch request.")
    flush_interval: float = Field(
        default=0.2, ge=0, description="Longest an item waits for its batch to fill (s)."
    )
    retry_backoff_initial: float = Field(default=0.5, gt=0)
    retry_backoff_max: float = Field(default=30.0, gt=0)
    shutdown_flush_timeout: float = Field(
        default=10.0, ge=0, description="Longest shutdown waits for pending feedback (s)."
    )

    # --- observability ---------------------------------------------------------------------
    prometheus: bool = Field(
        default=True, description="Register a Prometheus collector if prometheus-client exists."
    )

    def task_for_path(self, path: str) -> str | None:
        """Return the task of the first ``prompt_routes`` glob matching ``path``, if any."""
        return task_for_path(path, self.prompt_routes, self.prompt_routes_exclude)


def task_for_path(path: str, routes: dict[str, str], exclude: list[str]) -> str | None:
    """Map a request path to a task: exclusions first, then the first matching route glob.

    Example:
        >>> task_for_path("/a/1", {"/a/*": "task_a"}, ["/a/private*"])
        'task_a'
        >>> task_for_path("/a/private", {"/a/*": "task_a"}, ["/a/private*"]) is None
        True
    """
    if any(fnmatchcase(path, pattern) for pattern in exclude):
        return None
    for pattern, task in routes.items():
        if fnmatchcase(path, pattern):
            return task
    return None


def get_kaizen_settings() -> KaizenSettings:
    """The plugin settings, from the ``KAIZEN_*`` environment.

    Override it to configure the plugin in code (the lifespan consults the override when the
    app starts)::

        app.dependency_overrides[get_kaizen_settings] = lambda: KaizenSettings(api_key="kz-...")
    """
    return KaizenSettings()
