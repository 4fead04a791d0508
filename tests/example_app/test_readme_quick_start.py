"""README's "Quick start: Kaizen in your own app", run as written (but the install step).

Its shell blocks run in one bash, in a fresh folder, with this test environment's virtualenv on
the PATH and the ports 8000/8001 replaced by free ones; its ``main.py`` block is the app. The
task must end with the two ratings the quick start sends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Quick start: Kaizen in your own app"
DEADLINE_S = 180

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def _blocks() -> tuple[list[str], str]:
    text = README.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)
    shell = [body for language, body in blocks if language == "bash"]
    (app,) = [body for language, body in blocks if language == "python"]
    return shell, app


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    shell, app = _blocks()
    install, *steps = shell
    assert 'pip install ".[server]"' in install
    ct_port, app_port = free_port(), free_port()
    script = "\n".join(steps)
    for old, new in (("8000", str(ct_port)), ("8001", str(app_port))):
        script = script.replace(f"localhost:{old}", f"localhost:{new}")
        script = script.replace(f"--port {old}", f"--port {new}")
    script = script.replace(
        "uvicorn main:app", f"KAIZEN_BASE_URL=http://localhost:{ct_port} uvicorn main:app"
    )
    check = (
        f'\ncurl -s localhost:{ct_port}/api/v1/tasks/summarize_ticket -H "X-API-Key: '
        '$KAIZEN_API_KEY" > task.json\n'
    )
    (tmp_path / "main.py").write_text(app)
    (tmp_path / "quick_start.sh").write_text(
        # Background jobs (the two servers) end with the script, whatever happens.
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n" + script + check
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KAIZEN_", "EXAMPLE_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    result = subprocess.run(
        ["bash", "quick_start.sh"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"status":"accepted"' in result.stdout
    task = json.loads((tmp_path / "task.json").read_text())
    assert (task["feedback_count"], task["threshold_progress"]) == (2, "2/20")
