"""The examples in the SDK's docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import kaizen_sdk

MODULES = sorted(m.name for m in pkgutil.iter_modules(kaizen_sdk.__path__, "kaizen_sdk."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_name_is_exported_and_documented() -> None:
    for name in kaizen_sdk.__all__:
        obj = getattr(kaizen_sdk, name)
        assert getattr(obj, "__doc__", None), name
