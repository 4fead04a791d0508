"""Deliveries waiting in the plugin's queue, held in compact form.

A validated ``TraceItem`` or ``FeedbackItem`` costs about 1.4 KB of memory as a pydantic
model. The queue keeps each one as its wire JSON in ``bytes`` instead (about 300 B for a
typical trace), without the fields that are ``None``, and without the trace's prompt text:
that text is the same for every call until the prompt changes (and is often several KB), so
:class:`SharedTexts` holds it once for all the queued traces that use it. The item is rebuilt
from these bytes just before it is sent, with the same id and the same wire form.

:meth:`QueuedItem.size` and :attr:`SharedTexts.bytes` are what the entries keep in memory;
the queue adds them up to enforce its byte bound. Why not simply queue the models: a full
queue of 10,000 typical traces measured ~14 MB as pydantic models and under 5 MB in this form
(``tests/fastapi/test_queue_memory.py`` holds both figures and checks that the byte count
stays within 20 % of what tracemalloc measures, which is why sizes come from
``sys.getsizeof`` rather than from the JSON lengths alone).

Example:
    >>> texts = SharedTexts()
    >>> trace = TraceItem(task_id="summarize", prompt_text="Summarize:", tokens=3)
    >>> queued = QueuedItem.of(trace, texts)
    >>> queued.body
    b'{"task_id":"summarize","id":"...","tokens":3}'
    >>> queued.decode(TraceItem) == trace
    True
    >>> queued.release(texts)
    >>> texts.bytes
    0
"""

from __future__ import annotations

import sys
from typing import Final, TypeVar

from pydantic_core import to_json

from kaizen_sdk import FeedbackItem, TraceItem

__all__ = ["QueuedItem", "SharedTexts"]

ItemT = TypeVar("ItemT", TraceItem, FeedbackItem)

_SLOT: Final = 8
"""Bytes of one reference in the queue's deque or the worker's batch list."""
_DICT_ENTRY: Final = 3 * 8 * 2
"""Bytes one more key costs a dict on average (hash, key, value; table kept under 2/3 full)."""
_WITHOUT_PROMPT: Final = {"prompt_text"}  # never changed


class _SharedText:
    __slots__ = ("text", "users")

    def __init__(self, text: str) -> None:
        self.text = text
        self.users = 0


class SharedTexts:
    """The prompt texts of queued traces, each held (and counted) once, however many traces
    use it: the first user adds it, the last one to leave removes it."""

    __slots__ = ("_entries", "bytes")

    def __init__(self) -> None:
        self._entries: dict[str, _SharedText] = {}
        self.bytes = 0
        """Memory held by the texts (the strings and their table entries)."""

    def __len__(self) -> int:
        return len(self._entries)

    def acquire(self, text: str) -> _SharedText:
        """The shared entry of ``text`` (an equal string already held is reused), one user more."""
        entry = self._entries.get(text)
        if entry is None:
            entry = self._entries[text] = _SharedText(text)
            self.bytes += self._cost(entry)
        entry.users += 1
        return entry

    def release(self, entry: _SharedText) -> None:
        """One user of ``entry`` less; the text is dropped with its last user."""
        entry.users -= 1
        if entry.users == 0:
            del self._entries[entry.text]
            self.bytes -= self._cost(entry)

    @staticmethod
    def _cost(entry: _SharedText) -> int:
        return sys.getsizeof(entry.text) + sys.getsizeof(entry) + _DICT_ENTRY


class QueuedItem:
    """One trace or feedback entry waiting for delivery: its kind and wire JSON.

    Build it with :meth:`of`; :meth:`decode` gives the item back.
    """

    __slots__ = ("body", "kind", "prompt")

    def __init__(self, kind: str, body: bytes, prompt: _SharedText | None) -> None:
        self.kind = kind
        """``"traces"`` or ``"feedback"`` (the prefix of the item's counters)."""
        self.body = body
        """The wire JSON object, without ``None`` fields and without the prompt text."""
        self.prompt = prompt

    @classmethod
    def of(cls, item: TraceItem | FeedbackItem, texts: SharedTexts) -> QueuedItem:
        """``item`` in compact form; a trace's prompt text goes to ``texts``."""
        if isinstance(item, FeedbackItem):
            return cls("feedback", to_json(item, exclude_none=True), None)
        if item.prompt_text is None:
            return cls("traces", to_json(item, exclude_none=True), None)
        return cls(
            "traces",
            to_json(item, exclude_none=True, exclude=_WITHOUT_PROMPT),
            texts.acquire(item.prompt_text),
        )

    def size(self) -> int:
        """Bytes this entry keeps in memory (its shared prompt text is counted by
        :class:`SharedTexts`)."""
        return len(self.body) + _ENTRY_OVERHEAD

    def decode(self, item_type: type[ItemT]) -> ItemT:
        """The item again (validated by ``item_type`` from the wire JSON), prompt text included."""
        item = item_type.model_validate_json(self.body)
        if self.prompt is None:
            return item
        # The text was validated with the item when it was queued.
        return item.model_copy(update={"prompt_text": self.prompt.text})

    def release(self, texts: SharedTexts) -> None:
        """Give up this entry's use of its shared prompt text (once delivered or dropped)."""
        if self.prompt is not None:
            texts.release(self.prompt)
            self.prompt = None


_ENTRY_OVERHEAD: Final = sys.getsizeof(QueuedItem("", b"", None)) + sys.getsizeof(b"") + _SLOT
"""Bytes of a :class:`QueuedItem` besides its body's content: the object, the ``bytes``
header, its reference in the queue."""
