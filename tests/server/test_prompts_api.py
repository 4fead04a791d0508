"""Prompt versions over real HTTP: versions, activation, ETag and 304."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.server.helpers import add_version, assert_problem, make_task
from tests.support.ct_server import CTServerProcess


def test_versions_and_activation_archives_previous(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        assert_problem(client.get(f"/api/v1/prompts/{task['name']}"), 404, "no active prompt")
        first = add_version(client, task["name"], "v1", activate=True)
        second = add_version(client, task["id"], "v2")
        assert (first["version_number"], second["version_number"]) == (1, 2)
        assert second["status"] == "draft"
        assert client.get(f"/api/v1/prompts/{task['name']}").json()["id"] == first["id"]
        response = client.post(
            f"/api/v1/prompts/{task['name']}/activate", json={"version_id": second["id"]}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"
        versions = client.get(f"/api/v1/prompts/{task['id']}/versions/").json()
        assert [(v["version_number"], v["status"]) for v in versions] == [
            (2, "active"),
            (1, "archived"),
        ]
        active = client.get(f"/api/v1/prompts/{task['id']}/").json()
        assert (active["id"], active["prompt_text"]) == (second["id"], "v2")
        again = client.post(
            f"/api/v1/prompts/{task['id']}/activate", params={"version_id": second["id"]}
        )
        assert again.json()["status"] == "active"


def test_activation_errors(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        other = make_task(client)
        foreign = add_version(client, other["id"], "theirs")
        url = f"/api/v1/prompts/{task['id']}/activate"
        assert_problem(client.post(url, json={"version_id": foreign["id"]}), 404, "not found")
        assert_problem(client.post(url, json={"version_id": "not-a-uuid"}), 404)
        assert_problem(client.post(url, json={"version_id": str(uuid.uuid4())}), 404)
        assert_problem(client.post(url), 422, "version_id")
        assert_problem(
            client.post(f"/api/v1/prompts/{task['id']}/versions", json={"prompt_text": ""}),
            422,
            "body.prompt_text",
        )


def test_etag_and_conditional_fetch(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)
        add_version(client, task["id"], "first", activate=True)
        response = client.get(f"/api/v1/prompts/{task['name']}")
        etag = response.headers["ETag"]
        assert etag.startswith('"')
        assert not etag.startswith("W/")
        cached = client.get(f"/api/v1/prompts/{task['name']}", headers={"If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["ETag"] == etag
        by_id = client.get(f"/api/v1/prompts/{task['id']}", headers={"If-None-Match": etag})
        assert by_id.status_code == 304
        stale = client.get(f"/api/v1/prompts/{task['id']}", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        add_version(client, task["id"], "second", activate=True)
        changed = client.get(f"/api/v1/prompts/{task['id']}", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.json()["prompt_text"] == "second"
        assert changed.headers["ETag"] != etag


def test_prompt_for_unknown_task_is_404(any_ct_server: CTServerProcess) -> None:
    with any_ct_server.client() as client:
        assert_problem(client.get("/api/v1/prompts/does_not_exist_1"), 404, "does_not_exist_1")
        assert_problem(client.get(f"/api/v1/prompts/{uuid.uuid4()}/versions"), 404)


def test_concurrent_versions_and_activations_stay_consistent(
    any_ct_server: CTServerProcess,
) -> None:
    with any_ct_server.client() as client:
        task = make_task(client)

    def create(index: int) -> dict[str, object]:
        with any_ct_server.client() as own:
            response = own.post(
                f"/api/v1/prompts/{task['id']}/versions",
                json={"prompt_text": f"v{index}", "activate": True},
            )
            assert response.status_code == 201, response.text
            body: dict[str, object] = response.json()
            return body

    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(pool.map(create, range(6)))
    assert sorted(int(str(v["version_number"])) for v in created) == [1, 2, 3, 4, 5, 6]
    with any_ct_server.client() as client:
        versions = client.get(f"/api/v1/prompts/{task['id']}/versions").json()
        assert [v["status"] for v in versions].count("active") == 1
        assert client.get(f"/api/v1/prompts/{task['id']}").json()["status"] == "active"
