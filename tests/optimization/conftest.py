"""Fixtures of the optimization tests: the fake LLM and feedback data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kaizen_server.optimization.dataset import FeedbackRow
from tests.support.fake_llm import FakeLLM, good_answer


@pytest.fixture(scope="module")
def fake_llm_server() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> FakeLLM:
    """The module's fake LLM with fresh counters and no failure mode."""
    fake_llm_server.reset()
    fake_llm_server.fail_with_status = None
    return fake_llm_server


def ticket_feedback(count: int, score: float = 0.9, prefix: str = "f") -> list[FeedbackRow]:
    """``count`` gold feedback rows of a ticket-summary task (the output the fake gives when
    its prompt taught it the marker)."""
    rows = []
    for index in range(count):
        ticket = f"ticket {index} printer {index % 5} on floor {index % 3} is broken"
        rows.append(
            FeedbackRow(
                id=f"{prefix}{index:04d}",
                inputs={"ticket": ticket},
                output=good_answer(ticket),
                score=score,
            )
        )
    return rows
