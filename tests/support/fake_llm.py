"""A loopback OpenAI-compatible LLM server for tests: deterministic, and it reacts to the prompt.

It speaks ``POST /v1/chat/completions`` (what litellm and DSPy send for ``openai/<model>``
with an ``api_base``) and answers in DSPy's chat-adapter format, so real DSPy programs and
optimizers run against it. It plays four roles, picked from the request:

- **task program**: answers ``SUMMARY: <first input>`` when the prompt (instructions or demos)
  contains :attr:`FakeLLM.good_marker`, and a worse answer (the first input, unprefixed)
  otherwise. So a prompt that learned the marker from demos or instructions scores better:
  optimization has a signal. With :attr:`FakeLLM.demos_hurt` it is the other way round.
- **judge** (output field ``score``, an input naming ``gold``): scores a candidate by word
  overlap with the gold output, so it prefers the better candidate.
- **instruction proposer** (an output field containing ``instruction``, or GEPA's raw
  reflection prompt): proposes an instruction that contains the marker.
- anything else (program/data summaries): a short fixed sentence per output field.

Example:
    >>> with FakeLLM() as llm:
    ...     llm.api_base.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.json_server import JSONFake, LoopbackJSONServer

__all__ = ["FakeLLM", "good_answer", "running_fake_llm", "word_overlap"]

DEFAULT_MARKER = "SUMMARY:"
_FIELD = re.compile(r"\[\[ ## (\w+) ## \]\]")
_OUTPUT_SECTION = re.compile(r"Your output fields are:(.*?)(?:\n\n|All interactions)", re.S)
_NUMBERED_FIELD = re.compile(r"\d+\. `(\w+)`")
_META_OUTPUTS = {"observations", "program_description", "module_description", "summary"}


def word_overlap(left: str, right: str) -> float:
    """Jaccard overlap of the lower-cased words of two strings (1.0 for two empty strings)."""
    a, b = set(re.findall(r"\w+", left.lower())), set(re.findall(r"\w+", right.lower()))
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def good_answer(first_input: str, marker: str = DEFAULT_MARKER) -> str:
    """The answer the fake gives when the prompt taught it the marker."""
    return f"{marker} {first_input}"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _sections(message: str) -> dict[str, str]:
    """``[[ ## name ## ]]`` sections of a chat-adapter message, name -> stripped body."""
    parts = _FIELD.split(message)
    sections: dict[str, str] = {}
    for index in range(1, len(parts) - 1, 2):
        body = parts[index + 1].split("\n\nRespond with", 1)[0]
        sections[parts[index]] = body.strip()
    return sections


def _format_fields(values: dict[str, str]) -> str:
    blocks = [f"[[ ## {name} ## ]]\n{value}" for name, value in values.items()]
    return "\n\n".join([*blocks, "[[ ## completed ## ]]"])


@dataclass
class FakeLLM(JSONFake):
    """The fake server; use as a context manager or via :func:`running_fake_llm`."""

    good_marker: str = DEFAULT_MARKER
    fail_with_status: int | None = None
    """When set, every request is answered with this HTTP error status."""
    delay_s: float = 0.0
    """Seconds to wait before answering (time-limit tests)."""
    demos_hurt: bool = False
    """When set, the task program answers worse whenever its prompt carries worked examples
    (demo messages, or a rendered ``### Examples`` section) and well otherwise: few-shot
    optimization makes this model worse."""
    calls: Counter[str] = field(default_factory=Counter)
    """Requests received, by role: ``task``, ``judge``, ``proposer``, ``other``, ``error``."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LoopbackJSONServer | None = None

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"{self.base_url}/v1"

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(count for role, count in self.calls.items() if role != "error")

    def reset(self) -> None:
        """Forget the counters and recorded requests."""
        with self._lock:
            self.calls.clear()
            self.requests.clear()

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any]]:
        """One HTTP request: ``(status, JSON payload)``."""
        route = path.split("?", 1)[0].rstrip("/")
        if method == "GET":
            if route.endswith("/models"):
                return 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]}
            return 404, {"error": {"message": "not found"}}
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_with_status is not None:
            self._count("error", body)
            return self.fail_with_status, {"error": {"message": "fake LLM failure"}}
        if not route.endswith("/chat/completions"):
            return 404, {"error": {"message": f"unsupported path {path}"}}
        return 200, self.complete(body)

    def _count(self, role: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.calls[role] += 1
            self.requests.append({"role": role, "body": body})

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat-completion response for a request body (also usable without HTTP)."""
        messages = body.get("messages") or []
        texts = [_text_of(message.get("content")) for message in messages]
        system = next(
            (t for m, t in zip(messages, texts, strict=True) if m.get("role") == "system"), ""
        )
        last_user = next(
            (
                t
                for m, t in zip(reversed(messages), reversed(texts), strict=True)
                if m.get("role") == "user"
            ),
            "",
        )
        section = _OUTPUT_SECTION.search(system)
        outputs = _NUMBERED_FIELD.findall(section.group(1)) if section else []
        inputs = _sections(last_user)
        with_examples = any(m.get("role") == "assistant" for m in messages) or any(
            "### Examples" in text for text in texts
        )
        role, answer = self._answer("\n".join(texts), outputs, inputs, last_user, with_examples)
        if isinstance(answer, str):
            content = answer
        elif "JSON object" in last_user or body.get("response_format"):
            content = json.dumps(answer)
        else:
            content = _format_fields(answer)
        self._count(role, body)
        prompt_tokens = sum(len(text.split()) for text in texts)
        completion_tokens = len(content.split())
        return {
            "id": f"chatcmpl-fake-{int(time.time() * 1000)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "fake")),
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

    def _instruction(self) -> str:
        return (
            "Summarize the user's input in one line. Always start the answer with "
            f"'{self.good_marker}' followed by the key facts."
        )

    def _learned(self, prompt: str, last_user: str, with_examples: bool) -> bool:
        """True when the task program answers well: it saw the marker (with
        :attr:`demos_hurt`: it saw no worked examples)."""
        if self.demos_hurt:
            return not with_examples
        return self.good_marker in prompt.replace(last_user, "")

    def _answer(
        self,
        prompt: str,
        outputs: list[str],
        inputs: dict[str, str],
        last_user: str,
        with_examples: bool = False,
    ) -> tuple[str, str | dict[str, str]]:
        """``(role, answer)``: raw text, or output field values for the adapter's format."""
        if not outputs and "new instructions within" in prompt:
            return "proposer", f"```\n{self._instruction()}\n```"
        if not outputs:
            first = last_user.strip()
            learned = self._learned(prompt, last_user, with_examples)
            return "task", good_answer(first, self.good_marker) if learned else first
        if "score" in outputs and any("gold" in name for name in inputs):
            gold = next(value for name, value in inputs.items() if "gold" in name)
            candidate = next((v for name, v in inputs.items() if "candidate" in name), "")
            return "judge", {"score": f"{word_overlap(candidate, gold):.2f}"}
        if any("instruction" in name for name in outputs):
            return "proposer", {name: self._instruction() for name in outputs}
        if not inputs or set(outputs) & _META_OUTPUTS:
            return "other", {name: "A short description." for name in outputs}
        first = next(iter(inputs.values()))
        learned = self._learned(prompt, last_user, with_examples)
        answer = good_answer(first, self.good_marker) if learned else first
        values = {name: "Thinking briefly." if name == "reasoning" else answer for name in outputs}
        return "task", values


@contextmanager
def running_fake_llm(**options: Any) -> Iterator[FakeLLM]:
    """Start a :class:`FakeLLM` for the duration of a ``with`` block."""
    fake = FakeLLM(**options).start()
    try:
        yield fake
    finally:
        fake.stop()
