"""What ``instrument()`` patches in each LLM library, and how it reads a call and its result.

One :class:`Patch` per function replaced: an OpenAI client's ``chat.completions.create``;
for the ``openai`` module the ``create`` of its sync and async ``Completions`` classes (every
client); for ``litellm`` its ``completion`` and ``acompletion``; for LangChain
(``langchain_core`` or ``langchain``) ``BaseChatModel.invoke`` and ``ainvoke``, which every
chat model and every chain calling one goes through. The libraries are imported only when
asked for. A :class:`CallReader` turns a call's arguments into an :class:`LLMRequest` and
its result into an :class:`LLMResponse`.

Example:
    >>> reader = OpenAIChatReader()
    >>> request = reader.request((), {"model": "gpt-4o-mini",
    ...     "messages": [{"role": "system", "content": "Be brief."},
    ...                  {"role": "user", "content": "Hi"}]})
    >>> request.prompt_text, request.texts
    ('system: Be brief.\\nuser: Hi', ['Be brief.', 'Hi'])
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

__all__ = [
    "CallReader",
    "LLMRequest",
    "LLMResponse",
    "LangChainReader",
    "OpenAIChatReader",
    "Patch",
    "field_of",
    "patches_for",
]


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """An LLM call as ``instrument()`` records it.

    Attributes:
        texts: The message texts, system messages first (where prompt sources are looked for).
        prompt_text: The messages as ``role: content`` lines.
        call_inputs: What an ``inputs=`` function of ``instrument()`` is given.
        default_inputs: The trace's ``inputs`` without such a function.
        model: The model asked for, if the call names one.
        streaming: A streaming call (passed through unrecorded).
    """

    texts: list[str]
    prompt_text: str | None
    call_inputs: Mapping[str, Any]
    default_inputs: dict[str, Any]
    model: str | None = None
    streaming: bool = False


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """What an LLM call produced: its text, the model that answered, the tokens used."""

    text: str | None
    model: str | None
    tokens: int | None


class CallReader(Protocol):
    """Reads the calls of one patched function."""

    def request(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> LLMRequest:
        """The call made with ``args`` and ``kwargs``."""

    def response(self, result: Any, args: Sequence[Any]) -> LLMResponse:
        """What the call returned."""


@dataclass(frozen=True, slots=True)
class Patch:
    """``owner.name`` (a function of an object, class or module) and how to read its calls."""

    owner: Any
    name: str
    reader: CallReader


def field_of(value: Any, name: str) -> Any:
    """``value.name`` or ``value[name]`` (library objects or plain dicts), else ``None``.

    Example:
        >>> field_of({"role": "user"}, "role"), field_of(None, "role")
        ('user', None)
    """
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _text(content: Any) -> str:
    """Message content as text (content blocks joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [p if isinstance(p, str) else str(field_of(p, "text") or "") for p in content]
        return "".join(parts)
    return "" if content is None else str(content)


def _request(
    pairs: list[tuple[str, str]],
    call_inputs: Mapping[str, Any],
    default_inputs: dict[str, Any],
    model: Any,
    streaming: bool = False,
) -> LLMRequest:
    system_first = sorted(pairs, key=lambda pair: pair[0] != "system")
    return LLMRequest(
        texts=[text for _, text in system_first if text],
        prompt_text="\n".join(f"{role}: {text}" for role, text in pairs) or None,
        call_inputs=call_inputs,
        default_inputs=default_inputs,
        model=model if isinstance(model, str) else None,
        streaming=streaming,
    )


@dataclass(frozen=True, slots=True)
class OpenAIChatReader:
    """Chat completions in OpenAI's shape (OpenAI clients, litellm).

    Attributes:
        model_at: Position of ``model`` among the positional arguments, if it may be one.
        messages_at: Position of ``messages`` likewise.
    """

    model_at: int | None = None
    messages_at: int | None = None

    def _argument(self, args: Sequence[Any], kwargs: Mapping[str, Any], name: str) -> Any:
        at = self.model_at if name == "model" else self.messages_at
        if name in kwargs:
            return kwargs[name]
        return args[at] if at is not None and len(args) > at else None

    def request(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> LLMRequest:
        messages = list(self._argument(args, kwargs, "messages") or [])
        model = self._argument(args, kwargs, "model")
        pairs = [(str(field_of(m, "role") or ""), _text(field_of(m, "content"))) for m in messages]
        call_inputs = {**kwargs, "messages": messages, "model": model}
        return _request(
            pairs, call_inputs, {"messages": messages}, model, bool(kwargs.get("stream"))
        )

    def response(self, result: Any, args: Sequence[Any]) -> LLMResponse:
        choices = field_of(result, "choices") or []
        text = field_of(field_of(choices[0], "message"), "content") if choices else None
        model = field_of(result, "model")
        tokens = field_of(field_of(result, "usage"), "total_tokens")
        return LLMResponse(
            text=text if isinstance(text, str) else None,
            model=model if isinstance(model, str) else None,
            tokens=tokens if isinstance(tokens, int) else None,
        )


_LANGCHAIN_ROLES = {"human": "user", "ai": "assistant"}


@dataclass(frozen=True, slots=True)
class LangChainReader:
    """``BaseChatModel.invoke(self, input, ...)`` / ``ainvoke``: messages in, message out."""

    def request(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> LLMRequest:
        model, given = args[0], args[1] if len(args) > 1 else kwargs.get("input")
        try:
            messages = list(model._convert_input(given).to_messages())
        except Exception:  # an input LangChain itself will refuse: record it as text
            messages = []
        pairs = [
            (_LANGCHAIN_ROLES.get(str(m.type), str(m.type)), _text(m.content)) for m in messages
        ]
        if not pairs and given is not None:
            pairs = [("user", _text(given))]
        dicts = [{"role": role, "content": text} for role, text in pairs]
        name = getattr(model, "model_name", None) or getattr(model, "model", None)
        return _request(pairs, {"input": given, "messages": dicts}, {"messages": dicts}, name)

    def response(self, result: Any, args: Sequence[Any]) -> LLMResponse:
        metadata = field_of(result, "response_metadata") or {}
        usage = field_of(result, "usage_metadata") or {}
        model = metadata.get("model_name") or metadata.get("model")
        if not model and args:
            model = getattr(args[0], "model_name", None) or getattr(args[0], "model", None)
        tokens = usage.get("total_tokens")
        return LLMResponse(
            text=_text(field_of(result, "content")),
            model=model if isinstance(model, str) else None,
            tokens=tokens if isinstance(tokens, int) else None,
        )


def patches_for(target: Any) -> list[Patch]:
    """The functions to patch for ``target``: an OpenAI client, or the ``openai``,
    ``litellm``, ``langchain_core`` or ``langchain`` module.

    Raises:
        TypeError: anything else.

    Example:
        >>> import litellm  # doctest: +SKIP
        >>> [patch.name for patch in patches_for(litellm)]  # doctest: +SKIP
        ['completion', 'acompletion']
    """
    if isinstance(target, ModuleType):
        library = target.__name__.partition(".")[0]
        if library == "litellm":
            litellm = importlib.import_module("litellm")
            reader = OpenAIChatReader(model_at=0, messages_at=1)
            return [Patch(litellm, "completion", reader), Patch(litellm, "acompletion", reader)]
        if library == "openai":
            completions = importlib.import_module("openai.resources.chat.completions")
            return [
                Patch(completions.Completions, "create", OpenAIChatReader()),
                Patch(completions.AsyncCompletions, "create", OpenAIChatReader()),
            ]
        if library.startswith("langchain"):
            chat_models = importlib.import_module("langchain_core.language_models.chat_models")
            model_class = chat_models.BaseChatModel
            return [
                Patch(model_class, "invoke", LangChainReader()),
                Patch(model_class, "ainvoke", LangChainReader()),
            ]
        raise TypeError(
            f"instrument() supports the openai, litellm and langchain modules, not {library!r}"
        )
    completions = field_of(field_of(target, "chat"), "completions")
    if completions is None or not callable(getattr(completions, "create", None)):
        raise TypeError(
            "instrument() takes an OpenAI-style client (with chat.completions.create) or the "
            f"openai, litellm or langchain module, not a {type(target).__name__}"
        )
    return [Patch(completions, "create", OpenAIChatReader())]
