"""The stand-in LLM as an OpenAI-compatible endpoint, so the CT server can measure prompts with it.

``POST /stand-in/v1/chat/completions`` answers with :func:`~example_app.stand_in.stand_in_summary`,
the same deterministic behaviour the app's summaries come from. It understands two kinds of
conversation:

- a plain one (system prompt + ticket, what the app itself sends, and what the CT server's jobs
  send for the task's prompt): the answer is the summary; demo message pairs before the ticket
  count as worked examples;
- DSPy's chat-adapter format (what DSPy sends for its own signatures): the instructions
  after "your objective is:", worked examples from the demo message pairs, the ticket from the
  last ``[[ ## field ## ]]`` section; the answer comes back in the same field format (or as a
  JSON object when ``response_format`` asks for one).

So with ``KAIZEN_LLM_API_BASE`` pointing here, an optimization job runs the active prompt and the
candidate on held-out rated tickets and scores what they actually produced: the demo shows a
measured score without any model.

Example:
    >>> reply = stand_in_reply([ChatMessage(role="system", content="Be concise."),
    ...                         ChatMessage(role="user", content="Hi team, my invoice is wrong.")])
    >>> reply
    'My invoice is wrong.'
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from example_app.stand_in import STAND_IN_MODEL, stand_in_summary

__all__ = ["ChatCompletionRequest", "ChatMessage", "router", "stand_in_reply"]

router = APIRouter(prefix="/stand-in/v1", tags=["stand-in LLM"])

_FIELD = re.compile(r"\[\[ ## (\w+) ## \]\]")
_OUTPUT_SECTION = re.compile(r"Your output fields are:(.*?)(?:\nAll interactions|\n\n)", re.S)
_NUMBERED_FIELD = re.compile(r"\d+\. `(\w+)`")
_OBJECTIVE = "your objective is:"
MAX_TEXT_CHARS = 100_000


class ChatMessage(BaseModel):
    """One chat message; ``content`` as a string or OpenAI's list of text parts."""

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] = Field(default="")

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content[:MAX_TEXT_CHARS]
        parts = [str(part.get("text", "")) for part in self.content if isinstance(part, dict)]
        return "\n".join(parts)[:MAX_TEXT_CHARS]


class ChatCompletionRequest(BaseModel):
    """The part of an OpenAI chat-completion request the stand-in reads."""

    model: str = Field(default=STAND_IN_MODEL, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    response_format: dict[str, Any] | None = None


def _sections(text: str) -> dict[str, str]:
    parts = _FIELD.split(text)
    return {
        parts[i]: parts[i + 1].split("\n\nRespond with", 1)[0].strip()
        for i in range(1, len(parts) - 1, 2)
    }


def _dspy_outputs(system: str) -> list[str]:
    section = _OUTPUT_SECTION.search(system)
    return _NUMBERED_FIELD.findall(section.group(1)) if section else []


def _with_examples(instructions: str, history: list[ChatMessage]) -> str:
    """Instructions plus the demo pairs (plain or in DSPy's field format) as
    ``Ticket:``/``Summary:`` examples."""
    lines = [instructions]
    for asked, answered in zip(history[::2], history[1::2], strict=False):
        if asked.role != "user" or answered.role != "assistant":
            continue
        question = next(iter(_sections(asked.text).values()), asked.text)
        answer = next(
            (v for k, v in _sections(answered.text).items() if k != "completed"), answered.text
        )
        lines.append(f"Ticket: {question}\nSummary: {answer}")
    return "\n\n".join(lines)


def stand_in_reply(messages: list[ChatMessage], json_object: bool = False) -> str:
    """The assistant message's content for ``messages`` (see the module docstring)."""
    system = "\n".join(m.text for m in messages if m.role in ("system", "developer"))
    dialogue = [m for m in messages if m.role in ("user", "assistant")]
    last = dialogue[-1].text if dialogue and dialogue[-1].role == "user" else ""
    outputs = _dspy_outputs(system)
    if not outputs:
        return stand_in_summary(_with_examples(system, dialogue[:-1]), last)
    ticket = next(iter(_sections(last).values()), last)
    _head, _sep, objective = system.partition(_OBJECTIVE)
    instructions = textwrap.dedent(objective.strip("\n")).strip()
    summary = stand_in_summary(_with_examples(instructions, dialogue[:-1]), ticket)
    values = {name: summary for name in outputs}
    if json_object:
        return json.dumps(values)
    blocks = [f"[[ ## {name} ## ]]\n{value}" for name, value in values.items()]
    return "\n\n".join([*blocks, "[[ ## completed ## ]]"])


@router.get("/models")
async def list_models() -> dict[str, Any]:
    """The one model this endpoint serves."""
    return {"object": "list", "data": [{"id": STAND_IN_MODEL, "object": "model"}]}


@router.post("/chat/completions")
async def chat_completions(request: ChatCompletionRequest) -> dict[str, Any]:
    """An OpenAI-compatible chat completion from the stand-in (deterministic, no model)."""
    wants_json = bool(request.response_format)
    content = stand_in_reply(request.messages, json_object=wants_json)
    prompt_tokens = sum(len(m.text.split()) for m in request.messages)
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-stand-in-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
