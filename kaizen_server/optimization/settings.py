"""Server-wide settings of the optimization engine, read from ``KAIZEN_*`` environment variables.

Example:
    >>> OptimizationSettings(default_teacher_model="openai/gpt-4o-mini").default_teacher_model
    'openai/gpt-4o-mini'
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaizen_server.optimization.pricing import ModelPrice

__all__ = ["OptimizationSettings", "api_base_allowed", "get_optimization_settings"]


class OptimizationSettings(BaseSettings):
    """Defaults used when a task does not say otherwise.

    Every field maps to ``KAIZEN_<FIELD>`` (``KAIZEN_LLM_API_BASE``, ``KAIZEN_MODEL_PRICES`` as
    JSON, ...). With nothing set, no LM is configured and jobs use the no-LM optimizer.
    """

    model_config = SettingsConfigDict(env_prefix="KAIZEN_", extra="ignore")

    default_teacher_model: str | None = None
    """Teacher (task) model used when a task sets no ``teacher_model``."""
    default_judge_model: str | None = None
    """Judge model used when a task sets no ``judge_model``; None -> deterministic metric."""
    llm_api_base: str | None = None
    """OpenAI-compatible endpoint (``http://host:port/v1``) for every model; None -> provider."""
    llm_api_key: str | None = None
    """API key sent to ``llm_api_base`` (or the provider)."""
    llm_allowed_api_bases: list[str] = Field(default_factory=list)
    """Further endpoints a task's ``evaluator_config.api_base`` may name (JSON list); a task
    can name no other host, since its jobs would send ``llm_api_key`` there."""
    custom_metrics: list[str] = Field(default_factory=list)
    """``KAIZEN_CUSTOM_METRICS`` (JSON list): the custom metric functions a task's
    ``evaluator_config`` may name, as ``module:function`` entries or module prefixes
    (``"acme.metrics"`` allows ``acme.metrics.text:overlap``). Empty: no custom metric."""
    trace_judge_limit: int = Field(default=50, ge=0, le=1000)
    """Most unscored traces a job has the judge score (newest first; 0: none)."""
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature of the models jobs call (task, teacher, judge). 0 by default: the
    same prompt gets the same answer, so two versions' held-out scores measure the prompts, not
    the sampling (at a server's default 0.8 one prompt scored 20 % and 50 % on one model). DSPy's
    optimizers raise it themselves where they need varied samples (BootstrapFewShot's later
    rounds, MIPROv2's instruction proposals)."""
    llm_timeout_s: float = 60.0
    llm_num_retries: int = 1
    model_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Extra/overriding entries of the price table, model name -> USD per 1M tokens."""
    job_time_limit_s: float = Field(default=1800.0, gt=0)
    """Hard wall-clock limit of one optimization job; over it the job is killed."""
    job_runner: Literal["subprocess", "procrastinate", "none"] = "subprocess"
    """``subprocess``: the server runs each job in a child process; ``procrastinate``: jobs go
    to a queue on PostgreSQL worked by ``kaizen-server worker`` processes; ``none``: jobs stay
    PENDING."""
    job_concurrency: int = Field(default=1, ge=1, le=32)
    """Jobs run at the same time by one server process."""
    job_num_threads: int = 4
    """Parallel LM calls within a job (DSPy evaluation and bootstrapping threads)."""
    job_workdir: Path | None = None
    """Where jobs keep their DSPy cache; None -> a temporary directory per job."""
    github_token: str | None = None
    """Token for GitHub pull requests; None -> pull requests go to a local git repository."""
    github_api_url: str = "https://api.github.com"
    pr_repo_dir: Path | None = None
    """Base folder for local-git pull requests when a task's ``github_repo`` is a bare name."""


def api_base_allowed(api_base: str, settings: OptimizationSettings) -> bool:
    """True when a task may send its LM calls to ``api_base``: ``KAIZEN_LLM_API_BASE`` or one
    of ``KAIZEN_LLM_ALLOWED_API_BASES`` (compared without a trailing slash).

    Example:
        >>> api_base_allowed("http://169.254.169.254/v1", OptimizationSettings())
        False
        >>> api_base_allowed("http://llm:8080/v1/", OptimizationSettings(llm_api_base="http://llm:8080/v1"))
        True
    """
    allowed = {
        base.rstrip("/") for base in [*settings.llm_allowed_api_bases, settings.llm_api_base or ""]
    }
    return bool(api_base) and api_base.rstrip("/") in allowed


@lru_cache(maxsize=1)
def get_optimization_settings() -> OptimizationSettings:
    """The process-wide settings (read once from the environment)."""
    return OptimizationSettings()
