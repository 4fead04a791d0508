"""LLM access of the example app: any OpenAI-compatible endpoint, or the local stand-in.

Example:
    >>> import asyncio
    >>> llm = build_llm(ExampleSettings(llm_base_url=None))
    >>> llm.label
    'Stand-in LLM (local, deterministic; no model configured)'
    >>> asyncio.run(llm.complete("Summarize in at most 4 words.", "Login fails after reset.")).text
    'Login fails after reset.'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from example_app.settings import ExampleSettings
from example_app.stand_in import STAND_IN_MODEL, stand_in_summary

__all__ = ["LLM", "Completion", "LLMError", "OpenAICompatibleLLM", "StandInLLM", "build_llm"]


@dataclass(frozen=True)
class Completion:
    """One LLM answer and what it cost."""

    text: str
    model: str
    tokens: int | None
    latency_ms: float


class LLMError(RuntimeError):
    """The LLM endpoint failed or answered something that is not a chat completion."""


class LLM(Protocol):
    """What the app needs from an LLM: a system prompt and a ticket in, a summary out."""

    label: str

    async def complete(self, prompt: str, ticket: str) -> Completion: ...

    async def aclose(self) -> None: ...


class OpenAICompatibleLLM:
    """Chat completions over httpx against any OpenAI-compatible ``/v1`` endpoint.

    Example:
        >>> llm = OpenAICompatibleLLM("http://localhost:11434/v1", model="llama3.2:1b")
        >>> llm.label
        'llama3.2:1b at http://localhost:11434/v1'
    """

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0
    ) -> None:
        self.model = model
        self.label = f"{model} at {base_url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s
        )

    async def complete(self, prompt: str, ticket: str) -> Completion:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": prompt},
                {"role": "user", "content": ticket},
            ],
        }
        started = time.perf_counter()
        try:
            response = await self._http.post("chat/completions", json=body)
            response.raise_for_status()
            payload: dict[str, Any] = response.json()
            text = str(payload["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"LLM endpoint {self.label} failed: {exc}") from exc
        usage = payload.get("usage") or {}
        tokens = usage.get("total_tokens")
        return Completion(
            text=text,
            model=str(payload.get("model") or self.model),
            tokens=int(tokens) if isinstance(tokens, int) else None,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class StandInLLM:
    """A clearly labelled local stand-in for an LLM: deterministic, offline, prompt-driven.

    It follows the instructions and worked examples it finds in the prompt (see
    :mod:`example_app.stand_in`), so a new prompt version visibly changes its output.

    Example:
        >>> import asyncio
        >>> asyncio.run(StandInLLM().complete("Use bullet points.", "A. B.")).text
        '- A.\\n- B.'
    """

    label = "Stand-in LLM (local, deterministic; no model configured)"

    async def complete(self, prompt: str, ticket: str) -> Completion:
        started = time.perf_counter()
        text = stand_in_summary(prompt, ticket)
        return Completion(
            text=text,
            model=STAND_IN_MODEL,
            tokens=len(prompt.split()) + len(ticket.split()) + len(text.split()),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def aclose(self) -> None:
        return None


def build_llm(settings: ExampleSettings) -> LLM:
    """The configured endpoint, or the stand-in when ``EXAMPLE_LLM_BASE_URL`` is unset."""
    if settings.llm_base_url:
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAICompatibleLLM(
            settings.llm_base_url, settings.llm_model, key, settings.llm_timeout_s
        )
    return StandInLLM()
