"""schemathesis over a live server's OpenAPI schema: no generated request gets a 5xx, every
4xx is an RFC 7807 problem, and the answers conform to the schema (:data:`CONFORMANCE_CHECKS`:
documented status codes and content types, schema-violating requests refused, ``Allow`` on
405, unsupported methods refused). Requests are generated from the schema (positive) and
against it (negative). Shared by the CT server's, the plugin router's and the example app's
fuzz tests.

schemathesis' hypothesis strategies are run directly (its pytest plugin's ``from_fixture``
does not support this pytest version).

Example:
    >>> tested = fuzz_operations(f"{url}/openapi.json", max_examples=15,  # doctest: +SKIP
    ...                          include=lambda path: path.startswith("/kaizen/"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import load_all_checks
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi import checks

__all__ = ["CONFORMANCE_CHECKS", "fuzz_operations"]

SIZE_REJECTIONS = frozenset({413, 431})
"""Refusals of a request too large to read (schemathesis counts them as acceptance)."""

load_all_checks()
CONFORMANCE_CHECKS = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.negative_data_rejection,
    checks.allow_header_conformance,
    checks.unsupported_method,
]
"""What ``schemathesis --checks all`` reports on our apps, but ``positive_data_acceptance``
(values the schema cannot express are refused by design: NUL characters, cursors not issued
by the server, names of missing things) and the stateful ``use_after_free`` family."""


def _send_and_check(
    case: Case, headers: Mapping[str, str], mode: GenerationMode, base_url: str | None
) -> None:
    """Send ``case`` (to ``base_url``, default: the schema's server); its answer: no 5xx, a
    problem for every 4xx, conformance checks."""
    # Real credentials where the case sends the header; a negative case that left a
    # required header out keeps it out (and must be refused).
    sent = {
        name: value
        for name, value in headers.items()
        if mode is GenerationMode.POSITIVE or name in (case.headers or {})
    }
    response = case.call(base_url=base_url, headers=sent, timeout=10)
    label = f"{case.method} {base_url or ''}{case.formatted_path}"
    assert response.status_code < 500, (label, case.body, response.text)
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/problem+json"), (
            label,
            response.status_code,
            response.text[:300],
        )
    if response.status_code not in SIZE_REJECTIONS:  # refused, before any schema
        case.validate_response(response, checks=CONFORMANCE_CHECKS, headers=sent)


def _fuzz(
    operation: APIOperation,
    mode: GenerationMode,
    headers: Mapping[str, str],
    max_examples: int,
    base_urls: Sequence[str | None],
) -> bool:
    """Run ``max_examples`` cases of ``operation``, each sent to every one of ``base_urls``;
    False when ``mode`` has none to make."""

    def _check_case(case: Case, headers: Mapping[str, str], mode: GenerationMode) -> None:
        for base_url in base_urls:
            _send_and_check(case, headers, mode, base_url)

    # ``conforms`` keeps its text: with ``derandomize`` hypothesis seeds the cases from the
    # decorated function's source, so editing it would change every case the suite sends.

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def conforms(case: Case) -> None:
        _check_case(case, headers, mode)

    try:
        conforms()
    except Unsatisfiable:  # no parameter or body to violate: nothing negative to send
        assert mode is GenerationMode.NEGATIVE, operation.path
        return False
    return True


def fuzz_operations(
    schema_url: str,
    *,
    max_examples: int,
    include: Callable[[str], bool] = lambda _path: True,
    headers: Mapping[str, str] | None = None,
    base_urls: Sequence[str] | None = None,
) -> list[str]:
    """Fuzz every operation whose path ``include`` accepts, with cases that follow the schema
    and cases that violate it; returns the ``"METHOD /path (mode)"`` fuzzed.

    Each case goes to every server of ``base_urls`` (servers of the same schema, e.g. one per
    database: the cases are generated once, the costly part) or, by default, to the server of
    ``schema_url``."""
    schema = schemathesis.openapi.from_url(schema_url)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        if not include(operation.path):
            continue
        for mode in GenerationMode:
            targets: list[str | None] = list(base_urls) if base_urls else [None]
            if _fuzz(operation, mode, dict(headers or {}), max_examples, targets):
                tested.append(f"{operation.method.upper()} {operation.path} ({mode.value})")
    return tested
