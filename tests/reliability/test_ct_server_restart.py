"""The CT server is killed (SIGKILL) and restarted while the app serves requests under load:
the app answers every request (zero 5xx), and the feedback given during the outage is on
the server afterwards, exactly once."""

from __future__ import annotations

import time

from bench.plugin_http import feedback_count, issue_tokens
from bench.processes import wait_until
from tests.reliability.conftest import Hammer, plugin_app, plugin_settings, post_feedback
from tests.support.ct_server import CTServerProcess


def test_app_answers_everything_and_delivers_feedback_across_a_crash(
    seeded_ct: CTServerProcess,
) -> None:
    settings = plugin_settings(seeded_ct.base_url, seeded_ct.api_key, cache_ttl=0.2)
    with plugin_app(settings) as app_url, Hammer(f"{app_url}/summarize") as load:
        before = issue_tokens(app_url, 20)
        assert post_feedback(app_url, before) == {202: 20}
        wait_until(lambda: load.total >= 50, 30, "load before the crash")

        seeded_ct.kill()
        served_before_outage = load.total
        during = issue_tokens(app_url, 30)  # traces queued while the server is down
        assert post_feedback(app_url, during) == {202: 30}
        outage_ends = time.monotonic() + 1.5  # several cache expiries with the server down
        wait_until(
            lambda: time.monotonic() > outage_ends and load.total > served_before_outage + 50,
            30,
            "load during the outage",
        )
        seeded_ct.start()

        wait_until(lambda: feedback_count(seeded_ct) >= 50, 60, "feedback of the outage delivered")
        served = load.total
        wait_until(lambda: load.total > served + 50, 30, "load after the restart")

    assert not load.errors, load.errors[:5]
    assert set(load.statuses) == {200}, load.statuses
    assert feedback_count(seeded_ct) == 50  # exactly once: no duplicate after retries
