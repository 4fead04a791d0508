"""``python -m example_app --host 127.0.0.1 --port 8001``: serve the example app with uvicorn.

Forwarded headers are believed only from ``EXAMPLE_TRUSTED_PROXIES`` (uvicorn alone would
trust any process on the same host), so the end-user rate limit keys on the real peer.
"""

from __future__ import annotations

import argparse

import uvicorn

from example_app.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    arguments = parser.parse_args()
    proxies = get_settings().trusted_proxies.strip()
    uvicorn.run(
        "example_app.main:app",
        host=arguments.host,
        port=arguments.port,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


if __name__ == "__main__":
    main()
