"""Server-sent prompt events: delivery, resume with Last-Event-ID, heartbeats, replicas."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.server.helpers import add_version, make_task
from tests.server.sse_reader import FrameReader
from tests.support.ct_server import CTServerProcess, running_ct_server
from tests.support.loopback_http import SHARED_SSL_CONTEXT

pytestmark = pytest.mark.anyio
EVENTS = "/api/v1/events/prompts"


def _async_client(server: CTServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        headers={"X-API-Key": server.api_key},
        timeout=httpx.Timeout(10.0, read=30.0),
        verify=SHARED_SSL_CONTEXT,
    )


async def test_activation_event_then_resume_after_last_event_id(
    any_ct_server: CTServerProcess,
) -> None:
    with any_ct_server.client() as sync:
        task = make_task(sync)
        first = add_version(sync, task["id"], "one")
        second = add_version(sync, task["id"], "two")
        third = add_version(sync, task["id"], "three")
    async with _async_client(any_ct_server) as client:
        async with client.stream("GET", EVENTS) as response:
            reader = FrameReader(response)
            assert "connected" in (await reader.next()).comments
            for version in (first, second):
                activated = await client.post(
                    f"/api/v1/prompts/{task['name']}/activate", json={"version_id": version["id"]}
                )
                assert activated.status_code == 200
            event_one = await reader.next_event_for(task["id"])
            event_two = await reader.next_event_for(task["id"])
        assert event_one.event == "prompt.activated"
        assert event_one.json() | {"created_at": None} == {
            "task_id": task["id"],
            "task_name": task["name"],
            "version_id": first["id"],
            "version_number": 1,
            "created_at": None,
        }
        assert event_two.json()["version_id"] == second["id"]
        assert int(event_two.id or 0) > int(event_one.id or 0)

        missed = await client.post(
            f"/api/v1/prompts/{task['id']}/activate", params={"version_id": third["id"]}
        )
        assert missed.status_code == 200
        headers = {"Last-Event-ID": event_one.id or ""}
        async with client.stream("GET", f"{EVENTS}/", headers=headers) as response:
            reader = FrameReader(response)
            replayed = [await reader.next_event_for(task["id"]) for _ in range(2)]
        assert [f.json()["version_id"] for f in replayed] == [second["id"], third["id"]]
        async with client.stream("GET", EVENTS, params={"last_event_id": event_two.id}) as response:
            reader = FrameReader(response)
            replayed_by_query = await reader.next_event_for(task["id"])
        assert replayed_by_query.json()["version_id"] == third["id"]


async def test_idle_stream_gets_heartbeats(tuned_ct_server: CTServerProcess) -> None:
    async with (
        _async_client(tuned_ct_server) as client,
        client.stream("GET", EVENTS) as response,
    ):
        reader = FrameReader(response)
        await reader.next()
        heartbeats = [await reader.next(seconds=5.0) for _ in range(2)]
    assert all(frame.comments == ["heartbeat"] for frame in heartbeats)


def _task_with_draft(server: CTServerProcess) -> tuple[str, str]:
    """A new task and a draft version of it: (task id, version id)."""
    with server.client() as sync:
        task = make_task(sync)
        return task["id"], add_version(sync, task["id"], "draft")["id"]


def _activate(server: CTServerProcess, task_id: str, version_id: str) -> None:
    with server.client() as sync:
        response = sync.post(f"/api/v1/prompts/{task_id}/activate", json={"version_id": version_id})
        assert response.status_code == 200, response.text


@contextlib.asynccontextmanager
async def _watching(
    replicas: tuple[CTServerProcess, CTServerProcess],
) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Listen to the second replica's event stream (past its "connected" comment); yields a
    check that activates a new task's draft through the first and awaits the event."""
    writer, listener = replicas
    task_id, version_id = _task_with_draft(writer)
    async with _async_client(listener) as client, client.stream("GET", EVENTS) as response:
        reader = FrameReader(response)
        await reader.next()

        async def activation_arrives() -> None:
            _activate(writer, task_id, version_id)
            event = await reader.next_event_for(task_id)
            assert event.json()["version_id"] == version_id

        yield activation_arrives


async def test_event_reaches_another_replica_which_then_stops_promptly(
    two_replicas: tuple[CTServerProcess, CTServerProcess],
) -> None:
    listener = two_replicas[1]
    async with _watching(two_replicas) as activation_arrives:
        await activation_arrives()
        # Shutting a replica down ends its open streams at once (no grace-period wait).
        started = time.monotonic()
        await anyio.to_thread.run_sync(listener.stop)
        stopped_after = time.monotonic() - started
    assert listener.process is not None
    # uvicorn re-raises SIGTERM after a graceful shutdown; SIGKILL (-9) would mean it hung
    assert listener.process.returncode in (0, -15)
    assert stopped_after < 3.0


@pytest.fixture
def two_pg_replicas(
    ct_server_pg: CTServerProcess, tmp_path: Path
) -> Iterator[tuple[CTServerProcess, CTServerProcess]]:
    with running_ct_server(ct_server_pg.database_url, tmp_path) as second:
        yield ct_server_pg, second


async def _terminate_listen_connections(database_url: str) -> int:
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        return len(rows)
    finally:
        await connection.close()


async def test_lost_listen_connection_is_replaced(
    two_pg_replicas: tuple[CTServerProcess, CTServerProcess],
) -> None:
    async with _watching(two_pg_replicas) as activation_arrives:
        assert await _terminate_listen_connections(two_pg_replicas[1].database_url) >= 2
        await activation_arrives()
