"""The stand-in LLM follows the prompt: instructions and worked examples change its output."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from example_app.samples import SAMPLE_TICKETS
from example_app.seed_demo import FIRST_PROMPT
from example_app.stand_in import DEFAULT_WORD_LIMIT, PromptGuide, Style, stand_in_summary

TICKET = SAMPLE_TICKETS[0].ticket


def optimized(prompt: str, examples: list[tuple[str, str]]) -> str:
    """A prompt as the optimizer renders it: instructions, then an examples section."""
    blocks = [f"ticket: {ticket}\noutput: {output}" for ticket, output in examples]
    return "\n\n".join([prompt, "### Examples", *blocks])


def test_same_prompt_same_output() -> None:
    assert stand_in_summary(FIRST_PROMPT, TICKET) == stand_in_summary(FIRST_PROMPT, TICKET)


@pytest.mark.parametrize(
    ("instruction", "check"),
    [
        ("Summarize in at most 8 words.", lambda out: len(out.split()) == 8 and out.endswith("…")),
        ("Use bullet points.", lambda out: out.startswith("- ") and "\n- " in out),
        ("Summarize in one sentence.", lambda out: out.count(".") <= 1),
        ("Be concise.", lambda out: not out.lower().startswith("hi")),
        ("Start with the priority.", lambda out: out.startswith("[urgent] ")),
    ],
)
def test_instructions_are_followed(instruction: str, check: Callable[[str], bool]) -> None:
    output = stand_in_summary(instruction, TICKET)
    assert check(output), output


def test_examples_set_label_length_and_style() -> None:
    examples = [
        ("a b c", "Issue: login fails after password reset"),
        ("d e f", "Issue: refund the duplicate charge please"),
    ]
    guide = PromptGuide.read(optimized(FIRST_PROMPT.replace(" in at most 30 words", ""), examples))
    assert guide.examples == tuple(output for _, output in examples)
    style = Style.of(guide)
    assert style.label == "Issue"
    assert style.word_limit == 6
    assert style.skip_greetings


def test_an_optimized_prompt_visibly_changes_the_output() -> None:
    before = stand_in_summary(FIRST_PROMPT, TICKET)
    assert not before.startswith("- ")
    answers = [(t.ticket, stand_in_summary(FIRST_PROMPT, t.ticket)) for t in SAMPLE_TICKETS]
    liked = [(ticket, answer) for ticket, answer in answers if answer.startswith("- ")]
    assert liked
    after = stand_in_summary(optimized(FIRST_PROMPT, liked), TICKET)
    assert after != before
    assert all(line.startswith("- ") for line in after.splitlines()), after  # the summary alone


def test_an_earlier_stand_ins_note_is_not_taken_for_part_of_an_example() -> None:
    prompt = optimized("Summarize.", [("x", "Short summary.\n(following 2 rated examples)")])
    assert PromptGuide.read(prompt).examples == ("Short summary.",)


def test_without_a_word_limit_it_uses_the_default_budget() -> None:
    long_ticket = " ".join(["word"] * 200) + "."
    assert len(stand_in_summary("Be concise.", long_ticket).split()) == DEFAULT_WORD_LIMIT


def test_an_untuned_prompt_gets_a_style_that_varies_by_ticket() -> None:
    outputs = [stand_in_summary(FIRST_PROMPT, sample.ticket) for sample in SAMPLE_TICKETS]
    kinds = {
        "bullets" if o.startswith("- ") else "label" if o.startswith("Issue:") else "plain"
        for o in outputs
    }
    assert kinds == {"bullets", "label", "plain"}


def test_the_liked_examples_make_the_style_consistent() -> None:
    liked = [
        (t.ticket, stand_in_summary(FIRST_PROMPT, t.ticket))
        for t in SAMPLE_TICKETS
        if stand_in_summary(FIRST_PROMPT, t.ticket).startswith("Issue:")
    ]
    prompt = optimized(FIRST_PROMPT, liked)
    for sample in SAMPLE_TICKETS:
        output = stand_in_summary(prompt, sample.ticket)
        assert output.startswith("Issue: "), output
        assert "\n" not in output  # one sentence, nothing after it


def test_a_tie_between_kinds_goes_to_the_first_listed_example() -> None:
    prompt = optimized(
        "Summarize.", [("a", "- first point\n- second point"), ("b", "Issue: something broke")]
    )
    assert stand_in_summary(prompt, "One thing. Another thing.").startswith("- One thing.")
