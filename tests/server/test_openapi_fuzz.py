"""schemathesis against the server's own OpenAPI schema: no input produces a 5xx.

Every operation gets a bounded number of generated requests (schemathesis' hypothesis
strategies, run here directly: its pytest plugin's ``from_fixture`` does not support this
pytest version).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.case import Case

from tests.server.helpers import make_task
from tests.support.ct_server import CTServerProcess

MAX_EXAMPLES = 15
SKIPPED_PATHS = {"/api/v1/events/prompts"}  # an endless stream; see test_prompt_events


def test_no_operation_answers_5xx(any_ct_server: CTServerProcess) -> None:
    ct_server = any_ct_server
    with ct_server.client() as client:  # a known task, so name lookups sometimes hit
        if client.get("/api/v1/tasks/fuzz_task").status_code == 404:
            make_task(client, name="fuzz_task", schema_json={"ticket": "string"})
    schema = schemathesis.openapi.from_url(f"{ct_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    tested = []
    for operation in operations:
        if operation.path in SKIPPED_PATHS:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: Case) -> None:
            response = case.call(headers={"X-API-Key": ct_server.api_key}, timeout=10)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (label, case.body, response.text)
            if response.status_code >= 400:
                content_type = (response.headers.get("content-type") or [""])[0]
                assert content_type.startswith("application/problem+json"), label

        no_server_error()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 20, tested
