"""schemathesis against the example app's own OpenAPI schema (``/api/*``): no 5xx, problems
for every 4xx, documented status codes, schema-violating requests refused, ``Allow`` on 405
(see ``tests/support/openapi_fuzz``). ``POST /api/optimize`` is left out: it starts real jobs."""

from __future__ import annotations

from tests.example_app.conftest import RunningApp
from tests.support.openapi_fuzz import fuzz_operations

MAX_EXAMPLES = 10


def test_the_example_apps_endpoints_conform_to_their_schema(example_app: RunningApp) -> None:
    tested = fuzz_operations(
        f"{example_app.url}/openapi.json",
        max_examples=MAX_EXAMPLES,
        include=lambda path: path.startswith("/api/") and path != "/api/optimize",
    )
    assert "POST /api/summarize (negative)" in tested, tested
    assert len(tested) >= 6, tested
