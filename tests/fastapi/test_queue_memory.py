"""Memory of the delivery queue: items held in compact form, a byte bound that refuses and
counts, shared prompt texts, and every item delivered intact (against the real CT server)."""

from __future__ import annotations

import gc
import logging
import tracemalloc
from typing import Any

import pytest
from pydantic import ValidationError

from kaizen_fastapi import KaizenSettings
from kaizen_fastapi.connectivity import ConnectivityMonitor
from kaizen_fastapi.feedback_queue import DeliveryQueue
from kaizen_fastapi.metrics import KaizenMetrics
from kaizen_fastapi.queued_items import QueuedItem, SharedTexts
from kaizen_sdk import AsyncCTClient, FeedbackItem, TraceItem
from tests.fastapi.demo_app import create_task_with_prompt, feedback_rows
from tests.support.ct_server import CTServerProcess
from tests.support.ports import free_port

LONG_PROMPT = "You answer support tickets politely and in one sentence. " * 70  # ~4 KB


def _client(ct: CTServerProcess) -> AsyncCTClient:
    return AsyncCTClient(api_key=ct.api_key, base_url=ct.base_url)


def _queue(client: AsyncCTClient, metrics: KaizenMetrics, **bounds: Any) -> DeliveryQueue:
    return DeliveryQueue(client, metrics, ConnectivityMonitor(), flush_interval=0.05, **bounds)


def _trace(task: str, index: int, prompt_text: str = LONG_PROMPT) -> TraceItem:
    return TraceItem(
        task_id=task,
        inputs={"ticket": f"ticket {index}"},
        prompt_text=prompt_text,
        response_text=f"answer {index}",
    )


def _stored_traces(ct: CTServerProcess, task: str) -> dict[str, dict[str, Any]]:
    with ct.client() as http:
        response = http.get("/api/v1/traces", params={"task_id": task, "limit": 500})
    response.raise_for_status()
    return {row["id"]: row for row in response.json()}


