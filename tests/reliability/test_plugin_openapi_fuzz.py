"""schemathesis against the plugin router's OpenAPI schema (``/kaizen/*``): whatever an end
user sends, the answer is never a 5xx, and every 4xx is an RFC 7807 problem.
(The CT server's own schema is fuzzed in ``tests/server/test_openapi_fuzz.py``.)"""

from __future__ import annotations

from tests.reliability.conftest import plugin_app, plugin_settings
from tests.support.ct_server import CTServerProcess
from tests.support.openapi_fuzz import fuzz_operations

MAX_EXAMPLES = 60


def test_plugin_router_never_answers_5xx(seeded_ct: CTServerProcess) -> None:
    app_settings = plugin_settings(seeded_ct.base_url, seeded_ct.api_key)
    with plugin_app(app_settings) as app_url:
        tested = fuzz_operations(
            f"{app_url}/openapi.json",
            max_examples=MAX_EXAMPLES,
            include=lambda path: path.startswith("/kaizen/"),
        )
    assert {
        f"POST /kaizen/{name} ({mode})"
        for name in ("feedback", "score")
        for mode in ("positive", "negative")
    } <= set(tested), tested
