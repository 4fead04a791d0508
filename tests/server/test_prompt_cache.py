"""The cached prompt fetch is never stale after a change: same replica, other replicas, 304s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from kaizen_server.events.broker import PostgresNotifyBroker
from kaizen_server.services.prompt_cache import ActivePromptCache, RenderedPrompt
from tests.server.helpers import add_version, assert_problem, make_task, unique_name
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_get


def _warm(client: httpx.Client, *refs: str) -> dict[str, Any]:
    """Fetch the active prompt by each ref twice (the second is a cache hit); the body."""
    bodies = [client.get(f"/api/v1/prompts/{ref}").json() for ref in refs for _ in range(2)]
    assert all(body == bodies[0] for body in bodies), bodies
    return bodies[0]


def _activate(client: httpx.Client, task: str, version_id: str) -> None:
    response = client.post(f"/api/v1/prompts/{task}/activate", json={"version_id": version_id})
    assert response.status_code == 200, response.text


def test_activation_is_served_at_once_by_the_same_replica(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        first = add_version(client, task["id"], "first", activate=True)
        assert _warm(client, task["name"], task["id"])["id"] == first["id"]
        etag = client.get(f"/api/v1/prompts/{task['name']}").headers["ETag"]
        assert (
            client.get(
                f"/api/v1/prompts/{task['name']}/", headers={"If-None-Match": etag}
            ).status_code
            == 304
        )

        second = add_version(client, task["id"], "second")
        _activate(client, task["name"], second["id"])
        for ref in (task["name"], task["id"]):
            fresh = client.get(f"/api/v1/prompts/{ref}", headers={"If-None-Match": etag})
            assert fresh.status_code == 200
            assert (fresh.json()["id"], fresh.json()["prompt_text"]) == (second["id"], "second")
            assert fresh.headers["ETag"] != etag
            new_etag = fresh.headers["ETag"]
            revalidated = client.get(f"/api/v1/prompts/{ref}", headers={"If-None-Match": new_etag})
            assert (revalidated.status_code, revalidated.content) == (304, b"")
            assert revalidated.headers["ETag"] == new_etag

        third = add_version(client, task["id"], "third", activate=True)
        assert client.get(f"/api/v1/prompts/{task['id']}").json()["id"] == third["id"]


def test_cached_prompt_still_requires_a_valid_key(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task = make_task(client)
        add_version(client, task["id"], "secret prompt", activate=True)
        _warm(client, task["name"])
        path = f"/api/v1/prompts/{task['name']}"
        assert_problem(client.get(path, headers={"X-API-Key": "kz-wrong"}), 401, "Invalid")
        anonymous = loopback_get(f"{ct_server.base_url}{path}")
        assert_problem(anonymous, 401, "Missing")
        too_long = client.get(path, headers={"If-None-Match": "x" * 1001})
        assert too_long.status_code == 422


def test_rename_and_delete_are_served_at_once(ct_server: CTServerProcess) -> None:
    with ct_server.client() as client:
        task = make_task(client)
        add_version(client, task["id"], "p", activate=True)
        _warm(client, task["name"], task["id"])
        new_name = unique_name("renamed")
        assert client.patch(f"/api/v1/tasks/{task['id']}", json={"name": new_name}).is_success
        assert_problem(client.get(f"/api/v1/prompts/{task['name']}"), 404, task["name"])
        assert client.get(f"/api/v1/prompts/{new_name}").status_code == 200
        _warm(client, new_name, task["id"])
        assert client.delete(f"/api/v1/tasks/{task['id']}").status_code == 204
        for ref in (new_name, task["id"]):
            assert client.get(f"/api/v1/prompts/{ref}").status_code == 404


def test_activation_on_another_replica_invalidates_the_cache(
    two_replicas: tuple[CTServerProcess, CTServerProcess],
) -> None:
    writer, reader = two_replicas  # the reader caches prompts for 60 s (see the fixture)
    with writer.client() as write, reader.client() as read:
        task = make_task(write)
        first = add_version(write, task["id"], "first", activate=True)
        assert _warm(read, task["name"])["id"] == first["id"]
        etag = read.get(f"/api/v1/prompts/{task['name']}").headers["ETag"]
        second = add_version(write, task["id"], "second")
        _activate(write, task["id"], second["id"])
        # The change reaches the other replica by NOTIFY (PostgreSQL) or its event-table poll
        # (SQLite, every 0.25 s): well within this deadline, far within the 60 s TTL.
        deadline = time.monotonic() + 5.0
        while True:
            served = read.get(f"/api/v1/prompts/{task['name']}", headers={"If-None-Match": etag})
            if served.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert served.status_code == 200, "the other replica kept serving the old prompt"
        assert served.json()["id"] == second["id"]
        assert served.headers["ETag"] != etag


def test_a_fill_started_before_an_invalidation_is_dropped() -> None:
    cache = ActivePromptCache(ttl=60.0)
    stale = RenderedPrompt(b'{"v": 1}', '"v1"')
    generation = cache.generation  # a request starts loading the old prompt...
    cache.invalidate()  # ...an activation is announced meanwhile...
    cache.put("task", stale, generation)  # ...and the old result must not be stored.
    assert cache.get("task") is None
    cache.put("task", stale, cache.generation)
    assert cache.get("task") == stale


def test_zero_ttl_disables_the_cache() -> None:
    cache = ActivePromptCache(ttl=0)
    cache.put("task", RenderedPrompt(b"{}", '"e"'), cache.generation)
    assert cache.get("task") is None


async def _listen_backends(dsn: str) -> list[int]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


async def _wait_for(predicate: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_no_caching_while_the_listen_connection_is_down(
    ct_server_pg: CTServerProcess,
) -> None:
    import asyncpg

    broker = PostgresNotifyBroker(ct_server_pg.database_url, reconnect_seconds=0.5)
    cache = ActivePromptCache(ttl=60.0)
    broker.add_change_listener(cache.invalidate)
    dsn = ct_server_pg.database_url.replace("postgresql+asyncpg://", "postgresql://")
    before = set(await _listen_backends(dsn))
    await broker.start()
    try:
        assert broker.hears_changes
        cache.put("task", RenderedPrompt(b"{}", '"e"'), cache.generation)
        (ours,) = set(await _listen_backends(dsn)) - before
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", ours)
        finally:
            await admin.close()
        await _wait_for(lambda: not broker.hears_changes, "noticing the lost connection")
        assert cache.get("task") is None  # what was cached could now go stale unheard
        await _wait_for(lambda: broker.hears_changes, "the reconnection")
    finally:
        await broker.stop()
