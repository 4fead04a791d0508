"""Quality benchmark: does Kaizen's optimization make a real local model better, and does the
gate stop every candidate that is not?

``python -m bench.run --only quality`` (not in the test suite; it needs the local model, see
``scripts/local_llm.sh``). A 3-class support-intent task (``bench/data/support_intents.jsonl``,
180 tickets written for this repository, MIT like the rest of it) is fed through the real CT
server's API exactly as an app would (``POST /api/v1/feedback/batch``: each ticket with its
correct label, rated 1.0), then one job per optimizer runs on the local model. Each job scores
the initial prompt and its candidate on the same held-out tickets (its own validation split,
never trained on) with exact-match accuracy; the table reports both accuracies, the LM calls the
job made, its wall time and what the gate decided.

The model endpoint: ``--llm-base`` / ``KAIZEN_QUALITY_LLM_BASE`` (an OpenAI-compatible ``/v1``),
else this module starts ``scripts/local_llm.sh`` itself on a free port and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.processes import answers, ct_server
from kaizen_server.optimization.settings import OptimizationSettings
from tests.support.ports import free_port

__all__ = ["OPTIMIZERS", "QualityRow", "quality_rows", "write_quality_table"]

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "bench" / "data" / "support_intents.jsonl"
MODEL = "local-model"
MODEL_DESCRIPTION = (
    "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, llama-cpp-python on 2 CPU threads "
    "(scripts/local_llm.sh)"
)
INITIAL_PROMPT = (
    "Classify the support ticket's intent. Answer with exactly one word: billing, technical "
    "or account."
)
OPTIMIZERS = ("labeled_few_shot", "bootstrap_few_shot", "mipro_v2", "gepa")
MAX_TRIALS = 3
JOB_DEADLINE_S = 3 * 3600.0
LLM_START_DEADLINE_S = 600.0


@dataclass(frozen=True)
class QualityRow:
    """One optimizer's job: held-out accuracy before and after, its cost and the verdict."""

    optimizer: str
    status: str
    result: str | None
    held_out: int
    baseline_accuracy: float | None
    candidate_accuracy: float | None
    llm_calls: int | None
    wall_s: float
    version_status: str | None
    error: str | None = None


