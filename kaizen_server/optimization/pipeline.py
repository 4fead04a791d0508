"""The optimization run: a task, its feedback and active prompt in, a new prompt version out.

Pure with respect to storage: the caller loads inputs and stores the outcome (the job runner
does both). Steps are reported through ``progress`` as they start.

Example:
    >>> from kaizen_sdk.models import Task
    >>> from kaizen_server.optimization.settings import OptimizationSettings
    >>> rows = [FeedbackRow(id=str(i), inputs={"q": f"q{i}"}, output=f"a{i}", score=1.0)
    ...         for i in range(3)]
    >>> outcome = run_optimization(OptimizationInputs(
    ...     task=Task(id="t", name="t", schema_json={"q": "string"}), feedback=rows,
    ...     active_prompt_text="Answer the question.", settings=OptimizationSettings()))
    >>> outcome.optimizer, outcome.eval_score, outcome.prompt_text.count("q: q")
    ('LabeledFewShot', None, 3)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dspy

from kaizen_sdk.models import Task
from kaizen_server.optimization.cost import CallEstimate, estimate_calls, estimate_cost
from kaizen_server.optimization.dataset import (
    FeedbackRow,
    disliked_examples,
    gold_examples,
    split_examples,
)
from kaizen_server.optimization.errors import NotEnoughFeedbackError, OptimizationError
from kaizen_server.optimization.evaluation import HeldOutComparison
from kaizen_server.optimization.lm import build_lm, check_lm, use_job_cache
from kaizen_server.optimization.metric import JudgeMetric, Metric
from kaizen_server.optimization.metric_config import build_metric, raise_metric_failures
from kaizen_server.optimization.optimizers import OPTIMIZER_LABELS, compile_program
from kaizen_server.optimization.plan import (
    MAX_VAL_SIZE,
    OptimizerKind,
    RunPlan,
    evaluator_config_of,
    plan_run,
)
from kaizen_server.optimization.program import (
    ExampleScore,
    build_program,
    evaluate_program,
    mean_score,
    only_predictor,
)
from kaizen_server.optimization.render import instructions_of, program_state, render_program
from kaizen_server.optimization.settings import (
    OptimizationSettings,
    api_base_allowed,
    get_optimization_settings,
)
from kaizen_server.optimization.signature import SignatureSpec
from kaizen_server.optimization.trace_scoring import judge_traces, judgeable
from kaizen_server.optimization.usage import UsageSummary, UsageTracker

__all__ = [
    "FeedbackRow",
    "OptimizationInputs",
    "OptimizationOutcome",
    "Progress",
    "default_instructions",
    "run_optimization",
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class OptimizationInputs:
    """Everything a run needs, already loaded from storage."""

    task: Task
    feedback: Sequence[FeedbackRow]
    active_prompt_text: str | None = None
    settings: OptimizationSettings | None = None
    work_dir: Path | None = None
    """Where the job-local DSPy cache goes; None -> a temporary folder removed afterwards."""
    traces: Sequence[FeedbackRow] = ()
    """Traces nobody scored (newest first): the judge scores up to ``trace_judge_limit`` of
    them when a judge model is configured; otherwise they are left out."""


@dataclass(frozen=True)
class OptimizationOutcome:
    """The new prompt version and how the run went."""

    prompt_text: str
    dspy_state: dict[str, Any]
    optimizer: str
    dspy_version: str
    comparison: HeldOutComparison | None
    """Active prompt and candidate on the held-out split; None when not evaluated."""
    baseline_text: str
    """The prompt the candidate was compared with (the active one, or the seed instructions)."""
    plan: RunPlan
    estimated: CallEstimate
    estimated_cost_usd: float
    usage: UsageSummary
    duration_s: float
    warnings: list[str] = field(default_factory=list)
    judge_score: float | None = None
    """The judge's score of the candidate on the held-out split (a judge model configured);
    equals ``eval_score`` when the judge is the metric."""
    trace_counts: dict[str, int] = field(default_factory=dict)
    """``examples_from_traces``, ``traces_judged``, ``traces_left_out`` (unscored traces not
    used: no judge model, over the limit, or a failed verdict)."""

    @property
    def eval_score(self) -> float | None:
        """Candidate's score on the held-out split; None when not evaluated (no LM / no split)."""
        return self.comparison.candidate_score if self.comparison else None

    @property
    def baseline_score(self) -> float | None:
        """Active prompt's score on the same split; None when not evaluated."""
        return self.comparison.baseline_score if self.comparison else None

    @property
    def evaluated(self) -> bool:
        """True when both the baseline and the candidate were scored."""
        return self.comparison is not None

    def beats_baseline(self, margin: float = 0.0) -> bool:
        """True when evaluated and the candidate's score exceeds the baseline's by ``margin``."""
        if self.eval_score is None or self.baseline_score is None:
            return False
        return self.eval_score > self.baseline_score + margin

    def job_metadata(self) -> dict[str, Any]:
        """JSON-ready summary for the job's ``job_metadata``."""
        return {
            "optimizer": self.optimizer,
            "dspy_version": self.dspy_version,
            "train_size": self.plan.train_size,
            "val_size": self.plan.val_size,
            "max_trials": self.plan.max_trials,
            "teacher_model": self.plan.teacher_model,
            "judge_model": self.plan.judge_model,
            "baseline_score": self.baseline_score,
            "eval_score": self.eval_score,
            "judge_score": self.judge_score,
            "evaluated": self.evaluated,
            "evaluation": self.comparison.as_metadata() if self.comparison else None,
            "estimated_llm_calls": self.estimated.total,
            "estimated_cost_usd": self.estimated_cost_usd,
            **self.usage.as_metadata(),
            "duration_s": round(self.duration_s, 3),
            "warnings": list(self.warnings),
            "examples_from_traces": self.trace_counts.get("examples_from_traces", 0),
            "traces_judged": self.trace_counts.get("traces_judged", 0),
            "traces_left_out": self.trace_counts.get("traces_left_out", 0),
        }


