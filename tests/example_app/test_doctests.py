"""The examples in the example app's docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import example_app

MODULES = sorted(
    info.name
    for info in pkgutil.iter_modules(example_app.__path__, "example_app.")
    if info.name != "example_app.main"
)


@pytest.mark.parametrize("name", [*MODULES, "example_app.main"])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
