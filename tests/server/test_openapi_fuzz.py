"""schemathesis against the server's own OpenAPI schema: no input produces a 5xx.

Every operation gets a bounded number of generated requests (``tests/support/openapi_fuzz``).
Each generated request goes to the server on SQLite and to the server on PostgreSQL: they
serve the same schema, and generating the requests is most of the cost.
"""

from __future__ import annotations

import pytest

from tests.server.helpers import make_task
from tests.support.ct_server import CTServerProcess
from tests.support.openapi_fuzz import fuzz_operations
from tests.support.postgres import postgres_running

MAX_EXAMPLES = 15
SKIPPED_PATHS = {"/api/v1/events/prompts"}  # an endless stream; see test_prompt_events


def test_no_operation_answers_5xx(
    ct_server: CTServerProcess, request: pytest.FixtureRequest
) -> None:
    servers = [ct_server]
    if postgres_running():
        servers.append(request.getfixturevalue("ct_server_pg"))
    schemas = []
    for server in servers:
        with server.client() as client:  # a known task, so name lookups sometimes hit
            if client.get("/api/v1/tasks/fuzz_task").status_code == 404:
                make_task(client, name="fuzz_task", schema_json={"ticket": "string"})
            schemas.append(client.get("/openapi.json").json())
    assert all(schema == schemas[0] for schema in schemas), "the backends serve other schemas"
    tested = fuzz_operations(
        f"{ct_server.base_url}/openapi.json",
        max_examples=MAX_EXAMPLES,
        include=lambda path: path not in SKIPPED_PATHS,
        headers={"X-API-Key": ct_server.api_key},
        base_urls=[server.base_url for server in servers],
    )
    assert len(tested) >= 20, tested
    if len(servers) == 1:
        pytest.skip("PostgreSQL is not running: fuzzed the server on SQLite only")
