"""What the server does with the fields upstream Kaizen's SDK sends (docs/protocol.md,
"Upstream SDK compatibility"): tasks created on first use by ``task_name`` with the settings
sent along, upstream's task fields stored, echoed and (where we have the feature) honoured,
never a stored credential, and the usual guarantees (422 naming the field, idempotent client
ids, all-or-nothing batches) for all of it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from kaizen_sdk.models import NO_RETENTION_LIMIT
from kaizen_server.services.optimization_window import AUTO_TRIGGERED_BY
from tests.server.helpers import assert_problem, make_task, unique_name
from tests.support.ct_server import CTServerProcess

SECRET = "ghp-never-stored-0123456789"


def flushed(name: str, **fields: Any) -> dict[str, Any]:
    """A feedback body as upstream's ``flush()`` sends it (``core.py``)."""
    return {
        "task_name": name,
        "inputs": {"ticket": "Login fails"},
        "output": "Login issue.",
        "score": 1.0,
        "source": "sdk",
        "prompt_file": None,
        "prompt_locator": None,
    } | fields


def tasks_named(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/tasks", params={"name": name})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_first_feedback_by_name_creates_the_task_with_the_settings_sent(
    any_ct_server: CTServerProcess,
) -> None:
    name = unique_name("flushed")
    settings = {
        "feedback_threshold": 3,
        "teacher_model": "gpt-4o",
        "judge_model": "gpt-4o-mini",
        "mode": "pr_preview",
        "git_provider": "github",
        "git_repo": "acme/app",
        "git_base_branch": "release",
        "git_base_url": "https://github.example.com",
        "git_project": "ACME",
        "git_token": SECRET,
        "prompt_file": "app/prompts.py",
        "prompt_locator": "SUMMARIZE_PROMPT",
        "optimizer_type": "gepa",
        "gepa_config": {"auto": "light"},
    }
    with any_ct_server.client() as client:
        first = client.post("/api/v1/feedback/", json=flushed(name, **settings))
        assert first.status_code == 201, first.text
        (task,) = tasks_named(client, name)
        assert first.json()["task_id"] == task["id"]
        expected = {k: v for k, v in settings.items() if k != "git_token"}
        assert {k: task[k] for k in expected} == expected
        # git_repo / git_base_branch stand for ours on GitHub; optimizer_type picks the optimizer
        assert (task["github_repo"], task["github_base_branch"]) == ("acme/app", "release")
        assert task["evaluator_config"] == {"optimizer": "gepa"}
        assert task["schema_json"] is None  # inputs are never rejected for a guessed schema
        assert SECRET not in client.get(f"/api/v1/tasks/{name}").text

        # Later feedback never changes the task's settings.
        again = client.post(
            "/api/v1/feedback", json=flushed(name, feedback_threshold=99, inputs={"other": "x"})
        )
        assert again.status_code == 201, again.text
        task = client.get(f"/api/v1/tasks/{name}").json()
        assert (task["feedback_threshold"], task["feedback_count"]) == (3, 2)


def test_first_use_defaults_are_upstreams(any_ct_server: CTServerProcess) -> None:
    name = unique_name("defaults")
    with any_ct_server.client() as client:
        assert client.post("/api/v1/feedback", json=flushed(name)).status_code == 201
        task = client.get(f"/api/v1/tasks/{name}").json()
        assert (task["feedback_threshold"], task["mode"]) == (5, "optimize_only")
        assert (task["module_type"], task["feedback_retention_limit"]) == (
            "predict",
            NO_RETENTION_LIMIT,
        )
        # A repository from upstream's git_repo alone keeps upstream's default mode.
        other = unique_name("with_repo")
        body = flushed(other, git_repo="acme/app")
        assert client.post("/api/v1/feedback", json=body).status_code == 201
        task = client.get(f"/api/v1/tasks/{other}").json()
        assert (task["mode"], task["github_repo"]) == ("optimize_only", "acme/app")

        # An existing task without prompt_file / prompt_locator gets them (as upstream does).
        body = flushed(name, prompt_file="app/prompts.py", prompt_locator="PROMPT")
        assert client.post("/api/v1/feedback", json=body).status_code == 201
        task = client.get(f"/api/v1/tasks/{name}").json()
        assert (task["prompt_file"], task["prompt_locator"]) == ("app/prompts.py", "PROMPT")


def test_first_use_threshold_triggers_the_optimization(
    queue_only_ct_server: CTServerProcess,
) -> None:
    name = unique_name("triggered")
    with queue_only_ct_server.client() as client:
        for _ in range(2):
            body = flushed(name, feedback_threshold=3)
            assert client.post("/api/v1/feedback", json=body).status_code == 201
        task_id = client.get(f"/api/v1/tasks/{name}").json()["id"]
        assert client.get("/api/v1/jobs", params={"task_id": task_id}).json() == []
        assert client.post("/api/v1/feedback", json=flushed(name)).status_code == 201
        jobs = client.get("/api/v1/jobs", params={"task_id": task_id}).json()
        assert [job["triggered_by"] for job in jobs] == [AUTO_TRIGGERED_BY]


