"""A minimal reader of ``text/event-stream`` frames (events and comments) for the tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx


@dataclass
class Frame:
    """One SSE frame: its fields and comment lines."""

    id: str | None = None
    event: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.data)
        return payload


class FrameReader:
    """Reads frames from a streaming response, each wait bounded by a deadline."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self, seconds: float = 10.0) -> Frame:
        frame = Frame()
        with anyio.fail_after(seconds):
            async for line in self._lines:
                if line == "":
                    if frame.id or frame.event or frame.data or frame.comments:
                        return frame
                    continue
                if line.startswith(":"):
                    frame.comments.append(line[1:].strip())
                    continue
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "id":
                    frame.id = value
                elif key == "event":
                    frame.event = value
                elif key == "data":
                    frame.data += value
        raise AssertionError("the event stream ended")

    async def next_event_for(self, task_id: str, seconds: float = 10.0) -> Frame:
        """The next event about ``task_id`` (other tests' events are skipped)."""
        with anyio.fail_after(seconds):
            while True:
                frame = await self.next(seconds)
                if frame.event and frame.json()["task_id"] == task_id:
                    return frame
