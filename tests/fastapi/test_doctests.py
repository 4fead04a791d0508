"""The examples in the plugin's docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import pytest

import kaizen_fastapi
from tests.support.doctests import assert_examples_pass, package_modules

MODULES = package_modules(kaizen_fastapi, recursive=False)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    assert_examples_pass(name)