@pytest.mark.anyio
async def test_byte_bound_refuses_and_counts_the_accepted_items_are_delivered(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize:")
    metrics = KaizenMetrics()
    async with _client(ct_server) as client:
        queue = _queue(client, metrics, max_bytes=64 * 2**10)
        offered = [
            TraceItem(
                task_id=unique_task,
                response_text=f"r{i}",
                inputs={"n": i},
                prompt_text=f"prompt of call {i} " + "x" * 200,
            )
            for i in range(400)
        ]
        accepted = [item for item in offered if queue.offer(item)]  # worker not started yet
        refused = len(offered) - len(accepted)
        assert 0 < len(accepted) < len(offered)
        assert queue.pending_bytes <= 64 * 2**10
        assert (metrics.traces_queued, metrics.traces_dropped) == (len(accepted), refused)
        await queue.start()
        assert await queue.close(grace_period=30) == 0
        assert queue.pending_bytes == 0
    assert set(_stored_traces(ct_server, unique_task)) == {item.id for item in accepted}
    assert (metrics.traces_sent, metrics.traces_dropped) == (len(accepted), refused)


@pytest.mark.anyio
async def test_traces_and_feedback_arrive_intact_traces_before_their_feedback(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    task_id = create_task_with_prompt(ct_server, unique_task, "Summarize:")
    with ct_server.client() as http:
        version_id = http.get(f"/api/v1/prompts/{unique_task}").json()["id"]
    traces = [
        TraceItem(
            task_id=task_id,
            inputs={"ticket": 'Ünïcödé ✓ "quoted"\n', "nested": {"none": None, "list": [1, None]}},
            prompt_text=LONG_PROMPT + "✓",
            response_text="réponse",
            model="m/x",
            tokens=0,
            latency_ms=12.5,
            prompt_version_id=version_id,
            metadata={"k": [True, None, 1.5]},
        ),
        TraceItem(task_id=task_id, response_text="no prompt, no inputs"),
    ]
    feedback = [
        FeedbackItem(
            task_id=task_id,
            trace_id=trace.id,
            score=0.25,
            source="user",
            inputs={"shown": "✓"},
            output="shown",
            metadata={"rating": "down", "none": None},
        )
        for trace in traces
    ]
    metrics = KaizenMetrics()
    async with _client(ct_server) as client:
        queue = _queue(client, metrics)
        for trace, rating in zip(traces, feedback, strict=True):
            assert queue.offer(trace)
            assert queue.offer(rating)  # same batch as the trace it rates
        await queue.start()
        assert await queue.close(grace_period=30) == 0
    stored = _stored_traces(ct_server, unique_task)
    for trace in traces:
        row = stored[trace.id]
        assert {field: row[field] for field in trace.to_wire()} == trace.to_wire()
    rows = {row["id"]: row for row in feedback_rows(ct_server, unique_task)}
    for rating in feedback:
        wire = rating.to_wire()
        assert {field: rows[rating.id][field] for field in wire} == wire
    assert (metrics.traces_sent, metrics.feedback_sent) == (2, 2)
    assert (metrics.traces_dropped, metrics.feedback_dropped) == (0, 0)


def test_a_queued_item_decodes_to_the_same_item_with_the_same_wire_form() -> None:
    texts = SharedTexts()
    items: list[TraceItem | FeedbackItem] = [
        _trace("t", 1),
        TraceItem(task_id="t"),
        TraceItem(task_id="t", prompt_text="", inputs={"a": None}),
        FeedbackItem(task_id="t", score=1.0, metadata={"a": None}),
        FeedbackItem(task_id="t", trace_id="tr-1", inputs={"x": "y"}, output="o"),
    ]
    for item in items:
        queued = QueuedItem.of(item, texts)
        decoded = queued.decode(type(item))
        assert decoded == item
        assert decoded.to_wire() == item.to_wire()


def test_a_prompt_text_is_held_once_for_all_the_traces_using_it() -> None:
    texts = SharedTexts()
    first = [QueuedItem.of(_trace("t", i), texts) for i in range(100)]
    held_once = texts.bytes
    assert len(LONG_PROMPT) < held_once < 2 * len(LONG_PROMPT)
    # An equal text in another string object is the same text: held once still.
    copies = [QueuedItem.of(_trace("t", i, "".join(LONG_PROMPT)), texts) for i in range(5)]
    other = QueuedItem.of(_trace("t", 0, "Another prompt"), texts)
    assert len(texts) == 2
    assert all(queued.prompt is first[0].prompt for queued in copies)
    for queued in [*first, *copies, other]:
        queued.release(texts)
    assert (len(texts), texts.bytes) == (0, 0)


@pytest.mark.anyio
async def test_a_full_queue_of_typical_traces_costs_a_few_mb_and_is_counted_honestly() -> None:
    metrics = KaizenMetrics()
    async with AsyncCTClient(api_key="kz-unused", base_url="http://127.0.0.1:9") as client:
        queue = _queue(client, metrics, maxsize=10_000)
        items = [_trace("summarize_ticket", i) for i in range(10_000)]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            assert all(queue.offer(item) for item in items)
            gc.collect()
            measured = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert measured < 5 * 2**20  # was ~14 MB with the pydantic models in the queue
    assert 0.8 < queue.pending_bytes / measured < 1.2
    assert not queue.offer(_trace("summarize_ticket", 0))  # the count bound still holds
    assert metrics.traces_dropped == 1


@pytest.mark.anyio
async def test_items_left_at_shutdown_are_counted_and_their_memory_released(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = KaizenMetrics()
    async with AsyncCTClient(
        api_key="kz-unused", base_url=f"http://127.0.0.1:{free_port()}", timeout=1.0
    ) as client:  # nothing listens: the CT server is down
        queue = _queue(client, metrics, maxsize=5)
        await queue.start()
        with caplog.at_level(logging.WARNING, logger="kaizen_fastapi"):
            offered = [queue.offer(_trace("t", i)) for i in range(5)]
            offered += [queue.offer(FeedbackItem(task_id="t", score=1.0)) for _ in range(300)]
        assert await queue.close(grace_period=0.2) == 5
    assert offered.count(True) == 5
    assert queue.pending_bytes == 0
    assert (metrics.traces_dropped, metrics.feedback_dropped) == (5, 300)
    full_warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(full_warnings) == 1  # not one line per refused item
    assert "1 traces/feedback dropped" in full_warnings[0].getMessage()


def test_queue_max_bytes_accepts_units_and_refuses_nonsense_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert KaizenSettings(queue_max_bytes="16MiB").queue_max_bytes == 16 * 2**20
    monkeypatch.setenv("KAIZEN_QUEUE_MAX_BYTES", "2 MB")
    assert KaizenSettings().queue_max_bytes == 2_000_000
    with pytest.raises(ValidationError, match=r"queue_max_bytes\n.*greater than or equal to 65536"):
        KaizenSettings(queue_max_bytes=1000)
    with pytest.raises(ValidationError, match=r"queue_max_bytes\n.*could not parse"):
        KaizenSettings(queue_max_bytes="lots")
