"""Database faults under the CT server: the SQLite file locked by another process for a
while, and every PostgreSQL connection of the server terminated (``pg_terminate_backend``).
The server answers 503 at worst (never 500), recovers by itself, and the app's feedback
arrives exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.apps import BENCH_PROMPT, BENCH_TASK
from bench.plugin_http import feedback_count, issue_tokens
from bench.processes import ct_server, postgres_running, seed_task, wait_until
from tests.reliability.conftest import Hammer, plugin_app, plugin_settings, post_feedback
from tests.support.ct_server import CTServerProcess
from tests.support.loopback_http import loopback_client
from tests.support.postgres import PG_HOST, PG_PORT, PG_USER

LOCK_S = 2.0


def _hold_exclusive_lock(database: Path, seconds: float, locked: threading.Event) -> None:
    conn = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        threading.Event().wait(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_sqlite_file_locked_for_a_while(seeded_ct: CTServerProcess) -> None:
    database = Path(seeded_ct.database_url.split("///", 1)[1])
    settings = plugin_settings(seeded_ct.base_url, seeded_ct.api_key)
    with plugin_app(settings) as app_url, Hammer(f"{app_url}/summarize", threads=2) as load:
        tokens = issue_tokens(app_url, 20)
        wait_until(lambda: feedback_count(seeded_ct) == 0, 10, "server answering")
        locked = threading.Event()
        holder = threading.Thread(target=_hold_exclusive_lock, args=(database, LOCK_S, locked))
        holder.start()
        assert locked.wait(10)
        assert post_feedback(app_url, tokens) == {202: 20}
        with seeded_ct.client() as api:  # a direct write while the file is locked
            direct = api.post(
                "/api/v1/feedback",
                timeout=60.0,
                json={"task_id": BENCH_TASK, "inputs": {"ticket": "x"}, "score": 0.5},
            )
        holder.join()
        wait_until(
            lambda: feedback_count(seeded_ct) == 21 - (direct.status_code != 201),
            60,
            "feedback stored after the lock",
        )
    assert direct.status_code in (201, 503), direct.text
    assert set(load.statuses) == {200}, load.statuses


async def _terminate_connections(database: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return len(rows)
    finally:
        await conn.close()


@pytest.fixture
def pg_ct() -> Iterator[CTServerProcess]:
    if not postgres_running():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with tempfile.TemporaryDirectory() as tmp, ct_server("postgres", Path(tmp)) as server:
        seed_task(server, BENCH_TASK, BENCH_PROMPT)
        yield server


@pytest.mark.postgres
def test_postgres_connections_terminated(pg_ct: CTServerProcess) -> None:
    database = pg_ct.database_url.rsplit("/", 1)[1]
    settings = plugin_settings(pg_ct.base_url, pg_ct.api_key, cache_ttl=0.2)
    with plugin_app(settings) as app_url, Hammer(f"{app_url}/summarize", threads=2) as load:
        tokens = issue_tokens(app_url, 30)
        assert post_feedback(app_url, tokens[:10]) == {202: 10}
        wait_until(lambda: feedback_count(pg_ct) == 10, 30, "first feedback stored")
        assert asyncio.run(_terminate_connections(database)) >= 1
        with pg_ct.client() as api:
            after_kill = [api.get(f"/api/v1/prompts/{BENCH_TASK}").status_code for _ in range(5)]
        assert post_feedback(app_url, tokens[10:]) == {202: 20}
        wait_until(lambda: feedback_count(pg_ct) == 30, 30, "feedback after the termination")
        with loopback_client(base_url=app_url) as http:
            assert http.get("/summarize").status_code == 200
    assert all(status in (200, 503) for status in after_kill), after_kill
    assert after_kill[-1] == 200, after_kill
    assert set(load.statuses) == {200}, load.statuses
