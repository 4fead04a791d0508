"""Custom metric functions: which ``module:function`` a task may name, and importing one.

A task's ``evaluator_config`` may name a scoring function (``"function": "pkg.mod:fn"``). The
server imports only what its operator allowed in ``KAIZEN_CUSTOM_METRICS`` (a JSON list of
exact ``module:function`` entries or module prefixes); anything else is refused before any
import, so a client can never make the server import a module of its choosing. No DSPy here:
the API process checks task settings with it.

Example:
    >>> settings = OptimizationSettings(custom_metrics=["acme.metrics"])
    >>> custom_metric_allowed("acme.metrics.text:overlap", settings)
    True
    >>> custom_metric_allowed("os:system", settings)
    False
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from kaizen_server.optimization.settings import OptimizationSettings

__all__ = [
    "FUNCTION_PATH_PATTERN",
    "CustomFunctionError",
    "custom_metric_allowed",
    "import_custom_metric",
]

FUNCTION_PATH_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$"
"""``package.module:function``: dotted identifiers, one colon, one function name."""
_FUNCTION_PATH = re.compile(FUNCTION_PATH_PATTERN)


class CustomFunctionError(ValueError):
    """A custom metric function that is not allowed, not importable or not callable."""


def custom_metric_allowed(path: str, settings: OptimizationSettings) -> bool:
    """True when ``path`` (``module:function``) is in the allow-list: an entry equal to it, or
    an entry without a colon naming its module or a parent package of it."""
    if not _FUNCTION_PATH.match(path):
        return False
    module = path.partition(":")[0]
    for entry in settings.custom_metrics:
        entry = entry.strip()
        if not entry:
            continue
        if ":" in entry:
            if entry == path:
                return True
        elif module == entry or module.startswith(entry + "."):
            return True
    return False


def import_custom_metric(path: str, settings: OptimizationSettings) -> Callable[..., Any]:
    """The allowed function ``path`` names, imported; raises :class:`CustomFunctionError`
    (a readable message) when it is not allowed, cannot be imported or is not callable."""
    if not custom_metric_allowed(path, settings):
        raise CustomFunctionError(
            f"{path!r} is not a custom metric this server allows (KAIZEN_CUSTOM_METRICS)"
        )
    module_name, _, function_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an allowed module that fails to import: tell the operator why
        raise CustomFunctionError(
            f"cannot import {module_name!r} for {path!r}: {type(exc).__name__}: {exc}"
        ) from None
    function: object = getattr(module, function_name, None)
    if not callable(function):
        raise CustomFunctionError(f"{module_name!r} has no function {function_name!r}")
    return function
