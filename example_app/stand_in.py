"""The local stand-in LLM's behaviour: read a prompt, write a ticket summary, deterministically.

No model runs here. The stand-in exists so the whole Kaizen loop runs offline and so that a
new prompt version *visibly* changes the output. It follows what it finds in the prompt:

Instructions (anywhere before the examples, case-insensitive):
    - ``at most N words`` / ``in N words`` / ``under N words``: a word budget (default 60).
    - ``bullet``: one bullet point per sentence.
    - ``one sentence`` / ``single sentence``: only the first relevant sentence.
    - ``concise`` / ``skip greetings`` / ``focus on the problem``: drop greetings and sign-offs.
    - ``priority`` / ``urgency``: start with ``[urgent]`` or ``[routine]``.

Worked examples (``Ticket: ...`` / ``Summary: ...`` pairs, ``Input:``/``Output:``, or DSPy's
``[[ ## summary ## ]]`` fields): the answer copies the kind most examples share (bullet points,
a leading label, or plain text; a tie goes to the first, best-rated, example), takes their
median length as its word budget, and drops greetings when they have none. The answer is the
summary alone, as a real model's would be.

A prompt that says nothing about the style gets what an untuned model gives: a style that
varies from ticket to ticket (:meth:`Style.improvised`). Rating those results up or down and
optimizing then yields a prompt whose examples make the style consistent.

Example:
    >>> stand_in_summary("Summarize in at most 5 words.", "Hi team, my invoice is wrong again.")
    'Hi team, my invoice is…'
    >>> stand_in_summary("Be concise.", "Hi team, my invoice is wrong. Thanks, Ana")
    'My invoice is wrong.'
"""

from __future__ import annotations

import re
import statistics
import zlib
from collections import Counter
from dataclasses import dataclass, replace

__all__ = [
    "DEFAULT_WORD_LIMIT",
    "IMPROVISED_STYLES",
    "STAND_IN_MODEL",
    "PromptGuide",
    "Style",
    "stand_in_summary",
]

STAND_IN_MODEL = "stand-in"
DEFAULT_WORD_LIMIT = 60
LEGACY_NOTE_PREFIX = "(following "
"""Earlier stand-ins ended each answer with "(following N rated examples)"; examples stored
with that note (in prompts optimized then) are read without it."""

