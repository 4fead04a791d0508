"""What the CT server can store, known to the client too, so bad values fail before sending.

Both sides use these definitions: the server's request bodies and the SDK's items
(``FeedbackItem``, ``TraceItem``). A value the database cannot store is refused wherever it
is nested: NUL characters, lone UTF-16 surrogates (``"\\ud800"``: not valid UTF-8), NaN and
Infinity, JSON nested deeper than :data:`MAX_JSON_DEPTH`.

Example:
    >>> first_unstorable({"user": "u1", "note": "a\\x00b"}, "metadata")
    'metadata.note: NUL characters are not allowed'
    >>> all_storable([{"ok": [1, 2.5, None, True]}], 0)
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_LATENCY_MS",
    "MAX_LONG_TEXT",
    "MAX_NAME",
    "MAX_SHORT_TEXT",
    "MAX_TOKENS",
    "Score",
    "StorableText",
    "all_storable",
    "first_unstorable",
    "text_problem",
]

MAX_JSON_DEPTH = 32
MAX_NAME = 200
"""Longest task name or reference."""
MAX_SHORT_TEXT = 500
"""Longest short text (``source``, ``model``, ``scored_by``...)."""
MAX_LONG_TEXT = 1_000_000
"""Longest long text (``output``, ``prompt_text``, ``response_text``...)."""
MAX_TOKENS = 2**53
MAX_LATENCY_MS = 1e12


Score = Annotated[float, Field(strict=True, ge=0.0, le=1.0)]
"""A score: a JSON number in [0, 1]; ``"0.5"`` and ``true`` are refused, not converted."""


def text_problem(text: str) -> str | None:
    """What makes ``text`` unstorable, or ``None``."""
    if "\x00" in text:
        return "NUL characters are not allowed"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone surrogate characters (such as \\ud800) are not allowed"
    return None


def _storable_text(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


StorableText = Annotated[str, AfterValidator(_storable_text)]
"""A ``str`` field the database can store (no NUL, no lone surrogate)."""


def all_storable(values: Iterable[Any], depth: int, *, text_checked: bool = False) -> bool:
    """True when the database can store every one of ``values`` (found at ``depth``).

    The quick check of every request: the same verdict as :func:`first_unstorable` finding
    nothing, without building paths, and with one call per container, not per value.
    ``text_checked``: the strings are known to be storable (e.g. decoded from JSON text
    without escapes), so only numbers and nesting are looked at.
    """
    for value in values:
        if depth > MAX_JSON_DEPTH:
            return False
        kind = type(value)
        if kind is str:
            if text_checked:
                continue
            if "\x00" in value or (not value.isascii() and text_problem(value) is not None):
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is dict:
            if not (
                (text_checked or all_storable(value.keys(), depth + 1))
                and all_storable(value.values(), depth + 1, text_checked=text_checked)
            ):
                return False
        elif kind is list:
            if not all_storable(value, depth + 1, text_checked=text_checked):
                return False
        elif not (value is None or kind is int or kind is bool) and (  # e.g. a str subclass
            first_unstorable(value, "", depth) is not None
        ):
            return False
    return True


def first_unstorable(value: Any, path: str, depth: int = 0) -> str | None:
    """Describe the first value a database cannot store, or ``None`` when all is fine."""
    if depth > MAX_JSON_DEPTH:
        return f"{path}: nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{path}: {problem}" if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path}: NaN and Infinity are not allowed"
    if isinstance(value, dict):
        for key, item in value.items():
            shown = key if isinstance(key, str) and text_problem(key) is None else ascii(key)
            problem = first_unstorable(key, f"{path} key {shown}", depth + 1) or first_unstorable(
                item, f"{path}.{shown}", depth + 1
            )
            if problem:
                return problem
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = first_unstorable(item, f"{path}[{index}]", depth + 1)
            if problem:
                return problem
    return None
