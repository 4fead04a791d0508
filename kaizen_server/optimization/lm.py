"""Language models for a run: any OpenAI-compatible endpoint or a provider model name.

Nothing here reaches the internet on its own: litellm's model cost map is read locally
(``LITELLM_LOCAL_MODEL_COST_MAP=True``, set by the package) and DSPy's response cache lives in
a job-local folder.

Example:
    >>> from kaizen_server.optimization.settings import OptimizationSettings
    >>> settings = OptimizationSettings(llm_api_base="http://127.0.0.1:9/v1")
    >>> build_lm("llama3", settings).model
    'openai/llama3'
"""

from __future__ import annotations

from pathlib import Path

import dspy

from kaizen_server.optimization.errors import LMUnavailableError
from kaizen_server.optimization.settings import OptimizationSettings

__all__ = ["build_lm", "check_lm", "use_job_cache"]

LOCAL_API_KEY = "kaizen-local"
"""Sent to OpenAI-compatible endpoints that need no key (the client library requires one)."""


def build_lm(model: str, settings: OptimizationSettings, api_base: str | None = None) -> dspy.LM:
    """A DSPy LM for ``model``.

    With an ``api_base`` (argument, else ``settings.llm_api_base``) the model is served by that
    OpenAI-compatible endpoint (a bare name gets the ``openai/`` prefix); otherwise ``model`` is
    a provider model name such as ``openai/gpt-4o-mini``, with the provider's usual API key env.
    """
    base = api_base or settings.llm_api_base
    kwargs: dict[str, object] = {
        "num_retries": settings.llm_num_retries,
        "timeout": settings.llm_timeout_s,
        "temperature": settings.llm_temperature,
    }
    if base:
        name = model if "/" in model else f"openai/{model}"
        kwargs.update(api_base=base, api_key=settings.llm_api_key or LOCAL_API_KEY)
    else:
        name = model
        if settings.llm_api_key:
            kwargs["api_key"] = settings.llm_api_key
    return dspy.LM(name, **kwargs)


def check_lm(lm: dspy.LM, role: str) -> None:
    """Make one tiny call so an unreachable LM fails the run early with a readable message."""
    try:
        lm("Reply with the word: ok", cache=False)
    except Exception as exc:
        where = lm.kwargs.get("api_base") or "its provider"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LMUnavailableError(
            f"The {role} model '{lm.model}' at {where} could not be reached: {reason}"
        ) from exc


def use_job_cache(cache_dir: Path) -> None:
    """Point DSPy's response cache at ``cache_dir`` (one folder per job, never shared)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    dspy.configure_cache(
        enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(cache_dir)
    )
