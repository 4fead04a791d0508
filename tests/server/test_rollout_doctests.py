"""The examples in the rollout decision's docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import importlib

import pytest

import kaizen_server.rollouts as package
from tests.support.doctests import assert_examples_pass, package_modules

MODULES = [package.__name__, *package_modules(package)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    assert_examples_pass(name)


def test_every_module_documents_its_public_names() -> None:
    for name in MODULES:
        module = importlib.import_module(name)
        assert module.__doc__, name
        for public in getattr(module, "__all__", []):
            assert hasattr(module, public), f"{name}.__all__ names missing {public}"
