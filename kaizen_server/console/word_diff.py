"""A word-level, side-by-side difference of two prompt texts (``difflib``).

Example:
    >>> left, right = side_by_side("Summarize the ticket.", "Summarize the ticket briefly.")
    >>> [(s.kind, s.text) for s in right if s.kind != "same"]
    [('added', 'briefly')]
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_WORDS", "Segment", "side_by_side"]

MAX_WORDS = 5_000
"""Longer texts are compared line by line (difflib's matching grows quadratically)."""

_WORDS = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")
"""A word or a punctuation mark with the spaces after it (compared without them)."""


@dataclass(frozen=True)
class Segment:
    """A run of text on one side: unchanged, or only on that side."""

    kind: Literal["same", "removed", "added"]
    text: str


def _tokens(text: str) -> list[str]:
    words = _WORDS.findall(text)
    return words if len(words) <= MAX_WORDS else text.splitlines(keepends=True)


def side_by_side(old: str, new: str) -> tuple[list[Segment], list[Segment]]:
    """The segments of ``old`` (with what ``new`` removed) and of ``new`` (with what it added).

    Run it in a worker thread for long texts: it is CPU work.
    """
    old_tokens, new_tokens = _tokens(old), _tokens(new)
    matcher = difflib.SequenceMatcher(
        a=[token.rstrip() for token in old_tokens],
        b=[token.rstrip() for token in new_tokens],
        autojunk=False,
    )
    left: list[Segment] = []
    right: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(old_tokens[i1:i2]), "".join(new_tokens[j1:j2])
        if tag == "equal":
            left.append(Segment("same", removed))
            right.append(Segment("same", added))
            continue
        if removed:
            left.append(Segment("removed", removed))
        if added:
            right.append(Segment("added", added))
    return left, right
