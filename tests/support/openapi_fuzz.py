"""schemathesis over a live server's OpenAPI schema: no generated request gets a 5xx, and
every 4xx is an RFC 7807 problem. Shared by the CT server's and the plugin router's fuzz tests.

schemathesis' hypothesis strategies are run directly (its pytest plugin's ``from_fixture``
does not support this pytest version).

Example:
    >>> tested = fuzz_operations(f"{url}/openapi.json", max_examples=15,  # doctest: +SKIP
    ...                          include=lambda path: path.startswith("/kaizen/"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.case import Case

__all__ = ["fuzz_operations"]


def fuzz_operations(
    schema_url: str,
    *,
    max_examples: int,
    include: Callable[[str], bool] = lambda _path: True,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """Fuzz every operation whose path ``include`` accepts; the ``"METHOD /path"`` fuzzed."""
    schema = schemathesis.openapi.from_url(schema_url)
    tested = []
    for operation in [result.ok() for result in schema.get_all_operations()]:
        if not include(operation.path):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case: Case) -> None:
            response = case.call(headers=dict(headers or {}), timeout=10)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (label, case.body, response.text)
            if response.status_code >= 400:
                content_type = (response.headers.get("content-type") or [""])[0]
                assert content_type.startswith("application/problem+json"), label

        no_server_error()
        tested.append(f"{operation.method.upper()} {operation.path}")
    return tested
