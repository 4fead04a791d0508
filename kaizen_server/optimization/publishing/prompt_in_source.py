"""Rewrite the prompt where the app keeps it: a Python variable, a YAML key or a JSON key.

Only the prompt's own literal changes; every other byte of the file stays as it was. The
position comes from a parser, never a regex: :mod:`ast` for Python (a module-level
``NAME = "..."`` assignment), PyYAML's composer node marks for YAML and JSON (a dotted key
path, e.g. ``prompts.summarize``). The new file is parsed again and must hold the new prompt at
the locator and nothing else changed, or :class:`PromptLocationError` is raised (nothing is
written by this module at all: it maps text to text).

Names follow upstream Kaizen's ``prompt_file`` service (``detect_format``,
``extract_prompt``, ``replace_prompt``).

Example:
    >>> source = "TEMPERATURE = 0.2\\nPROMPT = 'Summarize.'  # keep me\\n"
    >>> print(replace_prompt(source, "python", "PROMPT", "Summarize in two sentences."), end="")
    TEMPERATURE = 0.2
    PROMPT = 'Summarize in two sentences.'  # keep me
    >>> replace_prompt("a:\\n  b: old  # note\\n", "yaml", "a.b", "new")
    'a:\\n  b: new  # note\\n'
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

__all__ = [
    "SOURCE_FORMATS",
    "PromptLocationError",
    "detect_format",
    "extract_prompt",
    "replace_prompt",
]

SOURCE_FORMATS = {".py": "python", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".txt": "text"}
"""File extensions and the format of the prompt inside (``text``: the whole file)."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class PromptLocationError(ValueError):
    """The locator does not name a plain string the file can hold the new prompt in."""


def detect_format(path: str) -> str:
    """The prompt format of a file, from its extension.

    Example:
        >>> detect_format("app/prompts.yml"), detect_format("app/llm.py")
        ('yaml', 'python')
    """
    fmt = SOURCE_FORMATS.get(PurePosixPath(path).suffix.lower())
    if fmt is None:
        raise PromptLocationError(
            f"{path!r}: cannot tell where the prompt is; supported extensions: "
            f"{', '.join(SOURCE_FORMATS)}"
        )
    return fmt


def extract_prompt(content: str, fmt: str, locator: str | None) -> str:
    """The prompt text at ``locator`` in ``content``.

    Example:
        >>> extract_prompt('{"prompts": {"a": "Hi"}}', "json", "prompts.a")
        'Hi'
    """
    if fmt == "text":
        return content
    if not locator:
        raise PromptLocationError(f"a {fmt} prompt file needs a prompt_locator")
    if fmt == "python":
        return _python_literal(content, locator)[1]
    return str(_structured_scalar(content, fmt, locator)[1].value)


def replace_prompt(content: str, fmt: str, locator: str | None, new_prompt: str) -> str:
    """``content`` with the prompt at ``locator`` replaced by ``new_prompt`` (``text``: the
    whole file); raises :class:`PromptLocationError` naming the problem."""
    if fmt == "text":
        return new_prompt.rstrip("\n") + "\n"
    if not locator:
        raise PromptLocationError(f"a {fmt} prompt file needs a prompt_locator")
    if fmt == "python":
        return _replace_python(content, locator, new_prompt)
    if fmt in ("yaml", "json"):
        return _replace_structured(content, fmt, locator, new_prompt)
    raise PromptLocationError(f"unsupported prompt format {fmt!r}")


# --- Python ---------------------------------------------------------------------------------


