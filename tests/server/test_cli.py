"""The ``kaizen-server`` command: keys create/list/revoke, migrate, settings errors, serve hint."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from kaizen_server.cli import cli
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
    assert "revision 0001" in _run(url, "migrate")
    assert "revision 0001" in _run(url, "migrate")  # idempotent


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["migrate"], env={"KAIZEN_DATABASE_URL": "mysql://x/y"})
    assert result.exit_code == 2
    assert "KAIZEN_DATABASE_URL" in result.output


def test_serve_without_any_key_prints_how_to_create_one(tmp_path: Path) -> None:
    env = {
        "KAIZEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
        "PATH": "/usr/bin:/bin",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kaizen_server",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
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
