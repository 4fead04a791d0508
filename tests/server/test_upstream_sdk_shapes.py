"""Upstream Kaizen's own SDK against this server: every request it sends, as it sends it.

Upstream is github.com/emirhan-gazi/kaizen (read at commit c3b6ed9f; ``core.py`` at 5a4b187a).
Nothing of its code is used here: its requests and its response models were read from its
source and written down below as data, each with the upstream file it comes from:

* :data:`UPSTREAM_RESPONSE_MODELS`: every response model its SDK parses, with each field's type
  and whether it is required (``...``) or its default. A field without ``| None`` rejects an
  explicit null there, which is what broke ``list_tasks`` for every user once one stored task
  had a null ``module_type``.
* :data:`UPSTREAM_CALLS`: every request of its ``CTClient`` / ``AsyncCTClient`` (the two send
  identical requests), of the module-level ``flush`` / ``flush_sync`` / ``get_prompt``
  (``core.py``) and of ``instrument()`` (``instrument.py``): method, path, body and query.

The scenario sends them in order to the real server (SQLite and PostgreSQL); ``{name[field]}``
in a path or body is a value of an earlier response. Each response must have the status
upstream's client accepts and parse with the mirrored model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, create_model

from tests.server.helpers import add_version, make_task, unique_name
from tests.support.ct_server import CTServerProcess

# src/sdk/kaizen_sdk/models.py: {model: {field: (type, default)}}; ``...`` = required. Task
# also populates by field name; FeedbackResult reads ``metadata`` only from ``metadata_``.
UPSTREAM_RESPONSE_MODELS: dict[str, dict[str, tuple[Any, Any]]] = {
    "Task": {
        "id": (uuid.UUID, ...),
        "name": (str, ...),
        "description": (str | None, None),
        "task_schema": (dict[str, Any] | None, Field(None, alias="schema_json")),
        "feedback_threshold": (int, ...),
        "feedback_retention_limit": (int, 1000),
        "evaluator_config": (dict[str, Any] | None, None),
        "teacher_model": (str | None, None),
        "judge_model": (str | None, None),
        "module_type": (str, "predict"),
        "cost_budget": (float | None, None),
        "github_repo": (str | None, None),
        "github_base_branch": (str | None, None),
        "prompt_path": (str | None, None),
        "prompt_format": (str | None, None),
        "created_at": (datetime, ...),
        "feedback_count": (int, 0),
        "last_optimization": (datetime | None, None),
        "active_prompt_score": (float | None, None),
        "threshold_progress": (str, "0/50"),
    },
    "FeedbackResult": {
        "id": (uuid.UUID, ...),
        "task_id": (uuid.UUID, ...),
        "inputs": (dict[str, Any] | None, None),
        "output": (str | None, None),
        "score": (float | None, None),
        "source": (str | None, None),
        "metadata": (dict[str, Any] | None, Field(None, alias="metadata_")),
        "created_at": (datetime, ...),
    },
    "Prompt": {
        "id": (uuid.UUID, ...),
        "task_id": (uuid.UUID, ...),
        "version_number": (int, ...),
        "prompt_text": (str | None, None),
        "eval_score": (float | None, None),
        "status": (str, ...),
        "optimizer": (str | None, None),
        "dspy_version": (str | None, None),
        "created_at": (datetime, ...),
    },
    "Job": {
        "id": (uuid.UUID, ...),
        "task_id": (uuid.UUID, ...),
        "prompt_version_id": (uuid.UUID | None, None),
        "status": (str, ...),
        "triggered_by": (str | None, None),
        "feedback_count": (int | None, None),
        "pr_url": (str | None, None),
        "error_message": (str | None, None),
        "job_metadata": (dict[str, Any] | None, None),
        "progress_step": (str | None, None),
        "started_at": (datetime | None, None),
        "completed_at": (datetime | None, None),
        "created_at": (datetime, ...),
    },
    "CostEstimate": {
        "estimated_cost_usd": (float, ...),
        "estimated_llm_calls": (int, ...),
        "train_size": (int, ...),
        "val_size": (int, ...),
        "max_trials": (int, ...),
        "teacher_model": (str, ...),
        "judge_model": (str, ...),
    },
    "OptimizeResult": {
        "job": ("Job", ...),
        "cost_estimate": ("CostEstimate", ...),
        "budget_warning": (str | None, None),
    },
    "TraceResult": {
        "id": (uuid.UUID, ...),
        "task_id": (uuid.UUID, ...),
        "prompt_text": (str | None, None),
        "response_text": (str | None, None),
        "model": (str | None, None),
        "tokens": (int | None, None),
        "latency_ms": (float | None, None),
        "source_file": (str | None, None),
        "source_variable": (str | None, None),
        "score": (float | None, None),
        "scored_by": (str | None, None),
        "created_at": (datetime, ...),
    },
}


def _mirror_models() -> dict[str, type[BaseModel]]:
    """Pydantic models built from :data:`UPSTREAM_RESPONSE_MODELS` (unknown fields ignored,
    as upstream's ``extra='ignore'``)."""
    models: dict[str, type[BaseModel]] = {}
    for name, fields in UPSTREAM_RESPONSE_MODELS.items():  # nested models come last
        resolved = {
            field: (models[kind] if isinstance(kind, str) else kind, default)
            for field, (kind, default) in fields.items()
        }
        config = ConfigDict(extra="ignore", populate_by_name=name == "Task")
        models[name] = create_model(  # type: ignore[call-overload]
            f"Upstream{name}", __config__=config, **resolved
        )
    return models


MIRRORS = _mirror_models()


@dataclass(frozen=True)
class UpstreamCall:
    """One request upstream's SDK sends and what its client does with the answer."""

    sdk_call: str
    source: str
    """The upstream file that sends it."""
    method: str
    path: str
    body: Any = None
    """The JSON body (None: no body); upstream's ``create_task`` drops keys whose value is None."""
    params: dict[str, str] | None = None
    model: str | None = None
    """The upstream model the response is parsed with; ``list[X]`` for a list."""
    accepted: tuple[int, ...] = (200, 201)
    """Statuses upstream's client takes as success (``instrument`` wants exactly 201)."""
    save_as: str | None = None


UPSTREAM_CALLS: tuple[UpstreamCall, ...] = (
    UpstreamCall(
        "CTClient.create_task(name, feedback_threshold=50)",
        "src/sdk/kaizen_sdk/client.py, async_client.py",
        "POST",
        "/api/v1/tasks",
        body={"name": "{names[plain]}", "feedback_threshold": 50},
        model="Task",
        save_as="task",
    ),
    UpstreamCall(
        "CTClient.create_task(..., **kwargs with upstream's TaskCreate fields)",
        "src/sdk/kaizen_sdk/client.py; fields of src/api/schemas.py TaskCreate",
        "POST",
        "/api/v1/tasks",
        body={
            "name": "{names[configured]}",
            "description": "Summarize a ticket",
            "schema_json": {"ticket": "string"},
            "feedback_threshold": 20,
            "feedback_retention_limit": 1000,
            "teacher_model": "gpt-4o",
            "judge_model": "gpt-4o-mini",
            "module_type": "chain_of_thought",
            "cost_budget": 5.0,
            "git_provider": "github",
            "git_base_url": "https://github.example.com",
            "git_token_raw": "ghp-not-stored",
            "git_project": "ACME",
            "git_repo": "acme/app",
            "git_base_branch": "main",
            "prompt_path": "prompts/summarize.txt",
            "prompt_format": "text",
            "prompt_file": "app/prompts.py",
            "prompt_locator": "SUMMARIZE_PROMPT",
            "feedback_source": "sdk",
            "auto_eval": False,
            "github_token_raw": "ghp-not-stored-either",
            "mode": "pr_preview",
            "optimizer_type": "gepa",
            "gepa_config": {"auto": "light"},
        },
        model="Task",
        save_as="configured",
    ),
    UpstreamCall(
        "CTClient.list_tasks()",
        "src/sdk/kaizen_sdk/client.py",
        "GET",
        "/api/v1/tasks",
        model="list[Task]",
    ),
    UpstreamCall(
        "CTClient.log_feedback(task_id, inputs, output, score)",
        "src/sdk/kaizen_sdk/client.py",
        "POST",
        "/api/v1/feedback",
        body={
            "task_id": "{task[id]}",
            "inputs": {"ticket": "Login fails"},
            "output": "Login issue.",
            "score": 0.9,
            "source": "sdk",
            "metadata": {"user": "u-17"},
        },
        model="FeedbackResult",
        save_as="logged",
    ),
    UpstreamCall(
        "CTClient.trigger_optimization(task_id)",
        "src/sdk/kaizen_sdk/client.py",
        "POST",
        "/api/v1/optimize/{task[id]}",
        model="OptimizeResult",
        save_as="optimized",
    ),
    UpstreamCall(
        "CTClient.get_job(job_id)",
        "src/sdk/kaizen_sdk/client.py",
        "GET",
        "/api/v1/jobs/{optimized[job][id]}",
        model="Job",
    ),
    UpstreamCall(
        "CTClient.activate_prompt(task_id, version_id)  (a JSON body, see docs/protocol.md)",
        "src/sdk/kaizen_sdk/client.py",
        "POST",
        "/api/v1/prompts/{task[id]}/activate",
        body={"version_id": "{draft[id]}"},
        model="Prompt",
    ),
    UpstreamCall(
        "CTClient.get_prompt(task_id)",
        "src/sdk/kaizen_sdk/client.py",
        "GET",
        "/api/v1/prompts/{task[id]}",
        model="Prompt",
    ),
    UpstreamCall(
        "kaizen_sdk.flush(score) / flush_sync(score): a buffered trace(...) with init(...)",
        "src/sdk/kaizen_sdk/core.py (_build_feedback_payload)",
        "POST",
        "/api/v1/feedback/",
        body={
            "task_name": "{names[flushed]}",
            "inputs": {"ticket": "Login fails"},
            "output": "Login issue.",
            "score": 1.0,
            "source": "sdk",
            "prompt_file": "app/prompts.py",
            "prompt_locator": "SUMMARIZE_PROMPT",
            "git_provider": "github",
            "git_token": "ghp-not-stored",
            "git_repo": "acme/app",
            "git_base_branch": "main",
            "mode": "optimize_only",
            "feedback_threshold": 3,
            "teacher_model": "gpt-4o",
            "judge_model": "gpt-4o-mini",
        },
        model="FeedbackResult",
        save_as="flushed",
    ),
    UpstreamCall(
        "kaizen_sdk.get_prompt(task_name): first the task by name",
        "src/sdk/kaizen_sdk/core.py",
        "GET",
        "/api/v1/tasks/",
        params={"name": "{names[flushed]}"},
        model="list[Task]",
        save_as="by_name",
    ),
    UpstreamCall(
        "kaizen_sdk.get_prompt(task_name): then its active prompt",
        "src/sdk/kaizen_sdk/core.py",
        "GET",
        "/api/v1/prompts/{by_name[0][id]}",
        model="Prompt",
        accepted=(200, 404),  # upstream returns None on a 404 (no prompt yet)
    ),
    UpstreamCall(
        "instrument(litellm): a traced completion (task name from the prompt's file, variable)",
        "src/sdk/kaizen_sdk/instrument.py (_build_trace_data, _send_trace)",
        "POST",
        "/api/v1/traces",
        body={
            "task_id": "{names[instrumented]}",
            "prompt_text": "Summarize: Login fails",
            "response_text": "Login issue.",
            "model": "gpt-4o-mini",
            "tokens": 42,
            "latency_ms": 812.25,
            "source_file": "/srv/app/prompts.py",
            "source_variable": "SUMMARIZE_PROMPT",
        },
        model="TraceResult",
        accepted=(201,),
        save_as="trace",
    ),
    UpstreamCall(
        "CTClient.score(trace_id, score) / result.ct_score(score)",
        "src/sdk/kaizen_sdk/client.py; instrument.py (_score_trace)",
        "POST",
        "/api/v1/traces/{trace[id]}/score",
        body={"score": 0.8, "scored_by": "sdk"},
        model="TraceResult",
    ),
)


def _fill(value: Any, context: dict[str, Any]) -> Any:
    """``value`` with ``{name[field]}`` placeholders replaced by earlier responses' values."""
    if isinstance(value, str):
        return value.format_map(context)
    if isinstance(value, dict):
        return {key: _fill(item, context) for key, item in value.items()}
    return value


def _check_shape(call: UpstreamCall, response: httpx.Response) -> None:
    """The response parses with the mirrored upstream model (every item of a list)."""
    if call.model is None or response.status_code == 404:
        return
    many = call.model.startswith("list[")
    mirror = MIRRORS[call.model.removeprefix("list[").removesuffix("]")]
    payload = response.json()
    for item in payload if many else [payload]:
        mirror.model_validate(item)
    if many:
        assert isinstance(payload, list)


def _send(http: httpx.Client, call: UpstreamCall, context: dict[str, Any]) -> httpx.Response:
    return http.request(
        call.method,
        _fill(call.path, context),
        json=_fill(call.body, context) if call.body is not None else None,
        params=_fill(call.params, context) if call.params is not None else None,
    )


def test_every_upstream_sdk_call_parses_with_upstream_models(
    any_ct_server: CTServerProcess,
) -> None:
    context: dict[str, Any] = {
        "names": {
            "plain": unique_name("upstream_plain"),
            "configured": unique_name("upstream_configured"),
            "flushed": unique_name("upstream_flushed"),
            "instrumented": unique_name("prompts_summarize_prompt"),
        }
    }
    with any_ct_server.client() as http:
        # Tasks stored without module_type / feedback_retention_limit (null columns) are what
        # upstream's list_tasks tripped over: one is always in the list.
        make_task(http, name=unique_name("stored_without_defaults"))
        for call in UPSTREAM_CALLS:
            if call.sdk_call.startswith("CTClient.activate_prompt"):  # setup: a draft to activate
                context["draft"] = add_version(http, context["task"]["id"], "Summarize.")
            response = _send(http, call, context)
            assert response.status_code in call.accepted, (call.sdk_call, response.text)
            assert response.history == [], call.sdk_call  # upstream follows redirects; none
            _check_shape(call, response)
            if call.save_as is not None:
                context[call.save_as] = response.json()
    assert context["by_name"][0]["name"] == context["names"]["flushed"]  # the ?name= filter
    assert context["trace"]["source_variable"] == "SUMMARIZE_PROMPT"
    assert context["logged"]["metadata"] == {"user": "u-17"}


@pytest.mark.parametrize("field", ["teacher_model", "judge_model"])
def test_cost_estimate_models_are_strings_without_an_lm(
    any_ct_server: CTServerProcess, field: str
) -> None:
    """No teacher or judge resolves on the test server: upstream's CostEstimate still parses,
    with "" (no model is called) rather than a model name that would not be used."""
    with any_ct_server.client() as http:
        task = make_task(http)
        http.post("/api/v1/feedback", json={"task_id": task["id"], "score": 1.0, "output": "x"})
        response = http.post(f"/api/v1/optimize/{task['id']}")
        assert response.status_code == 200, response.text
        parsed = MIRRORS["OptimizeResult"].model_validate(response.json())
        estimate = getattr(parsed, "cost_estimate")  # noqa: B009  (a model built from data)
        assert getattr(estimate, field) == ""
