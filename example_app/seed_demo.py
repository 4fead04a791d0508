"""Create the demo task and its first prompt version if they are missing (idempotent).

Run by ``scripts/demo.sh`` and by the ``seed`` service of ``docker-compose.yml``; reads the CT
server's address and key from ``KAIZEN_BASE_URL`` / ``KAIZEN_API_KEY`` like any SDK client.

Example:
    >>> from kaizen_sdk import CTClient
    >>> with CTClient() as client:  # doctest: +SKIP
    ...     print(seed_demo_task(client, "summarize_ticket", feedback_threshold=5))
    task summarize_ticket (created), prompt v1 (created)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from example_app.settings import get_settings
from kaizen_sdk import CTClient, CTConflictError, CTError, CTNotFoundError, Prompt, Task

__all__ = ["DEMO_FEEDBACK_THRESHOLD", "FIRST_PROMPT", "SeedResult", "main", "seed_demo_task"]

DEMO_FEEDBACK_THRESHOLD = 8
FIRST_PROMPT = "Summarize the support ticket below for the on-call engineer."
TASK_DESCRIPTION = "Summarize a customer support ticket for the on-call engineer."


@dataclass(frozen=True)
class SeedResult:
    """The demo task and its active prompt, and whether this run created them."""

    task: Task
    prompt: Prompt
    created_task: bool
    created_prompt: bool

    def __str__(self) -> str:
        task_state = "created" if self.created_task else "exists"
        prompt_state = "created" if self.created_prompt else "exists"
        return (
            f"task {self.task.name} ({task_state}), "
            f"prompt v{self.prompt.version_number} ({prompt_state})"
        )


def _ensure_task(client: CTClient, name: str, feedback_threshold: int) -> tuple[Task, bool]:
    try:
        return client.get_task(name), False
    except CTNotFoundError:
        pass
    try:
        task = client.create_task(
            name,
            description=TASK_DESCRIPTION,
            schema_json={"ticket": "string"},
            feedback_threshold=feedback_threshold,
        )
        return task, True
    except CTConflictError:  # created concurrently by another seeder
        return client.get_task(name), False


def seed_demo_task(
    client: CTClient, task_name: str, feedback_threshold: int = DEMO_FEEDBACK_THRESHOLD
) -> SeedResult:
    """Make sure ``task_name`` exists and has a prompt version; create what is missing."""
    task, created_task = _ensure_task(client, task_name, feedback_threshold)
    versions = client.list_prompt_versions(task.id)
    active = next((v for v in versions if v.status == "active"), None)
    if active is not None:
        return SeedResult(task, active, created_task, created_prompt=False)
    if versions:  # versions exist but none is active: activate the newest
        return SeedResult(
            task,
            client.activate_prompt(task.id, versions[0].id),
            created_task,
            created_prompt=False,
        )
    prompt = client.create_prompt_version(task.id, FIRST_PROMPT, activate=True)
    return SeedResult(task, prompt, created_task, created_prompt=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m example_app.seed_demo [--task NAME] [--threshold N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--task",
        default=get_settings().task_name,
        help="task name (default: EXAMPLE_TASK_NAME or summarize_ticket)",
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=DEMO_FEEDBACK_THRESHOLD,
        help="feedback count that starts an optimization job (new task only)",
    )
    args = parser.parse_args(argv)
    if args.threshold < 1:
        parser.error("--threshold must be at least 1")
    try:
        with CTClient() as client:
            print(seed_demo_task(client, args.task, args.threshold))
    except CTError as exc:
        print(f"seeding the demo task failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
