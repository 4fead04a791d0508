"""Run a module's docstring examples (those not marked ``+SKIP``), for the per-package
doctest tests.

Example:
    >>> import kaizen_server.optimization as package             # doctest: +SKIP
    >>> for name in package_modules(package): assert_examples_pass(name)
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

__all__ = ["assert_examples_pass", "package_modules"]


def package_modules(package: ModuleType, *, recursive: bool = True) -> list[str]:
    """The dotted names of ``package``'s modules (with subpackages' when ``recursive``), sorted."""
    walk = pkgutil.walk_packages if recursive else pkgutil.iter_modules
    return sorted(module.name for module in walk(package.__path__, f"{package.__name__}."))


def assert_examples_pass(name: str) -> None:
    """Import module ``name`` and run its docstring examples; fail on any failed example."""
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
