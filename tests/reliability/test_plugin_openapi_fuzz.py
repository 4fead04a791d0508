"""schemathesis against the plugin router's OpenAPI schema (``/kaizen/*``): whatever an end
user sends, the answer is never a 5xx, and every 4xx is an RFC 7807 problem.
(The CT server's own schema is fuzzed in ``tests/server/test_openapi_fuzz.py``.)"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.case import Case

from tests.reliability.conftest import plugin_app, plugin_settings
from tests.support.ct_server import CTServerProcess

MAX_EXAMPLES = 60


def test_plugin_router_never_answers_5xx(seeded_ct: CTServerProcess) -> None:
    app_settings = plugin_settings(seeded_ct.base_url, seeded_ct.api_key)
    with plugin_app(app_settings) as app_url:
        schema = schemathesis.openapi.from_url(f"{app_url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        tested = []
        for operation in operations:
            if not operation.path.startswith("/kaizen/"):
                continue

            @given(case=operation.as_strategy())
            @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), database=None)
            def no_server_error(case: Case) -> None:
                response = case.call(timeout=10)
                label = f"{case.method} {case.formatted_path}"
                assert response.status_code < 500, (label, case.body, response.text)
                if response.status_code >= 400:
                    content_type = (response.headers.get("content-type") or [""])[0]
                    assert content_type.startswith("application/problem+json"), label

            no_server_error()
            tested.append(f"{operation.method.upper()} {operation.path}")
    assert {"POST /kaizen/feedback", "POST /kaizen/score"} <= set(tested), tested
