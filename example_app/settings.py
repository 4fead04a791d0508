"""Settings of the example app itself (the Kaizen plugin reads its own ``KAIZEN_*`` settings).

Every field maps to an ``EXAMPLE_``-prefixed environment variable. With no
``EXAMPLE_LLM_BASE_URL`` the app uses the local stand-in LLM, so it runs offline.

Example:
    >>> ExampleSettings(llm_base_url="http://localhost:11434/v1").llm_configured
    True
    >>> ExampleSettings(llm_base_url="").llm_configured
    False
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEMO_TASK_NAME", "ExampleSettings", "get_settings"]

DEMO_TASK_NAME = "summarize_ticket"


class ExampleSettings(BaseSettings):
    """LLM access and the Kaizen task the app's summaries belong to."""

    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

    task_name: str = Field(
        default=DEMO_TASK_NAME, min_length=1, description="Kaizen task of the summarize feature."
    )
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint (http://host:11434/v1); unset -> stand-in.",
    )
    llm_model: str = Field(default="llama3.2:1b", description="Model name sent to the endpoint.")
    llm_api_key: SecretStr | None = Field(default=None, description="Bearer key of the endpoint.")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one LLM call.")
    allow_activation: bool = Field(
        default=True,
        description="Show and allow the 'activate this version' button (an admin action).",
    )

    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses/networks of reverse proxies whose "
        "X-Forwarded-For is believed (uvicorn's forwarded_allow_ips); empty: none, the peer "
        "address is the client, so rotating the header cannot dodge the rate limit.",
    )

    @field_validator("llm_base_url", "llm_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``EXAMPLE_LLM_BASE_URL=`` (empty, as docker-compose passes it) means "not set"."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def llm_configured(self) -> bool:
        """True when a real OpenAI-compatible endpoint is configured."""
        return bool(self.llm_base_url)


@lru_cache(maxsize=1)
def get_settings() -> ExampleSettings:
    """The process-wide settings, read once from the environment."""
    return ExampleSettings()
