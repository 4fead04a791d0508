"""A short soak of the plugin app (a child process under uvicorn): 5,000 requests that each
resolve a prompt, record an LLM call and issue a feedback token leave RSS flat. The
100,000-request version runs in ``python -m bench.run``."""

from __future__ import annotations

from bench.plugin_http import plugin_env, soak
from bench.processes import app_process
from tests.support.ct_server import CTServerProcess

REQUESTS = 5000
MAX_GROWTH_MB = 25.0  # generous: allocator noise and caches reaching their bounds


def test_rss_stays_flat_over_5000_requests(seeded_ct: CTServerProcess) -> None:
    env = plugin_env(seeded_ct.base_url, seeded_ct.api_key, shutdown_flush_timeout=1.0)
    with app_process("plugin", env) as app:
        result = soak(app, REQUESTS)
    assert result.non_2xx == 0
    assert result.growth_mb < MAX_GROWTH_MB, result
