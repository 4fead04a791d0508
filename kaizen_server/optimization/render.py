"""Compiled program -> one ``prompt_text`` (instructions + demos), and its DSPy state JSON.

The rendered text is what apps send to their LLM, so the examples section uses the task's own
input names. :func:`instructions_of` takes a rendered prompt apart again, so the next run can
seed its instructions from the active prompt without duplicating old demos.

Example:
    >>> from kaizen_server.optimization.signature import SignatureSpec
    >>> spec = SignatureSpec.from_schema({"ticket": "string"})
    >>> demo = dspy.Example(ticket="printer down", output="SUMMARY: printer down")
    >>> text = render_prompt("Summarize the ticket.", [demo], spec)
    >>> print(text)
    Summarize the ticket.
    <BLANKLINE>
    ### Examples
    <BLANKLINE>
    ticket: printer down
    output: SUMMARY: printer down
    >>> instructions_of(text)
    'Summarize the ticket.'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dspy

from kaizen_server.optimization.program import only_predictor
from kaizen_server.optimization.signature import SignatureSpec, field_text

__all__ = [
    "EXAMPLES_HEADING",
    "instructions_of",
    "program_state",
    "render_program",
    "render_prompt",
]

EXAMPLES_HEADING = "### Examples"


def render_prompt(instructions: str, demos: Sequence[dspy.Example], spec: SignatureSpec) -> str:
    """Instructions, then (when there are demos) an examples section, one block per demo."""
    parts = [instructions.strip()]
    blocks = []
    for demo in demos:
        lines = spec.input_lines(demo)
        lines.append(f"{spec.output_name}: {field_text(demo.get(spec.output_name, ''))}")
        blocks.append("\n".join(lines))
    if blocks:
        parts.append(EXAMPLES_HEADING)
        parts.extend(blocks)
    return "\n\n".join(parts)


def instructions_of(prompt_text: str) -> str:
    """The instructions part of a prompt (all of it when it has no rendered examples section)."""
    head, _sep, _tail = prompt_text.partition(f"\n\n{EXAMPLES_HEADING}\n")
    return head.strip()


def render_program(program: dspy.Module, spec: SignatureSpec) -> str:
    """The ``prompt_text`` of a compiled program."""
    predictor = only_predictor(program)
    return render_prompt(predictor.signature.instructions, predictor.demos, spec)


def program_state(program: dspy.Module) -> dict[str, Any]:
    """The program's DSPy state (``dump_state``), made JSON-safe."""
    state: dict[str, Any] = json.loads(json.dumps(program.dump_state(), default=str))
    return state