def _line_starts(data: bytes) -> list[int]:
    """Byte offset of each line's start (lines as Python's tokenizer counts them)."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(data))]


def _python_literal(content: str, name: str) -> tuple[tuple[int, int], str]:
    """The byte span of the string literal assigned to module-level ``name``, and its value."""
    if not _NAME.match(name):
        raise PromptLocationError(f"prompt_locator {name!r} is not a Python variable name")
    try:
        tree = ast.parse(content)
    except SyntaxError as exc:
        raise PromptLocationError(
            f"the Python file does not parse: {exc.msg} (line {exc.lineno})"
        ) from exc
    values: list[ast.expr] = []
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in statement.targets):
                values.append(statement.value)
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
            and statement.value is not None
        ):
            values.append(statement.value)
    if not values:
        raise PromptLocationError(f"no module-level assignment of {name} in the Python file")
    if len(values) > 1:
        raise PromptLocationError(f"{name} is assigned {len(values)} times at module level")
    value = values[0]
    if isinstance(value, ast.JoinedStr):
        raise PromptLocationError(
            f"{name} is an f-string: only a plain string literal is rewritten"
        )
    if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
        raise PromptLocationError(
            f"{name} is not a plain string literal ({type(value).__name__}): concatenations, "
            "calls and other expressions are not rewritten"
        )
    data = content.encode("utf-8")
    starts = _line_starts(data)
    assert value.end_lineno is not None
    assert value.end_col_offset is not None
    start = starts[value.lineno - 1] + value.col_offset
    end = starts[value.end_lineno - 1] + value.end_col_offset
    literal = data[start:end].decode("utf-8")
    strings = [
        token
        for token in tokenize.generate_tokens(io.StringIO(literal).readline)
        if token.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.COMMENT)
    ]
    if len(strings) != 1 or strings[0].type != tokenize.STRING:
        raise PromptLocationError(
            f"{name} is a concatenation of string literals: only a single literal is rewritten"
        )
    return (start, end), value.value


def _escape(text: str, quote: str) -> str:
    """``text`` as the body of a non-raw literal quoted with ``quote``."""
    out = text.replace("\\", "\\\\")
    out = "".join(
        char if char in "\n\t" or char.isprintable() else char.encode("unicode_escape").decode()
        for char in out
    )
    if len(quote) == 1:
        return out.replace(quote, "\\" + quote).replace("\n", "\\n")
    escaped = out.replace(quote, quote[:2] + "\\" + quote[0])
    if escaped.endswith(quote[0]):
        escaped = escaped[:-1] + "\\" + quote[0]
    return escaped


def _python_literal_for(old_literal: str, new_prompt: str) -> str:
    """A literal holding ``new_prompt`` with ``old_literal``'s prefix and quotes (the raw
    prefix is dropped when the text cannot be written raw)."""
    prefix = old_literal[: len(old_literal) - len(old_literal.lstrip("rRuU"))]
    rest = old_literal[len(prefix) :]
    quote = rest[:3] if rest[:3] in ('"""', "'''") else rest[0]
    if "r" in prefix.lower():
        raw = f"{prefix}{quote}{new_prompt}{quote}"
        try:
            if ast.literal_eval(raw) == new_prompt:
                return raw
        except (SyntaxError, ValueError):
            pass
        prefix = prefix.replace("r", "").replace("R", "")
    return f"{prefix}{quote}{_escape(new_prompt, quote)}{quote}"


def _replace_python(content: str, name: str, new_prompt: str) -> str:
    (start, end), _ = _python_literal(content, name)
    data = content.encode("utf-8")
    literal = _python_literal_for(data[start:end].decode("utf-8"), new_prompt)
    new_content = (data[:start] + literal.encode("utf-8") + data[end:]).decode("utf-8")
    if _python_literal(new_content, name)[1] != new_prompt:
        raise PromptLocationError(f"could not write the new prompt into {name} safely")
    return new_content


# --- YAML and JSON --------------------------------------------------------------------------


