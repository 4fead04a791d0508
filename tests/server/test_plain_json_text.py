"""A body whose JSON text is plain spares its strings the storability check only while it is
validated: the note does not outlive its request, even when an in-process ASGI client (an app
embedding the server, a test) runs the next request in the same context.

The real app in-process, on a real SQLite file: ``httpx.ASGITransport`` runs each request in
the caller's task, which is where a note left behind would be seen.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kaizen_server.app import create_app
from kaizen_server.db.migrate import upgrade_to_head_async
from kaizen_server.settings import ServerSettings
from tests.server.helpers import unique_name
from tests.support.ct_server import TEST_API_KEY

RAW_SURROGATE = b"a\xed\xa0\x80b"  # the UTF-8 bytes of U+D800, which json.loads decodes


@pytest.mark.anyio
async def test_a_plain_body_does_not_spare_the_next_request_s_strings(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kaizen.db'}"
    await upgrade_to_head_async(url)
    app = create_app(ServerSettings(database_url=url, api_key=TEST_API_KEY))
    headers = {"X-API-Key": TEST_API_KEY, "Content-Type": "application/json"}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://kaizen", headers=headers) as api,
    ):
        name = unique_name()
        created = await api.post("/api/v1/tasks", json={"name": name})
        assert created.status_code == 201, created.text
        plain = await api.post(
            "/api/v1/feedback/batch", json={"items": [{"task_id": name, "score": 1.0}]}
        )
        assert plain.status_code == 201, plain.text
        # PATCH /tasks has no plain-text note of its own: a note left by the batch would let
        # the raw surrogate through to the database.
        described = await api.patch(
            f"/api/v1/tasks/{name}", content=b'{"description": "%s"}' % RAW_SURROGATE
        )
        assert described.status_code == 422, described.text
        assert "lone surrogate" in described.json()["detail"]
        task = await api.get(f"/api/v1/tasks/{name}")
        assert task.json()["description"] is None
