"""Stopping child processes started by tests.

Example:
    >>> import subprocess, sys
    >>> stop_process(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
"""

from __future__ import annotations

import subprocess

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
