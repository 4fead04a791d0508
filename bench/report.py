"""``bench/results/RESULTS.md`` (table + machine + command) and ``chart.png`` from result rows.

Example:
    >>> row = Row("middleware", "Middleware overhead (req/s)", "2,000", "plain app 2,100",
    ...           ratio=0.95, target="≥ 0.95x", met=True)
    >>> row.met_text
    'yes'
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Row", "machine_description", "write_chart", "write_results"]


@dataclass(frozen=True)
class Row:
    """One line of the table: a Kaizen figure next to its baseline from the same run."""

    key: str
    benchmark: str
    kaizen: str
    baseline: str
    ratio: float | None = None
    target: str = "—"
    met: bool | None = None
    note: str = ""
    target_ratio: float | None = None  # where the target sits on the ratio axis (chart)

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "**NO**", None: "—"}[self.met]

    @property
    def ratio_text(self) -> str:
        if self.ratio is None:
            return "—"
        return f"{self.ratio:.3g}x"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _code_version() -> str:
    """``git`` HEAD of the measured tree, and whether it had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in the working tree" if dirty.strip() else "")


def machine_description() -> dict[str, str]:
    """``nproc``, CPU model, Python, OS, date (UTC), code version and the load average now."""
    try:
        nproc = subprocess.run(
            ["nproc"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return {
        "nproc": nproc,
        "CPU": _cpu_model(),
        "Python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "OS": platform.platform(),
        "date (UTC)": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "code": _code_version(),
        "load average at start (1, 5, 15 min)": load,
    }


def write_results(
    rows: Sequence[Row],
    machine: dict[str, str],
    command: Sequence[str],
    out_dir: Path,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``RESULTS.md``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Kaizen benchmark results",
        "",
        "Each Kaizen figure is next to its baseline, measured in the same run on the same "
        "machine; the ratio is Kaizen / baseline.",
        "",
        "| # | benchmark | Kaizen | baseline (same run) | ratio | target | met? | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = [
            row.key,
            row.benchmark,
            row.kaizen,
            row.baseline,
            row.ratio_text,
            row.target,
            row.met_text,
            row.note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "## Machine", ""]
    lines += [f"- {name}: {value}" for name, value in machine.items()]
    lines += ["", "## Command", "", "```bash", shlex.join(command), "```", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    path = out_dir / "RESULTS.md"
    path.write_text("\n".join(lines))
    return path


def write_chart(rows: Sequence[Row], path: Path) -> bool:
    """Bar chart of each ratio with its target marked; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    plotted = [row for row in rows if row.ratio is not None and row.ratio > 0]
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(plotted) + 2))
    names = [f"{row.key} {row.benchmark}" for row in plotted]
    colors = [
        "tab:green" if row.met else "tab:red" if row.met is False else "tab:gray" for row in plotted
    ]
    ax.barh(names, [row.ratio or 0.0 for row in plotted], color=colors)
    for index, row in enumerate(plotted):
        if row.target_ratio is not None:
            ax.plot([row.target_ratio] * 2, [index - 0.4, index + 0.4], color="black", lw=2)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.axvline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_xlabel(
        "Kaizen / baseline, same run (log scale)\n"
        "black tick: target; green: met, red: missed, gray: reported only"
    )
    ax.set_title("Kaizen vs baselines")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