def _tickets() -> list[dict[str, str]]:
    return [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def local_llm(base: str | None) -> Iterator[str]:
    """The model's ``/v1`` base URL: ``base`` as given, or a ``scripts/local_llm.sh`` server."""
    if base:
        yield base.rstrip("/")
        return
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"kaizen-local-llm-{port}.log"
    env = {**os.environ, "KAIZEN_LOCAL_LLM_PORT": str(port)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "local_llm.sh")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + LLM_START_DEADLINE_S
        while not answers(f"{url}/models", timeout=2.0):
            if process.poll() is not None:
                raise RuntimeError(f"scripts/local_llm.sh exited; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local model did not answer in time; see {log}")
            time.sleep(1.0)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def _accuracy(examples: Sequence[dict[str, Any]], key: str) -> float:
    return round(sum(example[key] >= 1.0 for example in examples) / len(examples), 4)


def _run_job(api: httpx.Client, optimizer: str, tickets: Sequence[dict[str, str]]) -> QualityRow:
    name = f"intent_{optimizer}_{int(time.time())}"
    config = {"optimizer": optimizer, "metric": "exact_match", "max_trials": MAX_TRIALS}
    api.post(
        "/api/v1/tasks",
        json={
            "name": name,
            "schema_json": {"ticket": "string"},
            "feedback_threshold": 100_000,
            "teacher_model": MODEL,
            "evaluator_config": config,
        },
    ).raise_for_status()
    api.post(
        f"/api/v1/prompts/{name}/versions", json={"prompt_text": INITIAL_PROMPT, "activate": True}
    ).raise_for_status()
    items = [
        {"task_id": name, "inputs": {"ticket": t["ticket"]}, "output": t["label"], "score": 1.0}
        for t in tickets
    ]
    for start in range(0, len(items), 100):
        api.post(
            "/api/v1/feedback/batch", json={"items": items[start : start + 100]}
        ).raise_for_status()
    started = time.monotonic()
    job = api.post(f"/api/v1/optimize/{name}").raise_for_status().json()["job"]
    while job["status"] not in ("SUCCESS", "FAILURE", "PR_FAILED"):
        if time.monotonic() - started > JOB_DEADLINE_S:
            raise RuntimeError(f"job {job['id']} did not finish in {JOB_DEADLINE_S:g} s")
        time.sleep(2.0)
        job = api.get(f"/api/v1/jobs/{job['id']}").raise_for_status().json()
    wall = time.monotonic() - started
    metadata = job.get("job_metadata") or {}
    evaluation = metadata.get("evaluation") or {}
    examples = evaluation.get("examples") or []
    version_status = None
    if job.get("prompt_version_id"):
        versions = api.get(f"/api/v1/prompts/{name}/versions").raise_for_status().json()
        version_status = next(
            (v["status"] for v in versions if v["id"] == job["prompt_version_id"]), None
        )
    return QualityRow(
        optimizer=metadata.get("optimizer", optimizer),
        status=job["status"],
        result=job.get("result"),
        held_out=len(examples),
        baseline_accuracy=_accuracy(examples, "baseline_score") if examples else None,
        candidate_accuracy=_accuracy(examples, "candidate_score") if examples else None,
        llm_calls=metadata.get("actual_llm_calls"),
        wall_s=round(wall, 1),
        version_status=version_status,
        error=job.get("error_message"),
    )


def quality_rows(
    workdir: Path,
    llm_base: str | None = None,
    on_row: Callable[[list[QualityRow]], None] = lambda _rows: None,
) -> list[QualityRow]:
    """Run one job per optimizer on the local model through a real CT server (SQLite);
    ``on_row`` gets the rows so far after each job (the table is written as it grows)."""
    tickets = _tickets()
    rows = []
    with local_llm(llm_base) as base:
        env = {
            "KAIZEN_LLM_API_BASE": base,
            "KAIZEN_JOB_TIME_LIMIT_S": str(JOB_DEADLINE_S),
            "KAIZEN_LLM_TIMEOUT_S": "300",
            "KAIZEN_JOB_NUM_THREADS": "1",
        }
        with ct_server("sqlite", workdir, env) as server, server.client() as api:
            api.timeout = httpx.Timeout(60.0)
            for optimizer in OPTIMIZERS:
                rows.append(_run_job(api, optimizer, tickets))
                print(rows[-1], flush=True)
                on_row(rows)
    return rows


def write_quality_table(rows: Sequence[QualityRow], machine: dict[str, str], out: Path) -> Path:
    """``out/quality.md``: the table, the gate's record and how it was run."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.1f} %"

    lines = [
        "# Quality benchmark: held-out accuracy before and after optimization",
        "",
        f"Task: 3-class support intent, {len(_tickets())} labelled tickets "
        f"(`bench/data/support_intents.jsonl`), fed through `POST /api/v1/feedback/batch`; "
        f"metric: exact match; initial prompt: {INITIAL_PROMPT!r}. Model: {MODEL_DESCRIPTION}, "
        f"temperature {OptimizationSettings().llm_temperature:g} (KAIZEN_LLM_TEMPERATURE), "
        f"{MAX_TRIALS} trials for MIPROv2/GEPA. Each prompt runs as an app runs it (the prompt "
        "as the system message, the ticket as the user message; "
        "kaizen_server/optimization/app_chat.py). Command: `python -m bench.run --only quality`.",
        "",
        "| optimizer | held-out | initial prompt | Kaizen's candidate | lift | gate | version "
        "| LM calls | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lift = (
            f"{(row.candidate_accuracy - row.baseline_accuracy) * 100:+.1f} pt"
            if row.candidate_accuracy is not None and row.baseline_accuracy is not None
            else "-"
        )
        gate = row.result or f"{row.status}: {row.error or ''}"[:80]
        lines.append(
            f"| {row.optimizer} | {row.held_out} | {pct(row.baseline_accuracy)} "
            f"| {pct(row.candidate_accuracy)} | {lift} | {gate} | {row.version_status or '-'} "
            f"| {row.llm_calls if row.llm_calls is not None else '-'} | {row.wall_s:.0f} s |"
        )
    leaks = [
        row
        for row in rows
        if row.candidate_accuracy is not None
        and row.baseline_accuracy is not None
        and row.candidate_accuracy <= row.baseline_accuracy
        and row.version_status in ("draft", "active")
    ]
    lines += [
        "",
        f"Versions scoring at or below the active prompt that reached draft/active: {len(leaks)}.",
        "",
        "Machine: " + "; ".join(f"{key}: {value}" for key, value in machine.items()),
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quality.md"
    path.write_text("\n".join(lines) + "\n")
    return path
