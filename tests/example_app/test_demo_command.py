"""README's first command from a fresh clone: both servers answer, Ctrl-C stops them.

The clone reuses this checkout's virtualenv (``KAIZEN_DEMO_VENV``) to stay fast; the demo
puts the clone's own code first on ``PYTHONPATH``, so it is the clone that runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.loopback_http import loopback_get
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0


def answers(url: str) -> bool:
    try:
        return loopback_get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    target = tmp_path / "kaizen"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=60)
    return target


def test_demo_command_from_a_fresh_clone_answers_and_stops_on_ctrl_c(clone: Path) -> None:
    ct_port, app_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KAIZEN_", "EXAMPLE_")) and k != "PYTHONPATH"
    }
    env.update(
        {
            "KAIZEN_DEMO_VENV": sys.prefix,
            "KAIZEN_DEMO_CT_PORT": str(ct_port),
            "KAIZEN_DEMO_APP_PORT": str(app_port),
        }
    )
    output = clone / "demo-output.txt"
    with output.open("wb") as out:
        demo = subprocess.Popen(
            ["bash", "scripts/demo.sh"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    ct_url, app_url = f"http://127.0.0.1:{ct_port}", f"http://127.0.0.1:{app_port}"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (answers(f"{ct_url}/health") and "Press Ctrl-C" in output.read_text()):
            assert demo.poll() is None, f"demo.sh exited:\n{output.read_text()}"
            assert time.monotonic() < deadline, f"no answer in {DEADLINE_S}s:\n{output.read_text()}"
            time.sleep(0.2)
        assert answers(f"{app_url}/health")
        page = loopback_get(app_url, timeout=5)
        assert "Support ticket summarizer" in page.text
        status = loopback_get(f"{app_url}/api/status", timeout=10).json()
        assert status["task"]["name"] == "summarize_ticket"
        assert status["task"]["feedback_threshold"] == 8
        assert status["active_prompt"]["version_number"] == 1
        printed = output.read_text()
        assert f"http://127.0.0.1:{app_port}/" in printed
        assert (clone / ".demo" / "kaizen.db").exists(), "the demo's SQLite is not in .demo/"
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=30)
    assert code == 130, output.read_text()
    assert not answers(f"{ct_url}/health"), "the CT server still runs after Ctrl-C"
    assert not answers(f"{app_url}/health"), "the example app still runs after Ctrl-C"
    assert "stopping the example app and the CT server" in output.read_text()
