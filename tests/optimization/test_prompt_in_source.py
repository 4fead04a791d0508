"""Rewriting the prompt where the app keeps it: only the literal changes, byte for byte."""

from __future__ import annotations

import json

import pytest
import yaml

from kaizen_server.optimization.publishing.prompt_in_source import (
    PromptLocationError,
    detect_format,
    extract_prompt,
    replace_prompt,
)

PYTHON_SOURCE = '''"""LLM settings of the app."""

import os

MODEL = os.environ.get("MODEL", "gpt")  # the model
PROMPT = """You summarize tickets.
Be brief."""   # tuned by Kaizen

OTHER: str = 'x'


def build() -> str:
    PROMPT = "not this one"
    return PROMPT
'''


def _only_span_changed(old: str, new: str, old_span: str, new_span: str) -> None:
    """``new`` is ``old`` with exactly one occurrence of ``old_span`` swapped."""
    start = old.index(old_span)
    assert new == old[:start] + new_span + old[start + len(old_span) :]


def test_python_variable_keeps_every_other_byte_and_the_quote_style() -> None:
    new = replace_prompt(PYTHON_SOURCE, "python", "PROMPT", 'Summarize in "two" lines.\nNo fluff.')
    _only_span_changed(
        PYTHON_SOURCE,
        new,
        '"""You summarize tickets.\nBe brief."""',
        '"""Summarize in "two" lines.\nNo fluff."""',
    )
    assert extract_prompt(new, "python", "PROMPT") == 'Summarize in "two" lines.\nNo fluff.'


@pytest.mark.parametrize(
    ("literal", "prompt"),
    [
        ("'single'", "it's \\ tricky\nline"),
        ('r"raw\\d"', "raw \\w+ again"),
        ('r"raw"', 'ends with a quote "'),
        ("'''triple'''", "has ''' inside and ends with '"),
        ('u"uni"', "caf\u00e9 \u2013 \x00 \r done"),
    ],
)
def test_python_literal_round_trips_with_prefix_and_quotes(literal: str, prompt: str) -> None:
    source = f"A = 1\nPROMPT = {literal}  # c\r\nB = 2\n"
    new = replace_prompt(source, "python", "PROMPT", prompt)
    assert extract_prompt(new, "python", "PROMPT") == prompt
    assert new.startswith("A = 1\nPROMPT = ")
    assert new.endswith("  # c\r\nB = 2\n")
    written = new[len("A = 1\nPROMPT = ") :]
    quotes = literal.lstrip("rRuU")
    quotes = quotes[:3] if quotes[:3] in ('"""', "'''") else quotes[0]
    assert written.lstrip("rRuU").startswith(quotes)
    assert written.endswith(quotes + "  # c\r\nB = 2\n")
    raw_possible = not prompt.endswith('"')
    assert written.startswith(literal[0]) == (raw_possible or literal[0] != "r")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('PROMPT = f"hi {name}"\n', "f-string"),
        ('PROMPT = "a" + "b"\n', "not a plain string literal"),
        ('PROMPT = ("a"\n          "b")\n', "concatenation"),
        ("PROMPT = b'x'\n", "not a plain string literal"),
        ("PROMPT = 'a'\nPROMPT = 'b'\n", "assigned 2 times"),
        ("def f():\n    PROMPT = 'a'\n", "no module-level assignment"),
        ("PROMPT = (\n", "does not parse"),
    ],
)
def test_python_refuses_what_is_not_one_literal(source: str, message: str) -> None:
    with pytest.raises(PromptLocationError, match=message):
        replace_prompt(source, "python", "PROMPT", "new")


def test_python_locator_must_be_a_name() -> None:
    with pytest.raises(PromptLocationError, match="not a Python variable name"):
        replace_prompt("A = 'x'\n", "python", "A.b", "new")


YAML_SOURCE = """# prompts of the app
prompts:
  summarize: |
    You summarize tickets.
    Be brief.

  # the classifier
  classify: 'Label it.'   # short
  plain: just text
settings: {temperature: 0.2, note: "keep"}
"""


