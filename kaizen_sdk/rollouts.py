"""Which version of a task's prompt a unit (a user, a session, a request) is served while a
rollout runs: a stable hash, so a unit keeps one version for the whole rollout.

Example:
    >>> from kaizen_sdk.models import Prompt, PromptRollout
    >>> active = Prompt(id="v3", task_id="t", version_number=3, prompt_text="Summarize:",
    ...     rollout=PromptRollout(id="r1", share=0.5, version_id="v4", version_number=4,
    ...                           prompt_text="Summarize in one line:"))
    >>> served_version(active, "user-42").id == served_version(active, "user-42").id
    True
    >>> served_version(Prompt(id="v3", task_id="t", prompt_text="x"), "user-42").id
    'v3'
"""

from __future__ import annotations

import hashlib
import random

from kaizen_sdk.models import Prompt

__all__ = ["MAX_UNIT_CHARS", "in_candidate_share", "served_version"]

MAX_UNIT_CHARS = 256
"""A longer unit (a header or cookie value) is cut there before hashing."""

_SCALE = float(2**64)


def in_candidate_share(rollout_id: str, unit: str | None, share: float) -> bool:
    """True when ``unit`` falls in the candidate's ``share`` of rollout ``rollout_id``.

    The rollout's id salts the hash, so one unit is not in every rollout's candidate share.
    ``unit`` ``None`` draws at random (each request on its own).

    Example:
        >>> in_candidate_share("r1", "user-42", 1.0), in_candidate_share("r1", "user-42", 0.0)
        (True, False)
    """
    if unit is None:
        return random.random() < share
    key = f"{rollout_id}\x1f{unit[:MAX_UNIT_CHARS]}".encode("utf-8", "replace")
    position = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / _SCALE
    return position < share


def served_version(prompt: Prompt, unit: str | None) -> Prompt:
    """The prompt to serve ``unit``: ``prompt`` itself, or its rollout's candidate when the
    unit falls in the candidate's share (a ``Prompt`` of the candidate version, carrying the
    same ``rollout``, so traces and ratings name the version actually served)."""
    rollout = prompt.rollout
    if rollout is None or not in_candidate_share(rollout.id, unit, rollout.share):
        return prompt
    candidate = prompt.rollout_candidate
    if candidate is None or candidate.rollout is not rollout:
        # Cached before a model_copy(update={"rollout": ...}) gave the prompt another one.
        del prompt.rollout_candidate
        candidate = prompt.rollout_candidate
    assert candidate is not None
    return candidate