def default_instructions(task: Task, spec: SignatureSpec) -> str:
    """Seed instructions for a task that has no active prompt yet."""
    if task.description and task.description.strip():
        return task.description.strip()
    names = ", ".join(f"`{item.key}`" for item in spec.inputs)
    return f"Given {names}, produce the `{spec.output_name}` for the task '{task.name}'."


def _selection_split(
    plan: RunPlan, train: list[dspy.Example], size: int
) -> tuple[list[dspy.Example], list[dspy.Example]]:
    """``(fit, selection)``: what the optimizer learns from and what it picks candidates on.

    MIPROv2 and GEPA choose among candidates by their score on a selection set; were that the
    held-out split, the gate would measure the winner on the examples it was picked for. So they
    select on the lowest-rated part of the training set, and the held-out split stays unseen.
    """
    if plan.optimizer not in (OptimizerKind.MIPRO_V2, OptimizerKind.GEPA):
        return train, []
    size = max(1, min(size, len(train) // 2))
    return train[:-size], train[-size:]


def _held_out_label(val: Sequence[dspy.Example], held_out: Sequence[dspy.Example]) -> str:
    """``"4 validation examples"``, or ``"6 held-out examples (4 validation, 2 rated down)"``."""
    disliked = len(held_out) - len(val)
    if not disliked:
        return f"{len(val)} validation examples"
    return f"{len(held_out)} held-out examples ({len(val)} validation, {disliked} rated down)"


def _feedback_keys(rows: Sequence[FeedbackRow]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row.inputs or {}))
    return list(keys)


def _judge_score(
    metric: Metric, judge: dspy.LM | None, after: Sequence[ExampleScore], output_name: str
) -> float | None:
    """The judge's mean score of the candidate's held-out outputs (None without a judge)."""
    if judge is None:
        return None
    if isinstance(metric, JudgeMetric):
        return mean_score(after)
    judge_metric = JudgeMetric(output_name, judge)
    scores = [
        ExampleScore(
            item.example,
            item.output,
            judge_metric(item.example, dspy.Prediction(**{output_name: item.output})),
        )
        for item in after
    ]
    return mean_score(scores)


def _trace_standard(task: Task, spec: SignatureSpec, active_prompt_text: str | None) -> str:
    """What the trace judge compares outputs with: the task's description, else its prompt."""
    if task.description and task.description.strip():
        return task.description.strip()
    if active_prompt_text and active_prompt_text.strip():
        return instructions_of(active_prompt_text)
    return default_instructions(task, spec)


def run_optimization(
    inputs: OptimizationInputs, progress: Progress | None = None
) -> OptimizationOutcome:
    """Optimize the task's prompt from its feedback; see the module docstring.

    Raises :class:`~kaizen_server.optimization.errors.OptimizationError` subclasses with
    user-readable messages (no usable feedback, LM unreachable).
    """
    started = time.monotonic()
    report: Progress = progress or (lambda _step: None)
    settings = inputs.settings or get_optimization_settings()
    task = inputs.task
    config = evaluator_config_of(task)

    tracker = UsageTracker()
    warnings: list[str] = []
    trace_keys = _feedback_keys(inputs.traces)
    spec = SignatureSpec.from_schema(
        task.schema_json, _feedback_keys(inputs.feedback) or trace_keys
    )

    with ExitStack() as stack:
        work_dir = inputs.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        use_job_cache(work_dir / "dspy-cache")
        stack.enter_context(dspy.context(usage_tracker=tracker))
        if config.api_base is not None and not api_base_allowed(config.api_base, settings):
            raise OptimizationError(  # a row stored before the rule, or settings changed since
                f"evaluator_config.api_base {config.api_base!r} is not an endpoint this server "
                "allows (KAIZEN_LLM_API_BASE or KAIZEN_LLM_ALLOWED_API_BASES)"
            )
        models = plan_run(task, 0, settings)  # which teacher and judge, whatever the split
        judge = None
        if models.judge_model is not None:
            judge = build_lm(models.judge_model, settings, config.api_base)
        rows = list(inputs.feedback)
        to_judge = judgeable(inputs.traces, settings.trace_judge_limit) if judge else []
        judged: list[FeedbackRow] = []
        if judge is not None and to_judge:
            report(f"judging {len(to_judge)} unscored trace(s)")
            check_lm(judge, "judge")
            judged = judge_traces(
                to_judge, judge, _trace_standard(task, spec, inputs.active_prompt_text)
            )
            rows.extend(judged)
        trace_ids = {row.id for row in rows if row.from_trace}

        report("preparing the dataset")
        examples = gold_examples(rows, spec, config.gold_min_score)
        if not examples:
            raise NotEnoughFeedbackError(
                f"No usable feedback: {len(inputs.feedback)} row(s), none with an output and a "
                f"score of at least {config.gold_min_score}."
            )
        disliked = disliked_examples(rows, spec, MAX_VAL_SIZE)
        plan = plan_run(task, len(examples), settings, disliked_count=len(disliked))
        estimated = estimate_calls(plan)
        train, val = split_examples(examples, plan.train_size, plan.val_size, config.seed)
        held_out = [*val, *disliked[: plan.disliked_size]]
        baseline_text = inputs.active_prompt_text or default_instructions(task, spec)
        student = build_program(spec, instructions_of(baseline_text), task.module_type)
        trace_counts = {
            "examples_from_traces": sum(
                str(example.kaizen_id) in trace_ids for example in [*train, *held_out]
            ),
            "traces_judged": len(judged),
            "traces_left_out": len(inputs.traces) - len(judged),
        }

        teacher = None
        if plan.teacher_model is not None:
            teacher = build_lm(plan.teacher_model, settings, config.api_base)
        stack.enter_context(dspy.context(lm=teacher))
        if teacher is not None:
            report("checking the LM endpoints")
            check_lm(teacher, "teacher")
            if judge is not None and not to_judge:
                check_lm(judge, "judge")
        metric = build_metric(config, spec.output_name, judge, settings)
        label = OPTIMIZER_LABELS[plan.optimizer]
        report(f"compiling with {label} ({len(train)} train / {len(val)} validation examples)")
        fit, selection = _selection_split(plan, train, len(val))
        compiled = compile_program(
            plan,
            student,
            fit,
            selection,
            metric,
            teacher,
            num_threads=settings.job_num_threads,
            seed=config.seed,
        )
        raise_metric_failures(metric)
        prompt_text = render_program(compiled, spec)
        comparison = None
        judge_score = None
        if plan.evaluated and teacher is not None:
            threads = settings.job_num_threads
            report(f"evaluating the active prompt on {_held_out_label(val, held_out)}")
            baseline = build_program(spec, baseline_text, task.module_type)
            before = evaluate_program(baseline, held_out, metric, threads, spec.output_name)
            report(f"evaluating the candidate on {_held_out_label(val, held_out)}")
            candidate = build_program(spec, prompt_text, task.module_type)
            after = evaluate_program(candidate, held_out, metric, threads, spec.output_name)
            raise_metric_failures(metric)
            comparison = HeldOutComparison.of(
                before, after, output_name=spec.output_name, metric=metric.name
            )
            if judge is not None and not isinstance(metric, JudgeMetric):
                report(f"judging the candidate on {_held_out_label(val, held_out)}")
            judge_score = _judge_score(metric, judge, after, spec.output_name)
        elif plan.has_lm:
            warnings.append(
                f"Not evaluated: {len(examples)} well-rated example(s) leave no validation split "
                "and no feedback is rated down."
            )
        else:
            warnings.append("Not evaluated: no LM configured (few-shot from top-rated feedback).")

    state = {
        "program": program_state(compiled),
        "signature": {
            "inputs": [item.key for item in spec.inputs],
            "output": spec.output_name,
            "instructions": str(only_predictor(compiled).signature.instructions),
        },
        "split": {
            "train_ids": [example.kaizen_id for example in train],
            "val_ids": [example.kaizen_id for example in val],
            "disliked_ids": [example.kaizen_id for example in held_out[len(val) :]],
        },
    }
    return OptimizationOutcome(
        prompt_text=prompt_text,
        dspy_state=state,
        optimizer=OPTIMIZER_LABELS[plan.optimizer],
        dspy_version=dspy.__version__,
        comparison=comparison,
        baseline_text=baseline_text,
        plan=plan,
        estimated=estimated,
        estimated_cost_usd=estimate_cost(plan, estimated, settings),
        usage=tracker.summary(settings.model_prices),
        duration_s=time.monotonic() - started,
        warnings=warnings,
        judge_score=judge_score,
        trace_counts=trace_counts,
    )