def test_yaml_block_scalar_keeps_indentation_comments_and_blank_lines() -> None:
    new = replace_prompt(YAML_SOURCE, "yaml", "prompts.summarize", "Summarize.\nTwo lines.\n")
    _only_span_changed(
        YAML_SOURCE,
        new,
        "You summarize tickets.\n    Be brief.",
        "Summarize.\n    Two lines.",
    )
    without_newline = replace_prompt(YAML_SOURCE, "yaml", "prompts.summarize", "One line")
    assert "  summarize: |-\n    One line\n\n  # the classifier" in without_newline
    assert yaml.safe_load(without_newline)["prompts"]["summarize"] == "One line"


def test_yaml_quoted_and_plain_scalars() -> None:
    quoted = replace_prompt(YAML_SOURCE, "yaml", "prompts.classify", "Label it, don't guess.")
    _only_span_changed(YAML_SOURCE, quoted, "'Label it.'", "'Label it, don''t guess.'")
    plain = replace_prompt(YAML_SOURCE, "yaml", "prompts.plain", "other text")
    _only_span_changed(YAML_SOURCE, plain, "just text", "other text")
    tricky = replace_prompt(YAML_SOURCE, "yaml", "prompts.plain", "key: value # not a comment")
    _only_span_changed(YAML_SOURCE, tricky, "just text", '"key: value # not a comment"')
    multiline = replace_prompt(YAML_SOURCE, "yaml", "prompts.plain", "a\nb")
    assert "  plain: |-\n    a\n    b\nsettings:" in multiline
    flow = replace_prompt(YAML_SOURCE, "yaml", "settings.note", "a, b\nc")
    assert flow.endswith('settings: {temperature: 0.2, note: "a, b\\nc"}\n')


@pytest.mark.parametrize(
    ("locator", "message"),
    [
        ("prompts.missing", "no key 'missing' at prompts"),
        ("settings.temperature", "is not a string"),
        ("prompts.summarize.deeper", "prompts.summarize of the YAML file is not a mapping"),
        ("prompts..x", "dotted key path"),
    ],
)
def test_yaml_bad_locator_is_a_clear_error(locator: str, message: str) -> None:
    with pytest.raises(PromptLocationError, match=message):
        replace_prompt(YAML_SOURCE, "yaml", locator, "new")


def test_yaml_alias_is_refused_rather_than_changing_two_places() -> None:
    source = "base: &p Hello\nother: *p\n"
    with pytest.raises(PromptLocationError, match="safely"):
        replace_prompt(source, "yaml", "base", "Bye")


JSON_SOURCE = (
    '{\n    "name": "app",\n    "prompts": {"summarize": "Old \\"one\\"", "n": 3},\n'
    '    "z": [1, 2]\n}\n'
)


def test_json_replaces_only_the_string() -> None:
    new = replace_prompt(JSON_SOURCE, "json", "prompts.summarize", 'New "one"\nline é')
    _only_span_changed(JSON_SOURCE, new, '"Old \\"one\\""', '"New \\"one\\"\\nline é"')
    assert json.loads(new)["prompts"]["summarize"] == 'New "one"\nline é'


def test_json_bad_input_is_a_clear_error() -> None:
    with pytest.raises(PromptLocationError, match="not a string"):
        replace_prompt(JSON_SOURCE, "json", "prompts.n", "x")
    with pytest.raises(PromptLocationError, match="does not parse"):
        replace_prompt("{'single': 'quotes'}", "json", "single", "x")
    with pytest.raises(PromptLocationError, match="needs a prompt_locator"):
        replace_prompt(JSON_SOURCE, "json", None, "x")


def test_formats_from_extensions() -> None:
    assert [detect_format(p) for p in ("a.py", "b.YAML", "c.yml", "d.json", "e.txt")] == [
        "python",
        "yaml",
        "yaml",
        "json",
        "text",
    ]
    with pytest.raises(PromptLocationError, match="supported extensions"):
        detect_format("prompt.toml")
    assert replace_prompt("old\n", "text", None, "new") == "new\n"
