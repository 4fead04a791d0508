"""``SecondChanceMap``: a bounded map whose reads take no lock and never reorder anything.

An LRU map moves an entry on every read, so readers sharing it between threads must lock.
Here a read is a plain ``dict`` lookup (atomic under the GIL); the reader marks the value
``used`` (one attribute store). Writes (callers serialize them) append at the end; when the
map is full, the oldest entry is dropped unless it was used since it was last looked at, in
which case its mark is cleared and it moves to the end (the "second chance" / CLOCK
approximation of least-recently-used).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Value:
    ...     name: str
    ...     used: bool = False
    >>> entries: SecondChanceMap[str, Value] = SecondChanceMap(2)
    >>> entries["a"], entries["b"] = Value("a"), Value("b")
    >>> entries.data["a"].used = True  # a reader's hit
    >>> entries["c"] = Value("c")  # full: "b" goes, "a" had a second chance
    >>> sorted(entries.data)
    ['a', 'c']
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

__all__ = ["Marked", "SecondChanceMap"]


class Marked(Protocol):
    """A value readers mark when they use it."""

    used: bool


K = TypeVar("K")
V = TypeVar("V", bound=Marked)


class SecondChanceMap(Generic[K, V]):
    """At most ``maxsize`` values; read ``data`` directly, write through the methods.

    Args:
        maxsize: Most values kept.
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = max(1, maxsize)
        self.data: dict[K, V] = {}
        """The values by key, oldest first: read it (``get``, ``in``) without a lock."""

    def __setitem__(self, key: K, value: V) -> None:
        """Store ``value`` as the newest entry, dropping old unused entries if full."""
        self.data.pop(key, None)
        while len(self.data) >= self._maxsize:
            oldest = next(iter(self.data))
            victim = self.data.pop(oldest)
            if victim.used:
                victim.used = False
                self.data[oldest] = victim
        self.data[key] = value

    def get(self, key: K) -> V | None:
        return self.data.get(key)

    def pop(self, key: K, default: V | None = None) -> V | None:
        return self.data.pop(key, default)

    def __len__(self) -> int:
        return len(self.data)