def test_names_that_break_the_task_name_rules_are_422(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        assert_problem(
            client.post("/api/v1/feedback", json=flushed("team/summarize")), 422, "body.task_name"
        )
        assert_problem(client.post("/api/v1/feedback", json=flushed("")), 422, "body.task_name")
        trace = {"task_id": "bad/name", "source_file": "/srv/a.py", "source_variable": None}
        assert_problem(client.post("/api/v1/traces", json=trace), 422, "task_id")
        assert_problem(
            client.post("/api/v1/feedback", json={"score": 1.0}), 422, "task_id or task_name"
        )
        assert tasks_named(client, "team/summarize") == []


def test_task_id_and_task_name_must_agree(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        body = flushed(unique_name("other")) | {"task_id": task["id"]}
        assert_problem(client.post("/api/v1/feedback", json=body), 422, "body.task_name")
        same = flushed(task["name"]) | {"task_id": task["id"]}
        assert client.post("/api/v1/feedback", json=same).status_code == 201


def test_client_ids_stay_idempotent_by_name(any_ct_server: CTServerProcess) -> None:
    name = unique_name("idempotent")
    body = flushed(name, id=str(uuid.uuid4()))
    with any_ct_server.client() as client:
        first = client.post("/api/v1/feedback", json=body)
        repeat = client.post("/api/v1/feedback", json=body)
        assert (first.status_code, repeat.status_code) == (201, 200)
        assert repeat.json() == first.json()
        assert client.get(f"/api/v1/tasks/{name}").json()["feedback_count"] == 1


def test_a_failing_batch_creates_no_task(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        known = make_task(client, schema_json={"ticket": "string"})
        new = unique_name("batch_new")
        cases = [
            # a pull-request mode without a repository, in the item that creates its task
            ([flushed(new), flushed(unique_name("x"), mode="auto_pr")], "body.items[1].mode"),
            # an unknown task after an item that created one
            ([flushed(new), {"task_id": unique_name("missing"), "score": 1.0}], "items[1].task_id"),
            # an item whose inputs break its task's schema
            ([flushed(new), {"task_id": known["id"], "inputs": {"ticket": 1}}], "items[1].inputs"),
        ]
        for items, location in cases:
            response = client.post("/api/v1/feedback/batch", json={"items": items})
            assert response.status_code in (404, 422), response.text
            assert location in response.json()["detail"]
            assert tasks_named(client, new) == []
        good = client.post(
            "/api/v1/feedback/batch", json={"items": [flushed(new), flushed(new, score=0.5)]}
        )
        assert good.status_code == 201, good.text
        assert len({item["task_id"] for item in good.json()}) == 1
        assert len(tasks_named(client, new)) == 1


def test_instrumented_traces_create_their_task_and_keep_their_source(
    any_ct_server: CTServerProcess,
) -> None:
    name = unique_name("prompts_summarize_prompt")
    body = {
        "task_id": name,
        "prompt_text": "Summarize: Login fails",
        "response_text": "Login issue.",
        "model": "gpt-4o-mini",
        "tokens": 42,
        "latency_ms": 10.5,
        "source_file": "/srv/app/prompts.py",
        "source_variable": "SUMMARIZE_PROMPT",
    }
    with any_ct_server.client() as client:
        created = client.post("/api/v1/traces", json=body)
        assert created.status_code == 201, created.text
        trace = client.get(f"/api/v1/traces/{created.json()['id']}").json()
        assert (trace["source_file"], trace["source_variable"]) == (
            "/srv/app/prompts.py",
            "SUMMARIZE_PROMPT",
        )
        (task,) = tasks_named(client, name)
        assert trace["task_id"] == task["id"]
        second = client.post("/api/v1/traces", json=body)
        assert second.json()["task_id"] == task["id"]
        # Without upstream's instrumentation fields an unknown task is still a 404 ...
        missing = unique_name("missing")
        assert_problem(client.post("/api/v1/traces", json={"task_id": missing}), 404, missing)
        # ... and task_name creates one for our own clients too.
        by_name = client.post("/api/v1/traces", json={"task_name": missing, "model": "m"})
        assert by_name.status_code == 201, by_name.text


def test_create_task_with_upstreams_fields(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(
            client,
            git_provider="gitlab",
            git_repo="group/sub/project",
            git_base_url="https://gitlab.example.com",
            git_token_raw=SECRET,
            github_token_raw=SECRET,
            optimizer_type="miprov2",
            evaluator_config={"max_trials": 3},
            feedback_source="traces",
            auto_eval=True,
            gepa_config={"auto": "heavy"},
        )
        assert (task["git_provider"], task["git_repo"], task["github_repo"]) == (
            "gitlab",
            "group/sub/project",
            None,  # only a GitHub repository stands for ours
        )
        assert task["evaluator_config"] == {"max_trials": 3, "optimizer": "mipro_v2"}
        assert (task["feedback_source"], task["auto_eval"], task["gepa_config"]) == (
            "traces",
            True,
            {"auto": "heavy"},
        )
        assert task["mode"] == "optimize_only"
        assert SECRET not in client.get(f"/api/v1/tasks/{task['id']}").text

        own = make_task(client, optimizer_type="gepa", evaluator_config={"optimizer": "mipro_v2"})
        assert own["evaluator_config"] == {"optimizer": "mipro_v2"}  # ours, when both are sent
        patched = client.patch(f"/api/v1/tasks/{own['id']}", json={"optimizer_type": "gepa"})
        assert patched.json()["evaluator_config"] == {"optimizer": "gepa"}

        refused: list[tuple[dict[str, Any], str]] = [
            ({"git_provider": "gitlab", "git_repo": "g/p", "mode": "auto_pr"}, "body.mode"),
            ({"prompt_format": "python"}, "body.prompt_format"),
            ({"git_provider": "github", "git_repo": "https://evil.example/x"}, "body.git_repo"),
            ({"prompt_file": "../etc/passwd"}, "body.prompt_file"),
            ({"optimizer_type": "random_search"}, "body.optimizer_type"),
            ({"not_a_field": 1}, "body.not_a_field"),
        ]
        for body, field in refused:
            response = client.post("/api/v1/tasks", json={"name": unique_name()} | body)
            assert_problem(response, 422, field)
