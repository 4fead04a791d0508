"""A rollout end to end on real processes: one CT server, two example-app replicas (uvicorn),
a rollout at 20 %, and end users simulated by a bounded load generator whose thumbs-up
probability depends on the version it was served.

Checked: both replicas follow the rollout without waiting for their cache TTL; every user
keeps one version; every request and rating reaches the server (its figures equal what the
users did); the recommendation is right; promoting reaches both replicas.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.example_app.app_process import running_example_app, seed
from tests.support.ct_server import CTServerProcess

USERS = 200
REQUESTS_PER_USER = 2
CONCURRENCY = 8  # the load generator's bound: at most this many users act at once
THUMBS_UP = {"baseline": 0.3, "candidate": 0.9}
SHARE = 0.2
DEADLINE_S = 20.0

APP_ENV = {
    "KAIZEN_ROLLOUT_UNIT": "header:X-User-Id",
    "KAIZEN_CACHE_TTL": "300",  # a replica learns of the rollout from the event stream
    "KAIZEN_RATE_LIMIT_BURST": "100000",  # every simulated user shares one loopback address
    "KAIZEN_RATE_LIMIT_PER_SECOND": "100000",
}


@dataclass
class Observed:
    """What the simulated users did, per arm."""

    versions_by_user: dict[str, set[int]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    ratings: Counter[str] = field(default_factory=Counter)
    thumbs_up: Counter[str] = field(default_factory=Counter)


@pytest.fixture
def replicas(ct_server: CTServerProcess, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A fresh task (v1 active) and two example-app processes serving it."""
    task = f"rollout_e2e_{uuid.uuid4().hex[:8]}"
    seed(ct_server, task, threshold=100_000)  # no optimization job during the test
    with ExitStack() as stack:
        urls = [
            stack.enter_context(running_example_app(ct_server, task, tmp_path, extra_env=APP_ENV))
            for _ in range(2)
        ]
        yield task, urls


def _start_rollout(ct: CTServerProcess, task: str) -> dict[str, Any]:
    with ct.client() as api:
        candidate = api.post(
            f"/api/v1/prompts/{task}/versions",
            json={"prompt_text": "Summarize the support ticket in one short sentence."},
        )
        assert candidate.status_code == 201, candidate.text
        started = api.post(
            f"/api/v1/prompts/{task}/rollout",
            json={"version_id": candidate.json()["id"], "share": SHARE, "min_ratings_per_arm": 20},
        )
        assert started.status_code == 201, started.text
        return dict(started.json())


async def _summarize(http: httpx.AsyncClient, user: str) -> dict[str, Any]:
    answer = await http.post(
        "/api/summarize", json={"ticket": "The printer is on fire."}, headers={"X-User-Id": user}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _until_both_serve(
    apps: list[httpx.AsyncClient], version: int, observed: Observed, arm_of: dict[int, str]
) -> None:
    """Probe each replica with fresh units until one of them gets ``version`` (the rollout
    reached it); every probe is a counted request."""
    give_up = time.monotonic() + DEADLINE_S
    for number, http in enumerate(apps):
        probe = 0
        while True:
            served = (await _summarize(http, f"probe-{number}-{probe}"))["prompt_version"]
            observed.requests[arm_of[served]] += 1
            if served == version:
                break
            probe += 1
            assert time.monotonic() < give_up, f"replica {number} never served v{version}"


async def _simulate_users(
    apps: list[httpx.AsyncClient], arm_of: dict[int, str], observed: Observed
) -> None:
    rng = random.Random(11)
    bound = asyncio.Semaphore(CONCURRENCY)

    async def user(name: str) -> None:
        async with bound:
            for _ in range(REQUESTS_PER_USER):
                http = apps[rng.randrange(len(apps))]
                answer = await _summarize(http, name)
                version = answer["prompt_version"]
                arm = arm_of[version]
                observed.versions_by_user.setdefault(name, set()).add(version)
                observed.requests[arm] += 1
                up = rng.random() < THUMBS_UP[arm]
                rated = await http.post(
                    "/kaizen/feedback",
                    json={"token": answer["feedback_token"], "rating": "up" if up else "down"},
                )
                assert rated.status_code == 202, rated.text
                observed.ratings[arm] += 1
                observed.thumbs_up[arm] += up

    await asyncio.gather(*(user(f"user-{n}") for n in range(USERS)))


def _figures_once_delivered(ct: CTServerProcess, task: str, observed: Observed) -> dict[str, Any]:
    """The rollout's figures, polled until every rating the users sent is stored."""
    give_up = time.monotonic() + DEADLINE_S
    with ct.client() as api:
        while True:
            figures = dict(api.get(f"/api/v1/prompts/{task}/rollout").json())
            stored = {arm: figures[arm]["ratings"] for arm in ("baseline", "candidate")}
            if stored == dict(observed.ratings) or time.monotonic() > give_up:
                return figures
            time.sleep(0.1)


def test_two_replicas_a_rollout_at_20_percent_and_the_users_decide(
    ct_server: CTServerProcess, replicas: tuple[str, list[str]]
) -> None:
    task, urls = replicas
    rollout = _start_rollout(ct_server, task)
    candidate = rollout["candidate"]["version_number"]
    arm_of = {rollout["baseline"]["version_number"]: "baseline", candidate: "candidate"}
    observed = Observed()

    async def run() -> None:
        async with (
            httpx.AsyncClient(base_url=urls[0], timeout=10) as first,
            httpx.AsyncClient(base_url=urls[1], timeout=10) as second,
        ):
            apps = [first, second]
            await _until_both_serve(apps, candidate, observed, arm_of)
            await _simulate_users(apps, arm_of, observed)

    asyncio.run(run())

    assert all(len(seen) == 1 for seen in observed.versions_by_user.values()), "a user switched"
    candidate_users = sum(candidate in seen for seen in observed.versions_by_user.values())
    assert 0.09 < candidate_users / USERS < 0.31, candidate_users  # 20 % of 200, +/- ~4 sd
    figures = _figures_once_delivered(ct_server, task, observed)
    for arm in ("baseline", "candidate"):
        assert figures[arm]["ratings"] == observed.ratings[arm], arm  # nothing lost
        assert figures[arm]["successes"] == observed.thumbs_up[arm], arm
        assert figures[arm]["requests"] == observed.requests[arm], arm
    assert (figures["recommendation"], figures["rule"]) == ("promote", "candidate_better")

    with ct_server.client() as api:
        promoted = api.post(f"/api/v1/prompts/{task}/rollout/promote")
        assert promoted.status_code == 200, promoted.text
    baseline_user = next(
        u for u, seen in observed.versions_by_user.items() if candidate not in seen
    )
    give_up = time.monotonic() + DEADLINE_S
    for url in urls:  # the promotion reaches both replicas: the baseline's users get it too
        while (
            served := httpx.post(
                f"{url}/api/summarize", json={"ticket": "x"}, headers={"X-User-Id": baseline_user}
            ).json()["prompt_version"]
        ) != candidate:
            assert time.monotonic() < give_up, f"{url} still serves v{served}"
            time.sleep(0.05)