_WORD_LIMIT = re.compile(
    r"\b(?:at most|no more than|up to|under|fewer than|within|in)\s+(\d{1,3})\s+words\b", re.I
)
_OUTPUT_LABEL = re.compile(r"^\s*(?:summary|output|answer|response)\s*:\s*(.*)$", re.I)
_INPUT_LABEL = re.compile(r"^\s*(?:ticket|input|text|question|example\s*\d*)\s*:\s*(.*)$", re.I)
_DSPY_FIELD = re.compile(r"^\s*\[\[\s*##\s*(\w+)\s*##\s*\]\]\s*$")
_DSPY_OUTPUTS = {"summary", "output", "answer", "response"}
_LEADING_LABEL = re.compile(r"^([A-Z][\w ]{0,20}):\s")
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^,.!]*[,.!]\s*", re.I
)
_SIGN_OFF = re.compile(r"^(?:thanks|thank you|regards|best|cheers|kind regards|sincerely)\b", re.I)
_URGENT = re.compile(
    r"\b(?:urgent|asap|immediately|outage|down|blocked|cannot|can't|critical)\b", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class PromptGuide:
    """What a prompt tells the stand-in: its instruction text and its examples' outputs."""

    instructions: str
    examples: tuple[str, ...]

    @classmethod
    def read(cls, prompt: str) -> PromptGuide:
        """Split a prompt into instructions and worked-example outputs.

        Example:
            >>> PromptGuide.read("Be brief.\\n\\nTicket: a\\nSummary: b").examples
            ('b',)
        """
        instructions: list[str] = []
        examples: list[str] = []
        current: list[str] | None = None
        in_examples = False
        for line in prompt.splitlines():
            field = _DSPY_FIELD.match(line)
            output = _OUTPUT_LABEL.match(line)
            if field or output or _INPUT_LABEL.match(line):
                in_examples = True
                _flush(current, examples)
                current = None
                if output:
                    current = [output.group(1)]
                elif field and field.group(1).lower() in _DSPY_OUTPUTS:
                    current = []
                continue
            if current is not None:
                if line.strip():
                    current.append(line)
                    continue
                _flush(current, examples)
                current = None
            if not in_examples:
                instructions.append(line)
        _flush(current, examples)
        return cls("\n".join(instructions).strip(), tuple(examples))


def _flush(lines: list[str] | None, into: list[str]) -> None:
    if lines is None:
        return
    kept = [line for line in lines if not line.strip().startswith(LEGACY_NOTE_PREFIX)]
    text = "\n".join(kept).strip()
    if text:
        into.append(text)


@dataclass(frozen=True)
class Style:
    """How the stand-in writes its summary, derived from a :class:`PromptGuide`."""

    word_limit: int = DEFAULT_WORD_LIMIT
    bullets: bool = False
    one_sentence: bool = False
    skip_greetings: bool = False
    priority: bool = False
    label: str | None = None
    example_count: int = 0
    decided: bool = True
    """False when the prompt says nothing about the style: the stand-in then improvises."""

    @classmethod
    def of(cls, guide: PromptGuide) -> Style:
        """Read the instructions first, then let the examples fill in what they leave open.

        Example:
            >>> Style.of(PromptGuide.read("Use bullet points, at most 12 words.")).word_limit
            12
            >>> Style.of(PromptGuide.read("Summarize the ticket.")).decided
            False
        """
        text = guide.instructions.lower()
        limit_match = _WORD_LIMIT.search(guide.instructions)
        model = _prevailing_kind(guide.examples)
        if limit_match:
            word_limit = max(1, int(limit_match.group(1)))
        elif model:
            word_limit = max(5, int(statistics.median(len(e.split()) for e in model)))
        else:
            word_limit = DEFAULT_WORD_LIMIT
        labels = {_label_of(e) for e in model}
        style = cls(
            word_limit=word_limit,
            bullets="bullet" in text or (bool(model) and all(map(_is_bulleted, model))),
            one_sentence="one sentence" in text
            or "single sentence" in text
            or (bool(model) and all(map(_is_one_sentence, model))),
            skip_greetings=any(k in text for k in ("concise", "greeting", "focus on the problem"))
            or (bool(model) and not any(_GREETING.match(e) for e in model)),
            priority="priority" in text or "urgency" in text,
            label=labels.pop() if len(labels) == 1 else None,
            example_count=len(guide.examples),
        )
        instructed = (
            limit_match is not None
            or style.bullets
            or style.one_sentence
            or (style.skip_greetings or style.priority)
        )
        return replace(style, decided=instructed or bool(model))

    @classmethod
    def improvised(cls, ticket: str) -> Style:
        """The style of an untuned model given no style guidance: it varies with the ticket.

        One of three styles, chosen by a checksum of the ticket (so always the same one for
        the same ticket): the first 30 words verbatim, bullet points, or a one-line ``Issue:``.
        Users' ratings then tell which style they want, and the examples of an optimized
        prompt make it consistent.

        Example:
            >>> Style.improvised("Printer down.") in IMPROVISED_STYLES
            True
        """
        return IMPROVISED_STYLES[zlib.crc32(ticket.encode()) % len(IMPROVISED_STYLES)]


IMPROVISED_STYLES: tuple[Style, ...] = (
    Style(word_limit=30),
    Style(word_limit=40, bullets=True, skip_greetings=True),
    Style(label="Issue", one_sentence=True, skip_greetings=True),
)


def _is_bulleted(example: str) -> bool:
    return example.lstrip().startswith("- ")


def _is_one_sentence(example: str) -> bool:
    return not _is_bulleted(example) and len(_SENTENCE_END.split(example.strip())) == 1


def _label_of(example: str) -> str | None:
    match = _LEADING_LABEL.match(example)
    return match.group(1) if match else None


def _kind(example: str) -> str:
    if _is_bulleted(example):
        return "bullets"
    label = _label_of(example)
    return f"label:{label}" if label else "plain"


def _prevailing_kind(examples: tuple[str, ...]) -> list[str]:
    """The examples of the most common kind (bullets, a label, plain); ties: the first listed.

    The optimizer lists the best-rated examples first, so a tie goes to the better-rated kind.
    """
    if not examples:
        return []
    counts = Counter(_kind(e) for e in examples)
    best = max(counts.values())
    winner = next(_kind(e) for e in examples if counts[_kind(e)] == best)
    return [e for e in examples if _kind(e) == winner]


def _sentences(ticket: str, skip_greetings: bool) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(ticket.strip()) if p.strip()]
    if not skip_greetings:
        return parts
    kept: list[str] = []
    for part in parts:
        if _SIGN_OFF.match(part):
            break
        part = _GREETING.sub("", part).strip()
        if part and len(part.split()) > 1:
            kept.append(part[0].upper() + part[1:])
    return kept or parts


def _clip(words: list[str], limit: int) -> tuple[list[str], bool]:
    return (words[:limit], True) if len(words) > limit else (words, False)


def stand_in_summary(prompt: str, ticket: str) -> str:
    """Summarize ``ticket`` the way ``prompt`` asks (see the module docstring for the rules).

    Example:
        >>> stand_in_summary("Ticket: x\\nSummary: Issue: x", "Hello, the app is down.")
        'Issue: The app is down.'
    """
    style = Style.of(PromptGuide.read(prompt))
    if not style.decided:
        style = Style.improvised(ticket)
    sentences = _sentences(ticket, style.skip_greetings)
    if style.one_sentence:
        sentences = sentences[:1]
    budget = style.word_limit
    chosen: list[str] = []
    for sentence in sentences:
        words, clipped = _clip(sentence.split(), budget)
        if not words:
            break
        chosen.append(" ".join(words) + ("…" if clipped else ""))
        budget -= len(words)
        if clipped or budget <= 0:
            break
    body = "\n".join(f"- {s}" for s in chosen) if style.bullets else " ".join(chosen)
    if style.label and not body.startswith(f"{style.label}:"):
        body = f"{style.label}: {body}"
    if style.priority:
        body = ("[urgent] " if _URGENT.search(ticket) else "[routine] ") + body
    return body
