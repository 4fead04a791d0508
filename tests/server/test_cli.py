"""The ``kaizen-server`` command: keys create/list/revoke, migrate, settings errors, serve hint."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from kaizen_fastapi.testing import ct_server_command
from kaizen_server.cli import cli
from kaizen_server.db.engine import Database
from kaizen_server.db.migrate import alembic_config
from tests.support.ct_server import CTServerProcess
from tests.support.ports import free_port

runner = CliRunner()
REVOCATION_DEADLINE_S = 10.0


def _run(database_url: str, *args: str) -> str:
    env = {"KAIZEN_DATABASE_URL": database_url, "COLUMNS": "200"}
    result = runner.invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_create_list_revoke(any_ct_server: CTServerProcess) -> None:
    output = _run(any_ct_server.database_url, "keys", "create", "--name", "cli-test-app")
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("kz-")
    url = f"{any_ct_server.base_url}/api/v1/tasks"
    assert httpx.get(url, headers={"X-API-Key": secret}).status_code == 200

    listing = _run(any_ct_server.database_url, "keys", "list")
    assert "cli-test-app" in listing
    assert secret not in listing
    key_id = next(line.split()[-2] for line in listing.splitlines() if "cli-test-app" in line)

    revoked = _run(any_ct_server.database_url, "keys", "revoke", key_id)
    assert "Revoked" in revoked
    deadline = time.monotonic() + REVOCATION_DEADLINE_S
    status = 200
    while time.monotonic() < deadline and status != 401:
        status = httpx.get(url, headers={"X-API-Key": secret}).status_code
        time.sleep(0.1)
    assert status == 401
    assert "revoked" in _run(any_ct_server.database_url, "keys", "list")


def test_revoke_unknown_key_fails(ct_server: CTServerProcess) -> None:
    result = runner.invoke(
        cli,
        ["keys", "revoke", "ffffffff-0000"],
        env={"KAIZEN_DATABASE_URL": ct_server.database_url},
    )
    assert result.exit_code == 1
    assert "No single API key" in result.output


def test_migrate_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert "revision 0009" in _run(url, "migrate")
    assert "revision 0009" in _run(url, "migrate")  # idempotent


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["migrate"], env={"KAIZEN_DATABASE_URL": "mysql://x/y"})
    assert result.exit_code == 2
    assert "KAIZEN_DATABASE_URL" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("KAIZEN_SECRET_KEY", "short", "at least 32 characters"),
        ("KAIZEN_GIT_ALLOWED_BASE_URLS", '["https://u:p@git.acme.test"]', "not a base URL"),
        ("KAIZEN_GIT_ALLOWED_BASE_URLS", '["file:///etc"]', "not a base URL"),
    ],
)
def test_bad_publishing_setting_names_the_variable(variable: str, value: str, problem: str) -> None:
    result = runner.invoke(cli, ["migrate"], env={variable: value})
    assert result.exit_code == 2
    assert variable in result.output
    assert problem in " ".join(result.output.split())


def test_serve_without_any_key_prints_how_to_create_one(tmp_path: Path) -> None:
    env = {
        "KAIZEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
        "PATH": "/usr/bin:/bin",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    port = free_port()
    process = subprocess.Popen(
        ct_server_command(port),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
            except httpx.TransportError:
                time.sleep(0.05)
        assert ready
        response = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/tasks", headers={"X-API-Key": "anything"}
        )
        assert response.status_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()
    assert "kaizen-server keys create" in output


def test_serve_refuses_a_short_bootstrap_key_naming_the_fix(tmp_path: Path) -> None:
    env = {
        "KAIZEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
        "KAIZEN_API_KEY": "devkey12",
        "PATH": "/usr/bin:/bin",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "kaizen_server", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    output = " ".join((completed.stdout + completed.stderr).split())
    assert "KAIZEN_API_KEY" in output
    assert "at least 32 characters (got 8)" in output
    assert "devkey12" not in output
    assert not (tmp_path / "k.db").exists()


def _stored_key_prefixes(database_url: str) -> list[str]:
    async def read() -> list[str]:
        database = Database.connect(database_url)
        try:
            async with database.write_engine.connect() as connection:
                rows = await connection.execute(text("SELECT key_prefix FROM api_keys"))
                return sorted(row[0] for row in rows)
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_stored_key_prefixes_reveal_at_most_four_characters(any_ct_server: CTServerProcess) -> None:
    secret = _run(any_ct_server.database_url, "keys", "create", "--name", "prefix-check")
    secret = secret.strip().splitlines()[-1]
    prefixes = _stored_key_prefixes(any_ct_server.database_url)
    assert secret[:7] in prefixes
    assert all(len(prefix.removeprefix("kz-")) <= 4 for prefix in prefixes), prefixes


def test_migration_cuts_prefixes_stored_by_earlier_versions(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"

    async def at_0001_with_old_rows() -> None:
        database = Database.connect(url)
        try:
            async with database.write_engine.connect() as connection:
                await connection.run_sync(
                    lambda sync: command.upgrade(alembic_config(sync), "0001")
                )
                for name, prefix in (("weak", "devkey12"), ("made", "kz-AbCdEfGh")):
                    await connection.execute(
                        text(
                            "INSERT INTO api_keys (id, name, key_hash, key_prefix, is_bootstrap,"
                            " created_at) VALUES (:id, :name, :hash, :prefix, 0, '2026-01-01')"
                        ),
                        {"id": uuid.uuid4().hex, "name": name, "hash": name, "prefix": prefix},
                    )
                await connection.commit()
        finally:
            await database.dispose()

    asyncio.run(at_0001_with_old_rows())
    assert "revision 0009" in _run(url, "migrate")
    assert _stored_key_prefixes(url) == ["devk", "kz-AbCd"]


def test_migration_keeps_what_existing_tasks_did_as_their_mode(tmp_path: Path) -> None:
    """0004: a task stored with a github_repo opened pull requests, so it becomes auto_pr."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'modes.db'}"

    async def at_0003_then_migrated() -> list[tuple[str, str]]:
        database = Database.connect(url)
        try:
            async with database.write_engine.connect() as connection:
                await connection.run_sync(
                    lambda sync: command.upgrade(alembic_config(sync), "0003")
                )
                for name, repo in (("with_repo", "acme/app"), ("without_repo", None)):
                    await connection.execute(
                        text(
                            "INSERT INTO tasks (id, name, feedback_threshold, auto_activate,"
                            " activation_margin, github_repo, created_at, updated_at)"
                            " VALUES (:id, :name, 50, 0, 0.0, :repo, '2026-01-01', '2026-01-01')"
                        ),
                        {"id": uuid.uuid4().hex, "name": name, "repo": repo},
                    )
                await connection.run_sync(
                    lambda sync: command.upgrade(alembic_config(sync), "0004")
                )
                rows = await connection.execute(text("SELECT name, mode FROM tasks ORDER BY name"))
                modes = [(row[0], row[1]) for row in rows]
                await connection.commit()
                return modes
        finally:
            await database.dispose()

    assert asyncio.run(at_0003_then_migrated()) == [
        ("with_repo", "auto_pr"),
        ("without_repo", "optimize_only"),
    ]
