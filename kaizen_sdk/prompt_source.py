"""Find where a prompt comes from: the caller's file and the variable holding the prompt.

``instrument()`` names a call's task after its prompt when it is given no ``task_id``: the
text each message of the call was made from is looked up in the calling code (the first
stack frame outside the SDK and the LLM libraries): first a variable whose string equals the
text, then a template (``"Summarize: {ticket}"``, used with ``.format`` or by a LangChain
prompt template) that the text fills in. A module-level constant imported from another
module is traced back to the file that assigns it. The task name is
``<file stem>_<variable>`` (``prompts_summarize_prompt``), the scheme upstream's SDK uses, so
both SDKs file the same calls under the same task.

Example:
    >>> SUMMARIZE_PROMPT = "Summarize the ticket in one sentence."
    >>> source = detect_prompt_source([SUMMARIZE_PROMPT])
    >>> source.variable
    'SUMMARIZE_PROMPT'
    >>> make_task_name("app/prompts.py", "SUMMARIZE_PROMPT")
    'prompts_summarize_prompt'
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import string
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

__all__ = [
    "LIBRARY_PACKAGES",
    "UNKNOWN_TASK",
    "PromptSource",
    "detect_prompt_source",
    "make_task_name",
]

UNKNOWN_TASK = "unknown_prompt"
"""The task of calls whose calling code could not be found at all."""

LIBRARY_PACKAGES = frozenset(
    {
        "kaizen_sdk",
        "openai",
        "litellm",
        "langchain",
        "langchain_core",
        "langchain_openai",
        "langchain_community",
        "httpx",
        "asyncio",
        "concurrent",
        "threading",
        "contextvars",
        "functools",
        "anyio",
    }
)
"""Top-level packages whose frames are never the calling code."""

_MIN_TEMPLATE_TEXT = 8
"""Characters of fixed text a template needs before it may match (``"{x}"`` matches anything)."""


@dataclass(frozen=True, slots=True)
class PromptSource:
    """Where a call's prompt comes from.

    Attributes:
        file: The file assigning the prompt's variable (else the calling file), relative to
            the working directory when it lies below it; ``"<unknown>"`` if no caller was found.
        variable: The variable holding the prompt (or its template), ``None`` if none matched.
        line: The line of the call in the calling file.
        task_name: The task the call belongs to, made by :func:`make_task_name`.
    """

    file: str
    variable: str | None
    line: int | None
    task_name: str


def detect_prompt_source(
    prompt_text: str | Sequence[str], *, frame: FrameType | None = None
) -> PromptSource:
    """Find the calling code's variable holding ``prompt_text`` (or one of several texts,
    tried in order: pass the system message first).

    Args:
        prompt_text: The prompt text(s) sent to the LLM.
        frame: Where to start looking (default: the caller of this function); frames of the
            SDK and of LLM libraries (:data:`LIBRARY_PACKAGES`) are skipped.

    Example:
        >>> TEMPLATE = "Classify the intent of: {message}"
        >>> detect_prompt_source(TEMPLATE.format(message="refund please")).variable
        'TEMPLATE'
    """
    texts = [prompt_text] if isinstance(prompt_text, str) else list(prompt_text)
    caller = _calling_frame(frame if frame is not None else sys._getframe(1))
    if caller is None:
        return PromptSource(file="<unknown>", variable=None, line=None, task_name=UNKNOWN_TASK)
    calling_file = caller.f_code.co_filename
    variable, in_globals = _find_variable(texts, caller.f_locals, caller.f_globals)
    file = calling_file
    if variable is not None and in_globals:
        file = _assigning_file(calling_file, caller.f_globals, variable)
    shown = _shown_path(file)
    return PromptSource(
        file=shown,
        variable=variable,
        line=caller.f_lineno,
        task_name=make_task_name(shown, variable),
    )


def make_task_name(file: str, variable: str | None) -> str:
    """``<file stem>_<variable>`` (``<file stem>_prompt`` without one), lower case, with
    every character but letters, digits and ``_`` made ``_``.

    Example:
        >>> make_task_name("src/my-app/agents.py", None)
        'agents_prompt'
    """
    stem = os.path.splitext(os.path.basename(file))[0] or "unknown"
    name = f"{stem}_{variable or 'prompt'}".lower()
    return re.sub(r"[^0-9a-z_]", "_", name)


def _calling_frame(frame: FrameType | None) -> FrameType | None:
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        # code run from a string (doctest, exec) is the caller's, whatever its globals say
        if frame.f_code.co_filename.startswith("<") or (
            module.partition(".")[0] not in LIBRARY_PACKAGES
        ):
            return frame
        frame = frame.f_back
    return None


def _candidates(scope: Mapping[str, object]) -> Iterable[tuple[str, str]]:
    for name, value in list(scope.items()):
        # not private names, nor a tool's hidden ones (pytest's ``@py_assert1``)
        if isinstance(value, str) and name.isidentifier() and not name.startswith("_"):
            yield name, value


def _find_variable(
    texts: Sequence[str], local_vars: Mapping[str, object], global_vars: Mapping[str, object]
) -> tuple[str | None, bool]:
    """``(variable, found among the globals)`` for the first text a variable equals, else
    the first a template variable fills in; ``(None, False)`` when none matches."""
    scopes = [(local_vars, False), (global_vars, True)]
    for text in texts:
        for scope, is_global in scopes:
            for name, value in _candidates(scope):
                if value == text:
                    return name, is_global
    for text in texts:
        for scope, is_global in scopes:
            for name, value in _candidates(scope):
                pattern = _template_pattern(value)
                if pattern is not None and pattern.fullmatch(text):
                    return name, is_global
    return None, False


@functools.lru_cache(maxsize=1024)
def _template_pattern(template: str) -> re.Pattern[str] | None:
    """A regex matching what ``template.format(...)`` makes, if it is a template at all."""
    if "{" not in template:
        return None
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError:
        return None
    if not any(field is not None for _, field, _, _ in pieces):
        return None
    if len("".join(literal for literal, _, _, _ in pieces).strip()) < _MIN_TEMPLATE_TEXT:
        return None
    regex = "".join(
        re.escape(literal) + ("(.*?)" if field is not None else "")
        for literal, field, _, _ in pieces
    )
    return re.compile(regex, re.DOTALL)


def _assigning_file(calling_file: str, module_globals: Mapping[str, object], name: str) -> str:
    """The file assigning module-level ``name``: the calling file, or the module it was
    imported from (``from prompts import NAME``)."""
    assigned, imported_from = _module_names(calling_file)
    if name in assigned or name not in imported_from:
        return calling_file
    source, level = imported_from[name]
    package = module_globals.get("__package__")
    try:
        module_name = importlib.util.resolve_name(
            "." * level + source, package if isinstance(package, str) else None
        )
    except (ImportError, ValueError):
        return calling_file
    module = sys.modules.get(module_name)
    module_file = getattr(module, "__file__", None)
    return module_file if isinstance(module_file, str) else calling_file


@functools.lru_cache(maxsize=256)
def _module_names(path: str) -> tuple[frozenset[str], dict[str, tuple[str, int]]]:
    """Names a file assigns at top level, and ``{name: (module, level)}`` it imports."""
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read(), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return frozenset(), {}
    assigned: set[str] = set()
    imported: dict[str, tuple[str, int]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            assigned.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module or "", node.level)
    return frozenset(assigned), imported


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    if path.startswith("<"):
        return path
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute.startswith(here + os.sep):
        return os.path.relpath(absolute, here)
    return absolute
