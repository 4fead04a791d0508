"""The prompt cache through the public client API, on both clients.

The CT server is the scripted :class:`FakeCT` at the network edge; time is a :class:`FakeClock`
so expiry is exact, and waiting is on events or polled with a deadline.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import anyio
import httpx
import pytest

from kaizen_sdk import AsyncCTClient, CTClient, CTConnectionError, CTNotFoundError, Prompt
from kaizen_sdk.prompt_cache import FAILURE_BACKOFF_BASE
from tests.sdk.fake_ct import FakeClock, FakeCT, call, close, eventually, make_client

pytestmark = pytest.mark.anyio

TTL = 60.0


async def test_warm_hits_make_no_request(client_kind: str) -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    client = make_client(client_kind, ct, cache_ttl=TTL, clock=FakeClock())
    prompts = [await call(client, "get_prompt", "summarize") for _ in range(100)]
    assert {p.prompt_text for p in prompts} == {"v1 text"}
    assert len(ct.prompt_fetches()) == 1
    stats = client.cache_stats
    assert (stats.misses, stats.hits) == (1, 99)
    await close(client)


async def test_stale_prompt_is_served_at_once_then_the_new_one(client_kind: str) -> None:
    ct = FakeCT()
    first_etag = ct.add_task("summarize").etag
    clock = FakeClock()
    client = make_client(client_kind, ct, cache_ttl=TTL, clock=clock)
    assert (await call(client, "get_prompt", "summarize")).version_number == 1
    ct.publish("summarize", "v2 text")
    clock.advance(TTL + 1)
    if client_kind == "async":
        ct.async_gate = anyio.Event()  # the refresh cannot finish before we look
    else:
        ct.thread_gate = threading.Event()
    stale = await call(client, "get_prompt", "summarize")
    assert stale.prompt_text == "v1 text"
    assert client.cache_stats.stale_serves == 1
    if ct.async_gate is not None:
        assert ct.async_gate is not None
        ct.async_gate.set()
    if ct.thread_gate is not None:
        ct.thread_gate.set()
    await eventually(lambda: len(ct.prompt_fetches()) == 2 and client.cache_stats.refreshes == 1)
    await eventually(lambda: client.cache_stats.in_flight == 0)
    fresh = await call(client, "get_prompt", "summarize")
    assert fresh.prompt_text == "v2 text"
    assert fresh.version_number == 2
    assert ct.prompt_fetches()[1].headers["If-None-Match"] == first_etag
    await close(client)


async def test_unchanged_prompt_is_revalidated_with_a_304(client_kind: str) -> None:
    ct = FakeCT()
    task = ct.add_task("summarize")
    clock = FakeClock()
    client = make_client(client_kind, ct, cache_ttl=TTL, clock=clock)
    await call(client, "get_prompt", "summarize")
    clock.advance(TTL + 1)
    stale = await call(client, "get_prompt", "summarize")
    await eventually(lambda: client.cache_stats.refreshes == 1 and len(ct.prompt_fetches()) == 2)
    revalidation = ct.prompt_fetches()[1]
    assert revalidation.headers["If-None-Match"] == task.etag
    await eventually(lambda: client.cache_stats.in_flight == 0)
    again = await call(client, "get_prompt", "summarize")  # fresh again after the 304
    assert again == stale
    assert len(ct.prompt_fetches()) == 2
    assert client.cache_stats.hits == 1
    await close(client)


def gated_async_client() -> tuple[FakeCT, AsyncCTClient]:
    """An async client whose prompt fetches wait until ``ct.async_gate`` is set."""
    ct = FakeCT(async_gate=anyio.Event())
    ct.add_task("summarize")
    client = make_client("async", ct, cache_ttl=TTL)
    assert isinstance(client, AsyncCTClient)
    return ct, client


async def test_a_thousand_concurrent_cold_calls_make_one_request() -> None:
    ct, client = gated_async_client()
    results: list[Prompt] = []

    async def one() -> None:
        results.append(await client.get_prompt("summarize"))

    async with anyio.create_task_group() as group:
        for _ in range(1000):
            group.start_soon(one)
        await eventually(lambda: client.cache_stats.misses == 1000)
        assert ct.async_gate is not None
        ct.async_gate.set()
    assert len(results) == 1000
    assert {p.prompt_text for p in results} == {"v1 text"}
    assert len(ct.prompt_fetches()) == 1
    await client.close()


def test_concurrent_cold_calls_from_threads_make_one_request() -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    ct.thread_gate = threading.Event()
    client = make_client("sync", ct, cache_ttl=TTL)
    assert isinstance(client, CTClient)
    results: list[Prompt] = []
    threads = [
        threading.Thread(target=lambda: results.append(client.get_prompt("summarize")))
        for _ in range(32)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while client.cache_stats.misses < 32:
        assert time.monotonic() < deadline, "threads never all looked the prompt up"
        threading.Event().wait(0.005)
    ct.thread_gate.set()
    for thread in threads:
        thread.join(5)
    assert len(results) == 32
    assert len(ct.prompt_fetches()) == 1
    client.close()


async def test_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    ct, client = gated_async_client()
    got: list[Prompt] = []
    impatient = anyio.CancelScope()
    caught: list[bool] = []

    async def impatient_caller() -> None:
        with impatient:
            await client.get_prompt("summarize")
        caught.append(impatient.cancelled_caught)

    async with anyio.create_task_group() as group:
        group.start_soon(impatient_caller)
        await eventually(lambda: client.cache_stats.misses == 1)
        impatient.cancel()
        await eventually(lambda: caught == [True])
        group.start_soon(lambda: _collect(client, got))
        await eventually(lambda: client.cache_stats.misses == 2)
        assert ct.async_gate is not None
        ct.async_gate.set()
    assert len(ct.prompt_fetches()) == 1
    assert [p.prompt_text for p in got] == ["v1 text"]
    await client.close()


async def _collect(client: AsyncCTClient, into: list[Prompt]) -> None:
    into.append(await client.get_prompt("summarize"))


async def test_fallback_when_unreachable_then_failure_window(client_kind: str) -> None:
    ct = FakeCT(down=True)
    clock = FakeClock()
    client = make_client(client_kind, ct, cache_ttl=TTL, clock=clock, max_retries=0)
    prompt = await call(client, "get_prompt", "summarize", fallback="Summarize:")
    assert prompt.is_fallback
    assert (prompt.prompt_text, prompt.id, prompt.task_id) == (
        "Summarize:",
        "fallback",
        "summarize",
    )
    assert len(ct.requests) == 1
    # Within the failure window: answered at once, without a request.
    assert (await call(client, "get_prompt", "summarize", fallback="F2")).prompt_text == "F2"
    with pytest.raises(CTConnectionError):
        await call(client, "get_prompt", "summarize")
    assert len(ct.requests) == 1
    # After the window the server is tried again; the next window is twice as long.
    clock.advance(FAILURE_BACKOFF_BASE + 0.01)
    await call(client, "get_prompt", "summarize", fallback="F")
    assert len(ct.requests) == 2
    clock.advance(FAILURE_BACKOFF_BASE * 1.5)
    await call(client, "get_prompt", "summarize", fallback="F")
    assert len(ct.requests) == 2
    # Once the server is back, the real prompt replaces the fallback.
    ct.down = False
    ct.add_task("summarize")
    clock.advance(FAILURE_BACKOFF_BASE * 2)
    real = await call(client, "get_prompt", "summarize", fallback="F")
    assert not real.is_fallback
    assert real.prompt_text == "v1 text"
    stats = client.cache_stats
    assert (stats.fallback_serves, stats.fetch_errors) == (4, 2)
    await close(client)


async def test_server_errors_count_as_unreachable_for_the_fallback(client_kind: str) -> None:
    ct = FakeCT(override=lambda request: httpx.Response(503, json={"title": "Unavailable"}))
    client = make_client(client_kind, ct, max_retries=0)
    prompt = await call(client, "get_prompt", "summarize", fallback="Summarize:")
    assert prompt.is_fallback
    await close(client)


async def test_stale_prompt_is_served_during_an_outage(client_kind: str) -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    clock = FakeClock()
    client = make_client(client_kind, ct, cache_ttl=TTL, clock=clock, max_retries=0)
    await call(client, "get_prompt", "summarize")
    ct.down = True
    clock.advance(TTL + 1)
    assert (await call(client, "get_prompt", "summarize")).prompt_text == "v1 text"
    await eventually(lambda: client.cache_stats.fetch_errors == 1)
    await eventually(lambda: client.cache_stats.in_flight == 0)
    for _ in range(5):  # in the failure window: stale, no new refresh
        assert (await call(client, "get_prompt", "summarize")).prompt_text == "v1 text"
    assert len(ct.prompt_fetches()) == 2
    await close(client)


async def test_not_found_is_raised_even_with_a_fallback_and_not_remembered(
    client_kind: str,
) -> None:
    ct = FakeCT()
    client = make_client(client_kind, ct)
    for _ in range(2):
        with pytest.raises(CTNotFoundError, match="not found"):
            await call(client, "get_prompt", "missing", fallback="F")
    assert len(ct.prompt_fetches()) == 2
    await close(client)


def three_slot_client(client_kind: str, names: str) -> tuple[FakeCT, CTClient | AsyncCTClient]:
    """A client caching at most 3 prompts, and a fake CT server with a task per letter."""
    ct = FakeCT()
    for name in names:
        ct.add_task(name)
    return ct, make_client(client_kind, ct, cache_maxsize=3, clock=FakeClock())


async def test_cache_size_is_bounded_least_recently_used_first(client_kind: str) -> None:
    ct, client = three_slot_client(client_kind, "abcde")
    for name in "abcde":
        await call(client, "get_prompt", name)
    assert client.cache_stats.size == 3
    await call(client, "get_prompt", "e")
    assert len(ct.prompt_fetches("e")) == 1  # kept
    await call(client, "get_prompt", "a")
    assert len(ct.prompt_fetches("a")) == 2  # evicted, fetched again
    await close(client)


async def test_a_key_hit_since_it_was_stored_outlives_an_unused_one(client_kind: str) -> None:
    ct, client = three_slot_client(client_kind, "abcd")
    for name in "abc":
        await call(client, "get_prompt", name)
    await call(client, "get_prompt", "a")  # a warm hit: "a" gets a second chance
    await call(client, "get_prompt", "d")  # full: the oldest unused entry, "b", goes
    for name in "acd":
        await call(client, "get_prompt", name)
    await call(client, "get_prompt", "b")
    assert {name: len(ct.prompt_fetches(name)) for name in "abcd"} == {
        "a": 1,
        "b": 2,
        "c": 1,
        "d": 1,
    }
    await close(client)


def test_lock_free_warm_hits_from_many_threads_are_all_counted() -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    client = make_client("sync", ct, cache_ttl=TTL, clock=FakeClock())
    assert isinstance(client, CTClient)
    client.get_prompt("summarize")
    start = threading.Barrier(8)

    def hit_often() -> None:
        start.wait()
        for _ in range(5000):
            assert client.get_prompt("summarize").prompt_text == "v1 text"

    threads = [threading.Thread(target=hit_often) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = client.cache_stats
    assert (stats.hits, stats.misses, len(ct.prompt_fetches())) == (40_000, 1, 1)
    client.close()


async def test_cached_prompt_answers_only_from_a_fresh_entry_without_io(client_kind: str) -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    clock = FakeClock()
    client = make_client(client_kind, ct, cache_ttl=TTL, clock=clock)
    assert client.cached_prompt("summarize") is None  # cold: no fetch started
    fetched = await call(client, "get_prompt", "summarize")
    assert client.cached_prompt("summarize") is fetched
    clock.advance(TTL + 1)
    assert client.cached_prompt("summarize") is None  # stale: get_prompt revalidates
    assert len(ct.prompt_fetches()) == 1
    assert (client.cache_stats.misses, client.cache_stats.hits) == (1, 1)
    await close(client)


async def test_invalidate_prompt_drops_exactly_that_key(client_kind: str) -> None:
    ct = FakeCT()
    for name in ("ab", "abc", "abcd"):
        ct.add_task(name)
    client = make_client(client_kind, ct, clock=FakeClock())
    for name in ("ab", "abc", "abcd"):
        await call(client, "get_prompt", name)
    client.invalidate_prompt("abc")
    for name in ("ab", "abc", "abcd"):
        await call(client, "get_prompt", name)
    assert [len(ct.prompt_fetches(n)) for n in ("ab", "abc", "abcd")] == [1, 2, 1]
    await close(client)


@pytest.mark.parametrize("activate_by", ["name", "uuid"])
async def test_activate_prompt_invalidates_the_name_and_uuid_keys(
    client_kind: str, activate_by: str
) -> None:
    ct = FakeCT()
    task = ct.add_task("summarize")
    other = ct.add_task("other")
    client = make_client(client_kind, ct, clock=FakeClock())
    for key in ("summarize", task.task_uuid, "other"):
        await call(client, "get_prompt", key)
    ct.publish("summarize", "v2 text")
    key = "summarize" if activate_by == "name" else task.task_uuid
    activated = await call(client, "activate_prompt", key, f"{task.task_uuid}-v2")
    assert activated.version_number == 2
    for key in ("summarize", task.task_uuid, "other"):
        await call(client, "get_prompt", key)
    assert (await call(client, "get_prompt", "summarize")).prompt_text == "v2 text"
    assert len(ct.prompt_fetches("summarize")) == 2
    assert len(ct.prompt_fetches(task.task_uuid)) == 2
    assert len(ct.prompt_fetches(other.name)) == 1
    await close(client)


async def test_refresh_prompt_fetches_now_within_the_ttl(client_kind: str) -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    client = make_client(client_kind, ct, clock=FakeClock())
    await call(client, "get_prompt", "summarize")
    ct.publish("summarize", "v2 text")
    refreshed = await call(client, "refresh_prompt", "summarize")
    assert refreshed.prompt_text == "v2 text"
    assert (await call(client, "get_prompt", "summarize")).prompt_text == "v2 text"
    assert len(ct.prompt_fetches()) == 2
    assert client.cache_stats.refreshes == 1
    await close(client)


async def test_zero_ttl_revalidates_every_lookup(client_kind: str) -> None:
    ct = FakeCT()
    task = ct.add_task("summarize")
    client = make_client(client_kind, ct, cache_ttl=0.0)
    for _ in range(3):
        assert (await call(client, "get_prompt", "summarize")).prompt_text == "v1 text"
    fetches = ct.prompt_fetches()
    assert len(fetches) == 3
    assert [r.headers.get("If-None-Match") for r in fetches] == [None, task.etag, task.etag]
    await close(client)


async def test_close_cancels_a_background_refresh_in_progress() -> None:
    ct = FakeCT()
    ct.add_task("summarize")
    clock = FakeClock()
    client = make_client("async", ct, cache_ttl=TTL, clock=clock)
    assert isinstance(client, AsyncCTClient)
    await client.get_prompt("summarize")
    ct.async_gate = anyio.Event()  # the refresh will hang until cancelled
    clock.advance(TTL + 1)
    assert (await client.get_prompt("summarize")).prompt_text == "v1 text"
    assert client.cache_stats.in_flight == 1
    with anyio.fail_after(2):
        await client.close()
    assert client._cache._tasks == set()
    assert client.cache_stats.in_flight == 0  # nobody will join the cancelled fetch
    assert len(ct.prompt_fetches()) == 1  # the refresh never reached the server


EXIT_SCRIPT = """
import threading, httpx
from kaizen_sdk import CTClient

calls = []
def handler(request):
    calls.append(request)
    if len(calls) > 1:
        threading.Event().wait()  # the refresh hangs forever
    return httpx.Response(200, json={"id": "p1", "task_id": "t1", "prompt_text": "v1"})

now = [0.0]
client = CTClient(api_key="sk", transport=httpx.MockTransport(handler), cache_ttl=1.0,
                  clock=lambda: now[0])
client.get_prompt("t")
now[0] = 5.0
print(client.get_prompt("t").prompt_text)  # stale, refresh started in the background
while len(calls) < 2:
    threading.Event().wait(0.01)
print("exiting")
"""


def test_a_hanging_background_refresh_never_blocks_interpreter_exit() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=15
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["v1", "exiting"]
