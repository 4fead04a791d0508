"""Rollouts through the plugin against the real CT server: two app replicas, a rollout at
20 %, simulated end users whose ratings depend on the version they were served; every user
keeps one version, the server counts every rating, and its recommendation is right."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection

from kaizen_fastapi.rollout_units import RolloutUnits
from kaizen_fastapi.testing import kaizen_test_settings
from kaizen_sdk import Prompt, served_version
from kaizen_sdk.models import PromptRollout
from kaizen_sdk.rollouts import in_candidate_share
from tests.fastapi.demo_app import build_app, create_task_with_prompt, runtime_of, wait_for
from tests.support.ct_server import CTServerProcess

USERS = 150
REQUESTS_PER_USER = 2
THUMBS_UP = {"baseline": 0.3, "candidate": 0.9}


def _start_rollout(ct: CTServerProcess, task: str, share: float) -> dict[str, Any]:
    with ct.client() as http:
        candidate = http.post(
            f"/api/v1/prompts/{task}/versions", json={"prompt_text": "Summarize v2:"}
        )
        assert candidate.status_code == 201, candidate.text
        started = http.post(
            f"/api/v1/prompts/{task}/rollout",
            json={
                "version_id": candidate.json()["id"],
                "share": share,
                "min_ratings_per_arm": 20,
            },
        )
        assert started.status_code == 201, started.text
        return dict(started.json())


def _rollout(ct: CTServerProcess, task: str) -> dict[str, Any]:
    with ct.client() as http:
        return dict(http.get(f"/api/v1/prompts/{task}/rollout").json())


def test_two_replicas_split_users_stably_and_the_ratings_decide(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize v1:")
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        cache_ttl=300.0,
        prompt_routes={"/summarize*": unique_task},
        rollout_unit="header:X-User-Id",
        rate_limit_burst=1000,  # every simulated user comes from the one test client address
    )
    rng = random.Random(7)
    with TestClient(build_app(settings)) as first, TestClient(build_app(settings)) as second:
        replicas = (first, second)
        for http in replicas:
            assert http.post("/summarize", json={"ticket": "x"}).json()["version"] == 1
            stream = runtime_of(http.app_state).prompt_events
            assert stream is not None
            wait_for(stream.connected.is_set, 10, "the prompt stream to connect")
        rollout = _start_rollout(ct_server, unique_task, share=0.2)
        candidate_number = rollout["candidate"]["version_number"]

        def rollout_seen(http: TestClient) -> bool:
            cached = runtime_of(http.app_state).client.cached_prompt(unique_task)
            return cached is not None and cached.rollout is not None

        for http in replicas:  # the rollout event reaches both without waiting for the TTL
            wait_for(lambda http=http: rollout_seen(http), 5, "the rollout to reach a replica")

        seen: dict[str, set[int]] = {}
        ratings = Counter[str]()
        for request_number in range(USERS * REQUESTS_PER_USER):
            user = f"user-{request_number % USERS}"
            http = replicas[rng.randrange(2)]
            answer = http.post(
                "/summarize", json={"ticket": "printer on fire"}, headers={"X-User-Id": user}
            )
            assert answer.status_code == 200, answer.text
            version = int(answer.headers["X-Kaizen-Prompt-Version"])
            assert version == answer.json()["version"]
            seen.setdefault(user, set()).add(version)
            arm = "candidate" if version == candidate_number else "baseline"
            up = rng.random() < THUMBS_UP[arm]
            rated = http.post(
                "/kaizen/feedback",
                json={"token": answer.json()["feedback_token"], "rating": "up" if up else "down"},
            )
            assert rated.status_code == 202, rated.text
            ratings[arm] += 1
        failures = Counter[str]()
        for user in ("user-1", "user-2", "user-3", "user-4", "user-5"):  # failed LLM calls
            answer = replicas[0].post(
                "/summarize", json={"ticket": "x", "fail": True}, headers={"X-User-Id": user}
            )
            version = int(answer.headers["X-Kaizen-Prompt-Version"])
            failures["candidate" if version == candidate_number else "baseline"] += 1

    assert all(len(versions) == 1 for versions in seen.values()), "a user saw two versions"
    candidate_users = sum(candidate_number in versions for versions in seen.values())
    assert 0.08 < candidate_users / USERS < 0.35, candidate_users  # 20 % of 150, +/- ~3 sd
    # Both apps flushed their queues on shutdown: every rating is stored and counted.
    figures = _rollout(ct_server, unique_task)
    assert figures["baseline"]["ratings"] == ratings["baseline"]
    assert figures["candidate"]["ratings"] == ratings["candidate"]
    assert figures["candidate"]["requests"] == ratings["candidate"] + failures["candidate"]
    assert figures["baseline"]["errors"] == failures["baseline"]
    assert figures["candidate"]["errors"] == failures["candidate"]
    assert (figures["recommendation"], figures["rule"]) == ("promote", "candidate_better")


def test_the_cookie_unit_is_set_once_and_keeps_the_version(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize v1:")
    _start_rollout(ct_server, unique_task, share=0.5)
    settings = kaizen_test_settings(
        ct_server.base_url, ct_server.api_key, prompt_routes={"/summarize*": unique_task}
    )
    with TestClient(build_app(settings)) as http:
        versions = Counter[int]()
        for _ in range(40):
            first = http.post("/summarize", json={"ticket": "x"})
            cookie = first.headers["set-cookie"]
            assert cookie.startswith("kaizen_unit=")
            assert "HttpOnly" in cookie
            assert "SameSite=Lax" in cookie
            unit = first.cookies["kaizen_unit"]
            with_cookie = {"cookie": f"kaizen_unit={unit}"}
            again = [
                http.post("/summarize", json={"ticket": "x"}, headers=with_cookie) for _ in range(3)
            ]
            assert all("set-cookie" not in response.headers for response in again)
            assert {r.json()["version"] for r in again} == {first.json()["version"]}
            versions[first.json()["version"]] += 1
            http.cookies.clear()
    assert set(versions) == {1, 2}, versions  # 40 fresh units at 50 %: both arms served


def test_the_rollout_ending_reaches_the_app_and_everyone_gets_the_active_version(
    ct_server: CTServerProcess, unique_task: str
) -> None:
    create_task_with_prompt(ct_server, unique_task, "Summarize v1:")
    settings = kaizen_test_settings(
        ct_server.base_url,
        ct_server.api_key,
        cache_ttl=300.0,
        prompt_routes={"/summarize*": unique_task},
        rollout_unit="request",
    )
    with TestClient(build_app(settings)) as http:
        assert http.post("/summarize", json={"ticket": "x"}).json()["version"] == 1
        stream = runtime_of(http.app_state).prompt_events
        assert stream is not None
        wait_for(stream.connected.is_set, 10, "the prompt stream to connect")
        _start_rollout(ct_server, unique_task, share=0.5)

        def served() -> set[int]:
            answers = [http.post("/summarize", json={"ticket": "x"}) for _ in range(30)]
            return {answer.json()["version"] for answer in answers}

        wait_for(lambda: served() == {1, 2}, 5, "both versions to be served")
        with ct_server.client() as api:
            assert api.post(f"/api/v1/prompts/{unique_task}/rollout/stop").status_code == 200
        wait_for(lambda: served() == {1}, 5, "the stop to reach the app")
        assert served() == {1}


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5])
def test_the_hash_gives_the_candidate_its_share_of_units(share: float) -> None:
    active = Prompt(
        id="v1",
        task_id="t",
        version_number=1,
        prompt_text="a",
        rollout=PromptRollout(id="r1", share=share, version_id="v2", prompt_text="b"),
    )
    units = [f"user-{n}" for n in range(20_000)]
    served = Counter(served_version(active, unit).id for unit in units)
    assert served["v2"] / len(units) == pytest.approx(share, abs=0.015)
    assert [served_version(active, u).id for u in units[:50]] == [
        served_version(active, u).id for u in units[:50]
    ]
    assert active.rollout is not None
    other = active.model_copy(update={"rollout": active.rollout.model_copy(update={"id": "r2"})})
    moved = sum(served_version(active, u).id != served_version(other, u).id for u in units)
    assert moved > 0  # another rollout salts the hash: not always the same users


def test_the_candidate_is_built_once_per_prompt_and_follows_a_new_rollout() -> None:
    rollout = PromptRollout(id="r1", share=1.0, version_id="v2", version_number=2, prompt_text="b")
    active = Prompt(id="v1", task_id="t", version_number=1, prompt_text="a", rollout=rollout)
    first = served_version(active, "u")
    assert (first.id, first.version_number, first.prompt_text, first.status) == (
        "v2",
        2,
        "b",
        "draft",
    )
    assert served_version(active, "u") is first  # no Prompt built per request
    assert active.model_dump()["rollout"]["id"] == "r1"  # the cache is not a wire field
    replaced = PromptRollout(id="r2", share=1.0, version_id="v3", version_number=3, prompt_text="c")
    moved = active.model_copy(update={"rollout": replaced})
    assert served_version(moved, "u").id == "v3"  # not the candidate cached on the original
    assert served_version(active, "u").id == "v2"


@pytest.mark.parametrize(
    ("cookie", "unit"),
    [
        ("kaizen_unit=u1", "u1"),
        ("a=1; kaizen_unit=u2; b=2", "u2"),
        ("my_kaizen_unit=no; kaizen_unit=u3", "u3"),  # another cookie ending in the name
        ('kaizen_unit="u4"', "u4"),
        ("a=kaizen_unit=x", None),  # inside another cookie's value: not the unit
        ("kaizen_unit=", None),
        ("other=1", None),
    ],
)
def test_the_unit_cookie_is_found_among_others(cookie: str, unit: str | None) -> None:
    units = RolloutUnits(kaizen_test_settings("http://127.0.0.1:9", "k" * 32))
    found, set_cookie = units.unit(HTTPConnection(_scope((b"cookie", cookie.encode()))))
    if unit is None:  # no unit cookie: the plugin makes one and sets it
        assert set_cookie is not None
        assert set_cookie.startswith(f"kaizen_unit={found};".encode())
    else:
        assert (found, set_cookie) == (unit, None)


def test_a_unit_keeps_its_version_when_placed_again() -> None:
    placed = [in_candidate_share("r9", f"u{n}", 0.3) for n in range(2000)]
    assert placed == [in_candidate_share("r9", f"u{n}", 0.3) for n in range(2000)]
    assert 0.25 < sum(placed) / len(placed) < 0.35
    assert all(in_candidate_share("r9", f"u{n}", 1.0) for n in range(50))  # a new share


def test_a_bad_rollout_unit_setting_names_itself() -> None:
    with pytest.raises(ValueError, match="rollout_unit"):
        kaizen_test_settings("http://127.0.0.1:9", "k" * 32, rollout_unit="header:")


def _scope(*headers: tuple[bytes, bytes], scheme: str = "http") -> dict[str, Any]:
    return {"type": "http", "scheme": scheme, "headers": list(headers)}


def test_serve_remembers_a_units_version_per_prompt_object() -> None:
    units = RolloutUnits(kaizen_test_settings("http://127.0.0.1:9", "k" * 32))
    rollout = PromptRollout(id="r1", share=0.5, version_id="v2", version_number=2, prompt_text="b")
    active = Prompt(id="v1", task_id="t", version_number=1, prompt_text="a", rollout=rollout)
    first, set_cookie = units.serve(active, _scope())  # a new unit: the plugin makes its cookie
    assert set_cookie is not None
    cookie = set_cookie.split(b";", 1)[0]
    unit = cookie.split(b"=", 1)[1].decode()
    again = [units.serve(active, _scope((b"cookie", b"a=1; " + cookie)))[0] for _ in range(3)]
    assert (
        [served.id for served in again] == [served_version(active, unit).id] * 3 == [first.id] * 3
    )
    assert all(served is again[0] for served in again)  # no Prompt built per request
    # A prompt fetched again (another rollout of the same version) is placed anew, not
    # served what the old object's rollout gave this unit.
    everyone = PromptRollout(id="r2", share=1.0, version_id="v3", version_number=3, prompt_text="c")
    refetched = active.model_copy(update={"rollout": everyone})
    assert units.serve(refetched, _scope((b"cookie", cookie)))[0].id == "v3"


def test_one_cookie_header_remembers_each_tasks_version_and_only_the_newest_prompt() -> None:
    units = RolloutUnits(kaizen_test_settings("http://127.0.0.1:9", "k" * 32))
    everyone = PromptRollout(id="r1", share=1.0, version_id="v2", version_number=2, prompt_text="b")
    nobody = PromptRollout(id="r2", share=0.0, version_id="w2", version_number=2, prompt_text="y")
    first = Prompt(id="v1", task_id="t", version_number=1, prompt_text="a", rollout=everyone)
    second = Prompt(id="w1", task_id="u", version_number=1, prompt_text="x", rollout=nobody)
    header = _scope((b"cookie", b"kaizen_unit=u1"))
    for _ in range(2):  # placed, then remembered: each task keeps its own answer
        assert units.serve(first, header)[0].id == "v2"
        assert units.serve(second, header)[0] is second
    refetched = first.model_copy(update={"rollout": nobody})
    assert units.serve(refetched, header)[0] is refetched
    remembered = units._placed[b"kaizen_unit=u1"]
    assert [active.id for active, _ in remembered] == ["w1", "v1"]
    assert remembered[1][0] is refetched  # the task's older prompt object is gone


def test_serve_finds_the_unit_in_any_cookie_header_and_in_a_named_header() -> None:
    units = RolloutUnits(kaizen_test_settings("http://127.0.0.1:9", "k" * 32))
    everyone = PromptRollout(id="r1", share=1.0, version_id="v2", version_number=2, prompt_text="b")
    active = Prompt(id="v1", task_id="t", version_number=1, prompt_text="a", rollout=everyone)
    # HTTP/2 servers may split cookies over several headers: the unit is in the first one.
    split = _scope((b"cookie", b"kaizen_unit=u1"), (b"cookie", b"theme=dark"))
    assert units.serve(active, split) == (served_version(active, "u1"), None)
    secure = units.serve(active, _scope(scheme="https"))[1]
    assert secure is not None
    assert secure.endswith(b"; Secure")
    by_header = RolloutUnits(
        kaizen_test_settings("http://127.0.0.1:9", "k" * 32, rollout_unit="header:X-User-Id")
    )
    none = PromptRollout(id="r1", share=0.0, version_id="v2", version_number=2, prompt_text="b")
    held_back = active.model_copy(update={"rollout": none})
    assert by_header.serve(held_back, _scope((b"x-user-id", b"u" * 5000))) == (held_back, None)
    assert by_header.serve(active, _scope())[1] is None  # no header: drawn, no cookie made


def test_a_returning_unit_is_served_what_a_fresh_placement_gives_it() -> None:
    """Remembered placements (under the raw header) agree with placing each request anew,
    also for cookies split over several headers and units sent twice."""
    units = RolloutUnits(kaizen_test_settings("http://127.0.0.1:9", "k" * 32))
    rollout = PromptRollout(id="r1", share=0.5, version_id="v2", version_number=2, prompt_text="b")
    active = Prompt(id="v1", task_id="t", version_number=1, prompt_text="a", rollout=rollout)
    headers = [b"kaizen_unit=u%d" % n for n in range(40)] + [b"theme=dark", b"a=1; kaizen_unit=u7"]
    for value in headers:  # each sent alone first: remembered where it names a unit
        units.serve(active, _scope((b"cookie", value)))
    rng = random.Random(7)
    for _ in range(300):
        sent = [(b"cookie", rng.choice(headers)) for _ in range(rng.randint(1, 3))]
        served, set_cookie = units.serve(active, _scope(*sent))
        unit = HTTPConnection(_scope(*sent)).cookies.get("kaizen_unit")
        if unit is None:
            assert set_cookie is not None
        else:
            assert (served.id, set_cookie) == (served_version(active, unit).id, None), sent


def test_only_headers_that_name_a_unit_and_are_short_are_remembered() -> None:
    units = RolloutUnits(kaizen_test_settings("http://127.0.0.1:9", "k" * 32))
    rollout = PromptRollout(id="r1", share=0.5, version_id="v2", version_number=2, prompt_text="b")
    active = Prompt(id="v1", task_id="t", version_number=1, prompt_text="a", rollout=rollout)
    without_unit = _scope((b"cookie", b"theme=dark"))
    made = [units.serve(active, without_unit)[1] for _ in range(2)]
    assert None not in made  # each request without a unit gets one of its own
    assert made[0] != made[1]
    long_header = b"kaizen_unit=u1; pad=" + b"x" * 2000
    assert units.serve(active, _scope((b"cookie", long_header)))[0] is served_version(active, "u1")
    units.serve(active, _scope((b"cookie", b"kaizen_unit=u2")))
    assert units.serve(active, _scope((b"cookie", long_header)))[0] is served_version(active, "u1")
    assert list(units._placed) == [b"kaizen_unit=u2"]
