"""The console's sign-in, session, CSRF and header rules, over HTTP against the real server.

A browser is a client sending ``Accept: text/html``; these tests speak HTTP as it would.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from kaizen_server.db.engine import Database
from kaizen_server.db.migrate import upgrade_to_head_async
from kaizen_server.services.api_keys import create_key, revoke_key
from kaizen_server.services.console_sessions import find_session, start_session
from kaizen_server.services.errors import UnauthorizedError
from tests.support.ct_server import CTServerProcess

HTML = {"Accept": "text/html"}


def browser(server: CTServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=HTML, timeout=10)


def form_token(client: httpx.Client) -> str:
    page = client.get("/console/sign-in")
    assert page.status_code == 200, page.text
    match = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


@contextlib.contextmanager
def signed_in(server: CTServerProcess, key: str | None = None) -> Iterator[httpx.Client]:
    with browser(server) as client:
        answer = client.post(
            "/console/sign-in",
            data={"form_token": form_token(client), "api_key": key or server.api_key},
        )
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(client: httpx.Client, path: str = "/console") -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def test_without_a_session_pages_lead_to_sign_in_and_the_api_style_client_gets_a_problem(
    ct_server: CTServerProcess,
) -> None:
    with browser(ct_server) as client:
        answer = client.get("/console/jobs?status=FAILURE")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/sign-in?next=/console/jobs?status=FAILURE"
        assert client.get("/").headers["location"] == "/console"
    problem = httpx.get(f"{ct_server.base_url}/console/keys")
    assert problem.status_code == 401
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["detail"] == "Sign in to the console first"


def test_sign_in_sets_a_strict_httponly_expiring_cookie_and_never_the_key(
    ct_server: CTServerProcess,
) -> None:
    with browser(ct_server) as client:
        answer = client.post(
            "/console/sign-in",
            data={
                "form_token": form_token(client),
                "api_key": ct_server.api_key,
                "next": "/console/keys",
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/keys"
        cookie = next(
            value
            for name, value in answer.headers.multi_items()
            if name == "set-cookie" and value.startswith("kaizen_console=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/console" in cookie
        assert "Max-Age=28800" in cookie  # console_session_hours: 8
        assert ct_server.api_key not in cookie
        keys_page = client.get("/console/keys")
        assert keys_page.status_code == 200
        assert ct_server.api_key not in keys_page.text
        assert keys_page.headers["cache-control"] == "no-store"


def test_wrong_key_missing_form_token_and_foreign_next_are_refused(
    ct_server: CTServerProcess,
) -> None:
    with browser(ct_server) as client:
        token = form_token(client)
        wrong = client.post("/console/sign-in", data={"form_token": token, "api_key": "kz-nope"})
        assert wrong.status_code == 401
        assert "unknown or revoked" in wrong.text
        assert "kaizen_console=" not in wrong.headers.get("set-cookie", "")
        no_token = client.post("/console/sign-in", data={"api_key": ct_server.api_key})
        assert no_token.status_code == 403
        assert "The form expired" in no_token.text
        elsewhere = client.post(
            "/console/sign-in",
            data={
                "form_token": form_token(client),
                "api_key": ct_server.api_key,
                "next": "//evil.example/console",
            },
        )
        assert elsewhere.headers["location"] == "/console"


def test_forms_need_the_session_csrf_token_and_a_same_site_origin(
    ct_server: CTServerProcess,
) -> None:
    name = f"csrf_{uuid.uuid4().hex[:8]}"
    fields = {"name": name, "prompt_text": "Do it.", "feedback_threshold": "5"}
    with signed_in(ct_server) as client, ct_server.client() as api:
        missing = client.post("/console/tasks", data=fields)
        assert missing.status_code == 403
        assert "CSRF token" in missing.text
        forged = client.post("/console/tasks", data={**fields, "csrf": "0" * 64})
        assert forged.status_code == 403
        cross_site = client.post(
            "/console/tasks",
            data={**fields, "csrf": csrf_of(client)},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross_site.status_code == 403
        other_origin = client.post(
            "/console/tasks",
            data={**fields, "csrf": csrf_of(client)},
            headers={"Origin": "https://evil.example"},
        )
        assert other_origin.status_code == 403
        assert api.get(f"/api/v1/tasks/{name}").status_code == 404  # nothing was written
        made = client.post("/console/tasks", data={**fields, "csrf": csrf_of(client)})
        assert made.status_code == 303, made.text
        assert api.get(f"/api/v1/prompts/{name}").json()["prompt_text"] == "Do it."


def test_bad_form_values_are_named_and_write_nothing(ct_server: CTServerProcess) -> None:
    name = f"bad_{uuid.uuid4().hex[:8]}"
    with signed_in(ct_server) as client, ct_server.client() as api:
        csrf = csrf_of(client)
        answer = client.post(
            "/console/tasks",
            data={"csrf": csrf, "name": name, "feedback_threshold": "many", "prompt_text": ""},
        )
        assert answer.status_code == 422
        assert "feedback_threshold: must be a whole number" in answer.text
        assert "prompt_text:" in answer.text
        assert api.get(f"/api/v1/tasks/{name}").status_code == 404
        bad_filter = client.get("/console/feedback?min_score=2")
        assert bad_filter.status_code == 422
        assert "min_score" in bad_filter.text
        assert client.get("/console/tasks/no_such_task_here").status_code == 404
        assert client.get("/console/traces/not-a-uuid").status_code == 404


def test_pages_carry_a_strict_policy_and_render_values_escaped(ct_server: CTServerProcess) -> None:
    name = f"esc_{uuid.uuid4().hex[:6]}<i>"
    with ct_server.client() as api:
        assert api.post("/api/v1/tasks", json={"name": name}).status_code == 201
    with signed_in(ct_server) as client:
        page = client.get("/console")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert name.replace("<i>", "&lt;i&gt;") in page.text
        assert name not in page.text


def test_sign_out_and_revoking_the_key_end_sessions(ct_server: CTServerProcess) -> None:
    name = f"temp-{uuid.uuid4().hex[:8]}"
    with signed_in(ct_server) as admin:
        created = admin.post(
            "/console/keys",
            data={"csrf": csrf_of(admin, "/console/keys"), "name": name, "scope": "admin"},
        )
        assert created.status_code == 201
        secret = re.search(r'<pre id="new-key">([^<]+)</pre>', created.text)
        assert secret
        assert secret.group(1) not in admin.get("/console/keys").text  # shown once
        with signed_in(ct_server, secret.group(1)) as other:
            assert other.get("/console/keys").status_code == 200
            row = re.escape(name) + r"</td>.*?/console/keys/([0-9a-f-]{36})/revoke"
            key_id = re.search(row, admin.get("/console/keys").text, re.S)
            assert key_id
            revoked = admin.post(
                f"/console/keys/{key_id.group(1)}/revoke", data={"csrf": csrf_of(admin)}
            )
            assert revoked.status_code == 303
            assert other.get("/console/keys").status_code == 303  # its session ended
        token = admin.cookies.get("kaizen_console")
        out = admin.post("/console/sign-out", data={"csrf": csrf_of(admin)})
        assert out.headers["location"] == "/console/sign-in"
    with browser(ct_server) as replay:
        replay.cookies.set("kaizen_console", str(token), path="/console")
        assert replay.get("/console").status_code == 303  # the old cookie is worthless


def test_only_an_admin_key_signs_in(ct_server: CTServerProcess) -> None:
    with signed_in(ct_server) as admin:
        made = admin.post(
            "/console/keys", data={"csrf": csrf_of(admin, "/console/keys"), "name": "an-app"}
        )
        assert made.status_code == 201
        secret = re.search(r'<pre id="new-key">([^<]+)</pre>', made.text)
        assert secret
        assert re.search(r"an-app</td><td data-label=\"Scope\">app</td>", made.text)
        bad = admin.post(
            "/console/keys",
            data={"csrf": csrf_of(admin, "/console/keys"), "name": "x", "scope": "root"},
        )
        assert bad.status_code == 422
        assert "scope: one of admin, app" in bad.text
    with browser(ct_server) as client:
        refused = client.post(
            "/console/sign-in", data={"form_token": form_token(client), "api_key": secret.group(1)}
        )
        assert refused.status_code == 401
        assert "the console takes an admin key" in refused.text


def test_a_session_ends_when_it_expires(tmp_path: Path) -> None:
    async def scenario() -> None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
        await upgrade_to_head_async(url)
        database = Database.connect(url)
        try:
            async with database.writer() as session:
                key = await create_key(session, "ops")
                live = await start_session(session, key.secret, timedelta(hours=1))
                expired = await start_session(session, key.secret, timedelta(seconds=-1))
            async with database.reader() as session:
                assert (await find_session(session, live.token)) is not None
                assert await find_session(session, expired.token) is None
                assert await find_session(session, "x" * 500) is None
            async with database.writer() as session:
                await revoke_key(session, str(key.record.id))
            async with database.reader() as session:
                assert await find_session(session, live.token) is None
            async with database.writer() as session:
                with pytest.raises(UnauthorizedError, match="unknown or revoked"):
                    await start_session(session, key.secret, timedelta(hours=1))
        finally:
            await database.dispose()

    asyncio.run(scenario())


def test_every_list_page_answers_on_both_databases(any_ct_server: CTServerProcess) -> None:
    name = f"both_{uuid.uuid4().hex[:8]}"
    with any_ct_server.client() as api:
        assert api.post("/api/v1/tasks", json={"name": name}).status_code == 201
        created = api.post(
            f"/api/v1/prompts/{name}/versions", json={"prompt_text": "Hi.", "activate": True}
        )
        assert created.status_code == 201
        rated = api.post("/api/v1/feedback", json={"task_id": name, "output": "x", "score": 0.2})
        assert rated.status_code == 201
    with signed_in(any_ct_server) as client:
        for path in (
            "/console",
            f"/console/tasks/{name}",
            f"/console/feedback?task={name}&max_score=0.3&since=2020-01-01",
            "/console/traces",
            "/console/jobs?status=SUCCESS",
            "/console/keys",
        ):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])
        assert name in client.get("/console").text
        assert "0.20" in client.get(f"/console/feedback?task={name}&max_score=0.3").text


def test_feedback_pages_follow_the_api_cursor(ct_server: CTServerProcess) -> None:
    name = f"pages_{uuid.uuid4().hex[:8]}"
    with ct_server.client() as api:
        assert api.post("/api/v1/tasks", json={"name": name}).status_code == 201
        items = [
            {
                "task_id": name,
                "output": f"answer {n}",
                "score": 0.5,
                "metadata": {"comment": f"c{n}"},
            }
            for n in range(60)
        ]
        assert api.post("/api/v1/feedback/batch", json={"items": items}).status_code == 201
    with signed_in(ct_server) as client:
        first = client.get(f"/console/feedback?task={name}&max_score=0.5")
        assert first.text.count('<tr id="feedback-') == 50
        older = re.search(r'<a rel="next" href="([^"]+)"', first.text)
        assert older
        link = older.group(1).replace("&amp;", "&")
        assert f"task={name}" in link
        assert "max_score=0.5" in link
        second = client.get(f"/console/feedback{link}")
        assert second.text.count('<tr id="feedback-') == 10
        assert 'rel="next"' not in second.text
        shown = re.findall(r'class="comment">(c\d+)<', first.text + second.text)
        assert sorted(shown) == sorted(f"c{n}" for n in range(60))


def test_the_task_page_shows_running_and_finished_rollouts_with_their_figures(
    ct_server: CTServerProcess,
) -> None:
    name = f"rollout_{uuid.uuid4().hex[:8]}"
    with ct_server.client() as api:
        assert api.post("/api/v1/tasks", json={"name": name}).status_code == 201
        versions = [
            api.post(
                f"/api/v1/prompts/{name}/versions",
                json={"prompt_text": text, "activate": text == "v1"},
            ).json()
            for text in ("v1", "v2", "v3")
        ]
        for candidate in versions[1:]:
            started = api.post(
                f"/api/v1/prompts/{name}/rollout",
                json={"version_id": candidate["id"], "share": 0.25},
            )
            assert started.status_code == 201, started.text
            trace = {"task_id": name, "prompt_version_id": candidate["id"], "response_text": "a"}
            traced = api.post("/api/v1/traces", json=trace)
            assert traced.status_code == 201, traced.text
            rating = {"task_id": name, "trace_id": traced.json()["id"], "score": 1.0}
            assert api.post("/api/v1/feedback", json=rating).status_code == 201
            if candidate is versions[1]:
                assert api.post(f"/api/v1/prompts/{name}/rollout/stop").status_code == 200
    with signed_in(ct_server) as client:
        page = client.get(f"/console/tasks/{name}")
    assert page.status_code == 200, page.text[:500]
    section = page.text.split("<h2>Rollouts</h2>", 1)[1].split("</section>", 1)[0]
    rows = section.split("<tr>")[2:]
    assert len(rows) == 2
    assert "v3 vs v1" in rows[0]
    assert "running" in rows[0]
    assert "v2 vs v1" in rows[1]
    assert "stopped by an operator" in rows[1]
    assert "1 / 1 up (100.0 %)" in rows[0]
    assert "25.0 %" in rows[0]
    assert "collecting" in rows[0]  # the recommendation's reason: too few ratings
    assert "no ratings yet" in rows[0]  # no baseline rating: no difference to show
    assert "/rollout/promote" in rows[0]  # running: it can be ended
    assert "/rollout/stop" in rows[0]
    assert "/rollout/" not in rows[1]


def test_a_rollout_is_started_stopped_and_promoted_from_the_console(
    ct_server: CTServerProcess,
) -> None:
    name = f"console_rollout_{uuid.uuid4().hex[:8]}"
    with signed_in(ct_server) as client, ct_server.client() as api:
        assert api.post("/api/v1/tasks", json={"name": name}).status_code == 201
        v1, v2 = (
            api.post(
                f"/api/v1/prompts/{name}/versions",
                json={"prompt_text": text, "activate": text == "Summarize."},
            ).json()
            for text in ("Summarize.", "Summarize in one line.")
        )
        new_form = f"/console/tasks/{name}/rollouts/new?version={v2['id']}"
        assert new_form.replace("&", "&amp;") in client.get(f"/console/tasks/{name}").text
        csrf = csrf_of(client, new_form)
        start = {"csrf": csrf, "version_id": v2["id"], "min_ratings_per_arm": "50"}
        for fields, problem in (
            ({"share_percent": "150"}, "share_percent: must be a number between 0 and 100"),
            ({"share_percent": "half"}, "share_percent: must be"),
            ({"share_percent": "nan"}, "share_percent: must be"),
            ({"share_percent": "1e400"}, "share_percent: must be"),
            ({"share_percent": "20", "min_ratings_per_arm": "0"}, "min_ratings_per_arm:"),
            ({"share_percent": "20", "min_ratings_per_arm": "5\x00"}, "min_ratings_per_arm"),
        ):
            refused = client.post(f"/console/tasks/{name}/rollouts/new", data=start | fields)
            assert refused.status_code == 422, refused.text[:300]
            assert problem in refused.text
            assert api.get(f"/api/v1/prompts/{name}/rollout").status_code == 404  # nothing stored
        started = client.post(
            f"/console/tasks/{name}/rollouts/new",
            data=start | {"share_percent": "20", "auto_decide": "on"},
        )
        assert started.status_code == 303, started.text[:300]
        rollout = api.get(f"/api/v1/prompts/{name}/rollout").json()
        assert (rollout["status"], rollout["share"], rollout["auto_decide"]) == (
            "running",
            0.2,
            True,
        )
        assert rollout["min_ratings_per_arm"] == 50
        confirm = client.get(f"/console/tasks/{name}/rollout/stop")
        assert confirm.status_code == 200
        assert "Stop (roll back) the rollout of v2 (against v1)" in confirm.text
        stopped = client.post(f"/console/tasks/{name}/rollout/stop", data={"csrf": csrf})
        assert stopped.status_code == 303, stopped.text[:300]
        rollout = api.get(f"/api/v1/prompts/{name}/rollout").json()
        assert rollout["status"] == "stopped"
        assert "in the console" in rollout["end_reason"]
        assert api.get(f"/api/v1/prompts/{name}").json()["id"] == v1["id"]
        again = client.post(f"/console/tasks/{name}/rollout/promote", data={"csrf": csrf})
        assert again.status_code == 409  # nothing running to promote
        assert "no running rollout" in again.text

        started = client.post(
            f"/console/tasks/{name}/rollouts/new", data=start | {"share_percent": "50"}
        )
        assert started.status_code == 303
        promoted = client.post(
            f"/console/tasks/{name}/rollout/promote", data={"csrf": csrf, "reason": "users like it"}
        )
        assert promoted.status_code == 303, promoted.text[:300]
        rollout = api.get(f"/api/v1/prompts/{name}/rollout").json()
        assert (rollout["status"], rollout["end_reason"]) == ("promoted", "users like it")
        assert rollout["auto_decide"] is False
        assert api.get(f"/api/v1/prompts/{name}").json()["id"] == v2["id"]
        forged = client.post(f"/console/tasks/{name}/rollout/stop", data={"csrf": "forged"})
        assert forged.status_code == 403
