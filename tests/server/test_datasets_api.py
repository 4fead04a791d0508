"""Seed uploads and dataset exports over HTTP, against the real server.

``POST /api/v1/tasks/{task}/seed`` (JSONL raw or multipart; all-or-nothing, line-numbered
errors, its own size bound, seeds never count toward the threshold) and
``GET /api/v1/tasks/{task}/export`` (rows and chat formats).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.helpers import add_version, assert_problem, feedback_body, make_task
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.doctests import assert_examples_pass

JSONL = {"Content-Type": "application/x-ndjson"}
SMALL_BODY_BYTES = 2048
SMALL_SEED_BYTES = 6000
SMALL_SEED_LIMIT = 4


@pytest.fixture(scope="module")
def small_limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTServerProcess]:
    """A SQLite server with tiny body, seed-size and seed-count limits; jobs stay PENDING."""
    workdir = tmp_path_factory.mktemp("ct-seed-limits")
    env = {
        "KAIZEN_MAX_BODY_BYTES": str(SMALL_BODY_BYTES),
        "KAIZEN_MAX_SEED_BYTES": str(SMALL_SEED_BYTES),
        "KAIZEN_SEED_LIMIT": str(SMALL_SEED_LIMIT),
        "KAIZEN_JOB_RUNNER": "none",
    }
    url = f"sqlite+aiosqlite:///{workdir / 'kaizen.db'}"
    with running_ct_server(url, workdir, extra_env=env) as server:
        yield server


def _seed_line(ticket: str, output: str, score: float = 1.0, **extra: Any) -> str:
    return json.dumps({"inputs": {"ticket": ticket}, "output": output, "score": score} | extra)


def _jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def _feedback(client: httpx.Client, task: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/feedback", params={"task_id": task})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_seed_export_round_trip(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        source = make_task(client, schema_json={"ticket": "string"})["name"]
        body = (
            "\ufeff"  # a UTF-8 byte-order mark, as some editors write
            + _seed_line("Order missing", "Missing order.", metadata={"origin": "archive"})
            + "\r\n\n   \n"  # CRLF, then blank lines (skipped)
            + _seed_line("Refund late", "Late refund.", 0.9)
            + "\n"
            + _seed_line("Login fails", "Login issue.", 0.2)  # no final newline
        )
        response = client.post(f"/api/v1/tasks/{source}/seed", content=body.encode(), headers=JSONL)
        assert response.status_code == 201, response.text
        result = response.json()
        assert (result["accepted"], result["rejected"], result["errors"]) == (3, 0, [])
        assert (result["total_seeds"], result["seed_limit"]) == (3, 5000)

        stored = _feedback(client, source)
        assert {row["source"] for row in stored} == {"seed"}
        task = client.get(f"/api/v1/tasks/{source}").json()
        assert task["feedback_count"] == 3
        assert task["threshold_progress"] == "0/50"  # seeds never count

        rows = _jsonl(client.get(f"/api/v1/tasks/{source}/export"))
        assert [row["inputs"]["ticket"] for row in rows] == [
            "Order missing",
            "Refund late",
            "Login fails",
        ]  # oldest first: the file's order
        assert rows[0]["metadata"] == {"origin": "archive"}
        assert rows[1]["score"] == 0.9

        # The export loads into another task as it is (multipart, upstream's form).
        target = make_task(client)["name"]
        exported = client.get(f"/api/v1/tasks/{source}/export").content
        files = {"file": ("seed.jsonl", exported, "application/x-ndjson")}
        response = client.post(f"/api/v1/tasks/{target}/seed", files=files)
        assert response.status_code == 201, response.text
        copied = _jsonl(client.get(f"/api/v1/tasks/{target}/export"))
        fields = ("inputs", "output", "score", "metadata", "source")
        assert [{k: r[k] for k in fields} for r in copied] == [
            {k: r[k] for k in fields} for r in rows
        ]
        assert {r["task_id"] for r in copied} == {
            client.get(f"/api/v1/tasks/{target}").json()["id"]
        }

        add_version(client, source, "Summarize the ticket.", activate=True)
        chat = _jsonl(
            client.get(
                f"/api/v1/tasks/{source}/export", params={"format": "chat", "min_score": 0.5}
            )
        )
        assert chat == [
            {
                "messages": [
                    {"role": "system", "content": "Summarize the ticket."},
                    {"role": "user", "content": '{"ticket":"Order missing"}'},
                    {"role": "assistant", "content": "Missing order."},
                ]
            },
            {
                "messages": [
                    {"role": "system", "content": "Summarize the ticket."},
                    {"role": "user", "content": '{"ticket":"Refund late"}'},
                    {"role": "assistant", "content": "Late refund."},
                ]
            },
        ]  # the 0.2 row is below min_score


def test_trace_export_in_both_formats(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task = make_task(client)["name"]
        trace = {
            "task_id": task,
            "prompt_text": "Classify the ticket.",
            "response_text": "billing",
            "inputs": {"ticket": "Charged twice"},
        }
        assert client.post("/api/v1/traces", json=trace).status_code == 201
        unanswered = {"task_id": task, "inputs": {"ticket": "?"}}
        assert client.post("/api/v1/traces", json=unanswered).status_code == 201
        rows = _jsonl(client.get(f"/api/v1/tasks/{task}/export", params={"records": "traces"}))
        assert [row["response_text"] for row in rows] == ["billing", None]
        chat = _jsonl(
            client.get(
                f"/api/v1/tasks/{task}/export", params={"records": "traces", "format": "chat"}
            )
        )
        assert chat == [
            {
                "messages": [
                    {"role": "system", "content": "Classify the ticket."},
                    {"role": "user", "content": '{"ticket":"Charged twice"}'},
                    {"role": "assistant", "content": "billing"},
                ]
            }
        ]  # the call without a response is left out


def test_bad_lines_are_named_and_nothing_is_stored(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task = make_task(client, schema_json={"ticket": "string"})["name"]
        body = "\n".join(
            [
                _seed_line("ok", "fine"),
                _seed_line("high", "score too high", 1.5),
                '{"inputs": {"ticket": "cut',
                json.dumps({"inputs": {"subject": "x"}, "output": "y", "score": 1.0}),
                "[1, 2]",
                json.dumps({"inputs": {"ticket": "nul \u0000"}, "output": "y", "score": 1.0}),
            ]
        )
        response = client.post(f"/api/v1/tasks/{task}/seed", content=body, headers=JSONL)
        problem = assert_problem(response, 422, "Nothing was stored", "line 2: score")
        by_line = {error["line"]: error for error in problem["errors"]}
        assert sorted(by_line) == [2, 3, 4, 5, 6]
        assert by_line[2]["loc"] == ["line", 2, "score"]
        assert by_line[3]["type"] == "json_invalid"
        assert "ticket" in by_line[4]["msg"]
        assert by_line[5]["type"] == "model_type"
        assert "NUL" in by_line[6]["msg"]
        assert _feedback(client, task) == []

        empty = client.post(f"/api/v1/tasks/{task}/seed", content=b"\n \n", headers=JSONL)
        assert_problem(empty, 422, "no seed lines")
        no_file = client.post(f"/api/v1/tasks/{task}/seed", files={"other": ("a", b"x")})
        assert_problem(no_file, 422, "body.file")
        unknown = client.post("/api/v1/tasks/no_such_task_x/seed", content=b"{}", headers=JSONL)
        assert_problem(unknown, 404, "no_such_task_x")
        assert_problem(client.get("/api/v1/tasks/no_such_task_x/export"), 404)
        assert (
            client.get(f"/api/v1/tasks/{task}/export", params={"format": "csv"}).status_code == 422
        )


def test_seed_bounds(small_limits_server: CTServerProcess) -> None:
    with small_limits_server.client() as client:
        task = make_task(client)["name"]
        url = f"/api/v1/tasks/{task}/seed"
        # Larger than KAIZEN_MAX_BODY_BYTES, within KAIZEN_MAX_SEED_BYTES: accepted.
        lines = [_seed_line(f"t{i}", "x" * 900) for i in range(3)]
        big = "\n".join(lines).encode()
        assert SMALL_BODY_BYTES < len(big) < SMALL_SEED_BYTES
        response = client.post(url, content=big, headers=JSONL)
        assert response.status_code == 201, response.text

        too_large = b"\n".join([_seed_line("t", "x" * 1500).encode()] * 5)
        assert len(too_large) > SMALL_SEED_BYTES
        declared = client.post(url, content=too_large, headers=JSONL)
        assert_problem(declared, 413, str(SMALL_SEED_BYTES))
        chunked = client.post(
            url, content=iter([too_large[:3000], too_large[3000:]]), headers=JSONL
        )
        assert "content-length" not in chunked.request.headers
        assert_problem(chunked, 413, str(SMALL_SEED_BYTES))

        long_line = _seed_line("t", "x" * SMALL_BODY_BYTES)
        response = client.post(url, content=long_line, headers=JSONL)
        assert_problem(response, 422, f"line 1: longer than {SMALL_BODY_BYTES} bytes")

        over_limit = "\n".join(_seed_line(f"u{i}", "y") for i in range(2))
        response = client.post(url, content=over_limit, headers=JSONL)
        assert_problem(response, 409, f"limit of {SMALL_SEED_LIMIT}")
        assert len(_feedback(client, task)) == 3


def test_seeds_do_not_count_toward_the_threshold(small_limits_server: CTServerProcess) -> None:
    with small_limits_server.client() as client:
        task = make_task(client, feedback_threshold=2)["name"]
        seeds = "\n".join(_seed_line(f"s{i}", "seeded") for i in range(2))
        response = client.post(f"/api/v1/tasks/{task}/seed", content=seeds, headers=JSONL)
        assert response.status_code == 201, response.text

        def jobs() -> list[dict[str, Any]]:
            listed: list[dict[str, Any]] = client.get(
                "/api/v1/jobs", params={"task_id": task}
            ).json()
            return listed

        assert jobs() == []
        assert client.get(f"/api/v1/tasks/{task}").json()["threshold_progress"] == "0/2"
        assert client.post("/api/v1/feedback", json=feedback_body(task)).status_code == 201
        assert jobs() == []  # 2 seeds + 1 live: 1 of 2
        assert client.post("/api/v1/feedback", json=feedback_body(task)).status_code == 201
        queued = jobs()
        assert [job["status"] for job in queued] == ["PENDING"]  # the live feedback counts
        # The job trains on the seeds too: they are the task's feedback.
        assert len(_feedback(client, task)) == 4


def test_openapi_documents_the_endpoints_with_examples(ct_server: CTServerProcess) -> None:
    schema = httpx.get(f"{ct_server.base_url}/openapi.json").json()
    seed = schema["paths"]["/api/v1/tasks/{task}/seed"]["post"]
    assert set(seed["requestBody"]["content"]) == {"application/x-ndjson", "multipart/form-data"}
    assert seed["requestBody"]["content"]["application/x-ndjson"]["examples"]
    assert seed["responses"]["422"]["content"]["application/problem+json"]["example"]["errors"]
    export = schema["paths"]["/api/v1/tasks/{task}/export"]["get"]
    assert export["responses"]["200"]["content"]["application/x-ndjson"]["examples"]["chat"]
    params = {param["name"]: param for param in export["parameters"]}
    assert set(params["format"]["examples"]) == {"rows", "chat"}
    keys = schema["paths"]["/api/v1/keys"]
    assert set(keys["post"]["requestBody"]["content"]["application/json"]["examples"]) >= {
        "app",
        "upstream",
    }
    assert "403" in keys["get"]["responses"]
    assert "/api/v1/keys/{key_id}" in schema["paths"]


def test_module_examples() -> None:
    for name in (
        "kaizen_server.api",
        "kaizen_server.http.body_limit",
        "kaizen_server.services.dataset_export",
        "kaizen_server.services.seeding",
        "kaizen_server.services.api_keys",
    ):
        assert_examples_pass(name)
