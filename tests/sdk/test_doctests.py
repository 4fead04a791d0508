"""The examples in the SDK's docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import pytest

import kaizen_sdk
from tests.support.doctests import assert_examples_pass, package_modules

MODULES = package_modules(kaizen_sdk, recursive=False)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    assert_examples_pass(name)


def test_every_public_name_is_exported_and_documented() -> None:
    for name in kaizen_sdk.__all__:
        obj = getattr(kaizen_sdk, name)
        assert getattr(obj, "__doc__", None), name
