"""The examples in the console's docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import pytest

import kaizen_server.console as package
from tests.support.doctests import assert_examples_pass, package_modules

MODULES = [
    *package_modules(package),
    "kaizen_server.services.console_sessions",
    "kaizen_server.services.record_search",
    "kaizen_server.services.task_overview",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    assert_examples_pass(name)
