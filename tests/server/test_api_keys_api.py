"""API-key management over HTTP (``/api/v1/keys``, admin keys only) and key scopes in the CLI."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from typer.testing import CliRunner

from kaizen_server.cli import cli
from tests.server.helpers import assert_problem
from tests.support.ct_server import CTServerProcess

runner = CliRunner()


def _as(server: CTServerProcess, secret: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-API-Key": secret}, timeout=10.0)


def _listed(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/keys")
    assert response.status_code == 200, response.text
    return {key["id"]: key for key in response.json()}


def test_admin_key_creates_lists_and_revokes(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as admin:  # the bootstrap key: admin
        created = admin.post("/api/v1/keys", json={"label": "ticket-app"})  # upstream's body
        assert created.status_code == 201, created.text
        app_key = created.json()
        assert (app_key["name"], app_key["label"], app_key["scope"]) == (
            "ticket-app",
            "ticket-app",
            "app",
        )
        secret = app_key["key"]
        assert secret.startswith(app_key["prefix"])

        listing = admin.get("/api/v1/keys")
        assert secret not in listing.text
        keys = _listed(admin)
        assert "key" not in keys[app_key["id"]]
        bootstrap = [key for key in keys.values() if key["is_bootstrap"]]
        assert [key["scope"] for key in bootstrap] == ["admin"]

        with _as(any_ct_server, secret) as app:
            assert app.get("/api/v1/tasks").status_code == 200  # every other endpoint
            assert_problem(app.get("/api/v1/keys"), 403, "admin")
            assert_problem(app.post("/api/v1/keys", json={"scope": "admin"}), 403)
            assert_problem(app.delete(f"/api/v1/keys/{app_key['id']}"), 403)

            second = admin.post("/api/v1/keys", json={"name": "ops", "scope": "admin"})
            assert second.status_code == 201, second.text
            with _as(any_ct_server, second.json()["key"]) as ops:
                assert app_key["id"] in _listed(ops)
                assert ops.delete(f"/api/v1/keys/{app_key['id']}").status_code == 204
            assert_problem(app.get("/api/v1/tasks"), 401)  # at once on this server
            assert _listed(admin)[app_key["id"]]["revoked_at"] is not None
            assert_problem(admin.delete(f"/api/v1/keys/{app_key['id']}"), 409, "revoked")

        assert admin.delete(f"/api/v1/keys/{second.json()['id']}").status_code == 204
        assert_problem(admin.delete(f"/api/v1/keys/{uuid.uuid4()}"), 404)
        assert_problem(admin.delete("/api/v1/keys/not-a-uuid"), 422)
        assert_problem(admin.post("/api/v1/keys", json={"name": "x", "scope": "root"}), 422)
        assert_problem(admin.post("/api/v1/keys", json={"name": ""}), 422)
    assert_problem(httpx.get(f"{any_ct_server.base_url}/api/v1/keys"), 401)


def test_cli_creates_app_keys_on_request(ct_server: CTServerProcess) -> None:
    env = {"KAIZEN_DATABASE_URL": ct_server.database_url, "COLUMNS": "200"}
    result = runner.invoke(cli, ["keys", "create", "--name", "cli-app", "--scope", "app"], env=env)
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    with _as(ct_server, secret) as app:
        assert app.get("/api/v1/tasks").status_code == 200
        assert_problem(app.get("/api/v1/keys"), 403)
    listing = runner.invoke(cli, ["keys", "list"], env=env).output
    row = next(line for line in listing.splitlines() if "cli-app" in line)
    assert " app " in row
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "root"], env=env)
    assert bad.exit_code == 2
