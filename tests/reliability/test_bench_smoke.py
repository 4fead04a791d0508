"""The benchmark harness in smoke mode (tiny sizes): it runs to the end and writes the table
with every row (and the chart when matplotlib is installed)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW_KEYS = [
    "1a",
    "1b",
    "2",
    "3",
    "4a",
    "4b",
    "5a",
    "5b",
    "6a",
    "6b",
    "6c",
    "6d",
    "6e",
    "6f",
    "6g",
    "7",
]


def test_smoke_run_writes_every_row(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert done.returncode == 0, done.stderr[-5000:]
    table = (tmp_path / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    keys = [row.split("|")[1].strip() for row in rows[1:]]
    assert keys == ROW_KEYS, table
    assert "failed" not in table
    for line in ("- nproc:", "- CPU:", "- Python:", "- date (UTC):", "python -m bench.run"):
        assert line in table
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "chart.png").stat().st_size > 1000
