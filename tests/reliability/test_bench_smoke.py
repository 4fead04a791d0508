"""The benchmark harness in smoke mode (tiny sizes): it runs to the end and writes the table
with every row (and the chart when matplotlib is installed).

The rows run as a few ``--only`` runs side by side rather than one run after the other: most
of a smoke run is fixed-length load windows and waits (so running them at once takes about
the longest group's time, not the sum), and smoke figures are not meaningful anyway. Each
run writes its own table; together the tables must hold every row that ``bench.run`` has.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import bench.run

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
    "6h",
    "7",
]
ROW_GROUPS = {
    "6": ["6a", "6b", "6c", "6d", "6e", "6f", "6g", "6h"],
    "2,3": ["2", "3"],
    "5": ["5a", "5b"],
    "7,1,4": ["1a", "1b", "4a", "4b", "7"],
}
"""``--only`` argument -> the rows its table holds; balanced so no group takes much longer
than the longest section (rows 6, about 18 s alone on 2 cores)."""
RUN_LIMIT_S = 240


def _rows_bench_run_has() -> list[str]:
    """The row keys of ``bench.run.main``'s sections (so a new row cannot go unrun here)."""
    return sorted(set(re.findall(r'\(\s*"(\d[a-z]?)",\s*"', inspect.getsource(bench.run.main))))


def _table_keys(table: str) -> list[str]:
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    return [row.split("|")[1].strip() for row in rows[1:]]


def test_smoke_run_writes_every_row(tmp_path: Path) -> None:
    assert _rows_bench_run_has() == sorted(ROW_KEYS)
    assert sorted(key for keys in ROW_GROUPS.values() for key in keys) == sorted(ROW_KEYS)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    runs = {}
    for index, only in enumerate(ROW_GROUPS):
        out = tmp_path / f"group-{index}"
        log = tmp_path / f"group-{index}.log"
        command = [sys.executable, "-m", "bench.run", "--smoke", "--only", only, "--out", str(out)]
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # a run left over is ended with the servers it started
            )
        runs[only] = (process, out, log)
    try:
        for only, (process, out, log) in runs.items():
            code = process.wait(timeout=RUN_LIMIT_S)
            assert code == 0, (only, log.read_text(errors="replace")[-5000:])
            table = (out / "RESULTS.md").read_text()
            assert _table_keys(table) == ROW_GROUPS[only], table
            assert "failed" not in table
            for line in ("- nproc:", "- CPU:", "- Python:", "- date (UTC):", "python -m bench.run"):
                assert line in table
            if importlib.util.find_spec("matplotlib") is not None:
                assert (out / "chart.png").stat().st_size > 1000
    finally:
        for process, _out, _log in runs.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