def _compose(content: str, fmt: str) -> Node:
    try:
        if fmt == "json":
            json.loads(content)
        node = yaml.compose(content, Loader=yaml.SafeLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise PromptLocationError(f"the {fmt.upper()} file does not parse: {exc}") from exc
    if node is None:
        raise PromptLocationError(f"the {fmt.upper()} file is empty")
    return node


def _structured_scalar(content: str, fmt: str, locator: str) -> tuple[Node, ScalarNode, Node]:
    """(mapping holding it, the string scalar at ``locator``, its key node)."""
    keys = locator.split(".")
    if any(not key for key in keys):
        raise PromptLocationError(f"prompt_locator {locator!r} must be a dotted key path (a.b.c)")
    node = _compose(content, fmt)
    parent: Node = node
    key_node: Node = node
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth]) or "the top level"
        if not isinstance(node, MappingNode):
            raise PromptLocationError(f"{where} of the {fmt.upper()} file is not a mapping")
        found = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == key]
        if not found:
            raise PromptLocationError(f"no key {key!r} at {where} of the {fmt.upper()} file")
        if len(found) > 1:
            raise PromptLocationError(f"key {key!r} appears {len(found)} times at {where}")
        parent, (key_node, node) = node, found[0]
    if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:str":
        raise PromptLocationError(f"{locator} is not a string in the {fmt.upper()} file")
    return parent, node, key_node


def _set_path(document: Any, keys: list[str], value: str) -> Any:
    current = document
    for key in keys[:-1]:
        current = current[key]
    current[keys[-1]] = value
    return document


def _yaml_candidates(
    content: str, parent: Node, scalar: ScalarNode, key: Node, new_prompt: str
) -> list[Callable[[], str]]:
    """Ways to write ``new_prompt`` over ``scalar``, the closest to its style first."""
    original = content[scalar.start_mark.index : scalar.end_mark.index]
    in_block = isinstance(parent, MappingNode) and parent.flow_style is False

    def literal_block() -> str:
        lines = original.split("\n")
        content_lines = [line for line in lines[1:] if line.strip()]
        if scalar.style in ("|", ">") and content_lines:
            indent = len(content_lines[0]) - len(content_lines[0].lstrip(" "))
        else:
            indent = key.start_mark.column + 2
        newline = "\r\n" if "\r\n" in content else "\n"
        text = new_prompt
        chomp = "" if text.endswith("\n") and not text.endswith("\n\n") else "-"
        lines = text.removesuffix("\n").split("\n") if chomp == "" else text.split("\n")
        body = newline.join((" " * indent + line) if line else "" for line in lines)
        if scalar.style in ("|", ">"):
            stripped = original.rstrip()
            return f"|{chomp}{newline}{body}{original[len(stripped) :]}"
        return f"|{chomp}{newline}{body}"

    def double_quoted() -> str:
        return json.dumps(new_prompt, ensure_ascii=False)

    def single_quoted() -> str:
        if "\n" in new_prompt:
            raise PromptLocationError("a single-quoted line holds no line break")
        return "'" + new_prompt.replace("'", "''") + "'"

    def plain() -> str:
        if "\n" in new_prompt or new_prompt != new_prompt.strip() or not new_prompt:
            raise PromptLocationError("not a plain scalar")
        return new_prompt

    if scalar.style in ("|", ">"):
        return [literal_block, double_quoted]
    if scalar.style == "'":
        return [single_quoted, double_quoted]
    if scalar.style == '"':
        return [double_quoted]
    multiline = [literal_block] if in_block and "\n" in new_prompt else []
    return [*multiline, plain, double_quoted]


def _replace_structured(content: str, fmt: str, locator: str, new_prompt: str) -> str:
    parent, scalar, key = _structured_scalar(content, fmt, locator)
    expected = _set_path(_load(content, fmt), locator.split("."), new_prompt)
    start, end = scalar.start_mark.index, scalar.end_mark.index
    if fmt == "json":
        candidates: list[Callable[[], str]] = [
            lambda: json.dumps(new_prompt, ensure_ascii="\\u" in content[start:end])
        ]
    else:
        candidates = _yaml_candidates(content, parent, scalar, key, new_prompt)
    for candidate in candidates:
        try:
            new_content = content[:start] + candidate() + content[end:]
            if _load(new_content, fmt) == expected:
                return new_content
        except PromptLocationError:
            continue
    raise PromptLocationError(f"could not write the new prompt at {locator} safely")


def _load(content: str, fmt: str) -> Any:
    try:
        return json.loads(content) if fmt == "json" else yaml.safe_load(content)
    except (ValueError, yaml.YAMLError) as exc:
        raise PromptLocationError(
            f"the rewritten {fmt.upper()} file does not parse: {exc}"
        ) from exc
