"""Wait until a server started in the background answers: the scripts' start-up check.

Usage: ``python scripts/wait_for_url.py NAME URL LOG PID [DEADLINE_S]``. Polls ``URL`` until it
answers 200; exits non-zero, naming ``LOG``, when process ``PID`` exits first or the deadline
(default 60 s) passes.
"""

import os
import sys
import time

import httpx

name, url, log, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline_s = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
deadline = time.monotonic() + deadline_s
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"{name} exited during start-up; see {log}")
    try:
        if httpx.get(url, timeout=1.0).status_code == 200:
            sys.exit(0)
    except httpx.TransportError:
        pass
    time.sleep(0.2)
sys.exit(f"{name} did not answer {url} within {deadline_s:g} s; see {log}")
