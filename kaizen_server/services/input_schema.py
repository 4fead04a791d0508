"""A task's ``schema_json``: checking the schema itself and the inputs sent against it.

Two forms are accepted: the existing server's simple form, input name to type name
(``{"ticket": "string", "priority": "int"}``, every listed input required), or a JSON Schema
object with ``properties``.

A schema is compiled once (:func:`compile_input_schema`, cached by its canonical text) into
an :class:`InputSchema`. Schemas that only name required inputs and their types (every simple
form, and JSON Schemas of that shape) are checked with plain ``isinstance`` tests; any other
JSON Schema, and the message of every failure, come from ``jsonschema_rs`` itself, so both
paths accept and reject the same inputs with the same messages.

A schema comes from a client, so validating with it must never stall the server:
``pattern``/``patternProperties`` run on a linear-time regex engine (Rust's ``regex``; a
pattern it cannot compile, such as one with lookaround or backreferences, is refused when the
task is stored), ``$ref`` never fetches anything, and a schema is at most
:data:`MAX_SCHEMA_BYTES`.

Example:
    >>> check_inputs({"ticket": "string"}, {"ticket": "Late delivery"}, "inputs")
    >>> check_inputs({"ticket": "string"}, {"ticket": 3}, "inputs")
    Traceback (most recent call last):
    ...
    kaizen_server.services.errors.InputValidationError: inputs.ticket: 3 is not of type "string"
    >>> compile_input_schema({"ticket": "string"}).first_error({}, "body.items[2].inputs")
    'body.items[2].inputs: "ticket" is a required property'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jsonschema_rs

from kaizen_server.services.errors import InputValidationError

__all__ = [
    "MAX_SCHEMA_BYTES",
    "SIMPLE_TYPES",
    "InputSchema",
    "check_inputs",
    "check_schema_definition",
    "compile_input_schema",
    "to_json_schema",
]

SIMPLE_TYPES: dict[str, str | None] = {
    "string": "string",
    "str": "string",
    "text": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "dict": "object",
    "object": "object",
    "any": None,
}
"""Type names of the simple form and the JSON Schema type each stands for (None: any)."""

MAX_SCHEMA_BYTES = 64 * 1024
"""Largest ``schema_json`` (as compact JSON): validation work grows with the schema's size."""

_LINEAR_TIME_REGEX = jsonschema_rs.RegexOptions(size_limit=1 << 20, dfa_size_limit=1 << 20)

TypeTest = Callable[[Any], bool]
_ABSENT = object()


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


JSON_TYPE_TESTS: Mapping[str, TypeTest] = {
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "null": lambda value: value is None,
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
}
"""JSON Schema (draft 2020-12) ``type`` names and their tests on JSON-decoded values."""


def _is_json_schema(schema: dict[str, Any]) -> bool:
    return (
        isinstance(schema.get("properties"), dict)
        or "$schema" in schema
        or schema.get("type") == "object"
    )


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema equivalent of ``schema`` (either form); raises on a bad definition."""
    if _is_json_schema(schema):
        return schema
    properties: dict[str, Any] = {}
    for name, type_name in schema.items():
        json_type = SIMPLE_TYPES.get(type_name.lower()) if isinstance(type_name, str) else None
        if not isinstance(type_name, str) or type_name.lower() not in SIMPLE_TYPES:
            raise InputValidationError(
                f"body.schema_json.{name}: unknown input type {type_name!r} "
                f"(use one of {', '.join(sorted(SIMPLE_TYPES))}, or a JSON Schema "
                "object with 'properties')"
            )
        properties[name] = {} if json_type is None else {"type": json_type}
    return {"type": "object", "properties": properties, "required": list(schema)}


def _type_tests(
    schema: dict[str, Any],
) -> tuple[frozenset[str], tuple[tuple[str, TypeTest], ...]] | None:
    """``(required names, ((name, type test), ...))`` when ``schema`` says no more than that.

    That is ``{"type": "object", "properties": {name: {"type": T} or {}}, "required": [...]}``
    (``type`` and ``required`` optional, ``T`` one type name); ``None`` for anything else.
    """
    if not set(schema) <= {"type", "properties", "required"} or schema.get("type", "object") != (
        "object"
    ):
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        return None
    if not all(isinstance(name, str) for name in required):
        return None
    tests: list[tuple[str, TypeTest]] = []
    for name, rule in properties.items():
        if not isinstance(rule, dict) or not set(rule) <= {"type"}:
            return None
        if "type" in rule:
            test = JSON_TYPE_TESTS.get(rule["type"]) if isinstance(rule["type"], str) else None
            if test is None:
                return None
            tests.append((name, test))
    return frozenset(required), tuple(tests)


def _validator(json_schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A draft 2020-12 validator on the linear-time regex engine that never fetches a ``$ref``
    (raises ``jsonschema_rs.ValidationError`` when the schema is not valid)."""
    return jsonschema_rs.Draft202012Validator(
        json_schema, pattern_options=_LINEAR_TIME_REGEX, offline=True
    )


class InputSchema:
    """A task's compiled input schema (build it with :func:`compile_input_schema`)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        json_schema = to_json_schema(schema)
        self._validator = _validator(json_schema)
        self._fast = _type_tests(json_schema)

    def is_valid(self, inputs: dict[str, Any]) -> bool:
        """True when ``inputs`` match (the quick test; :meth:`check` says what is wrong)."""
        if self._fast is None or not isinstance(inputs, dict):
            return self._validator.is_valid(inputs)
        required, tests = self._fast
        if not inputs.keys() >= required:
            return False
        for name, test in tests:
            value = inputs.get(name, _ABSENT)
            if value is not _ABSENT and not test(value):
                return False
        return True

    def first_error(self, inputs: dict[str, Any], where: str) -> str | None:
        """The message of what is wrong with ``inputs`` (prefixed with ``where``), or None."""
        if self.is_valid(inputs):
            return None
        error = next(self._validator.iter_errors(inputs), None)
        if error is None:  # unreachable while the fast tests match jsonschema_rs's
            return None
        return f"{where}{_json_path(error.instance_path)}: {error.message}"

    def check(self, inputs: dict[str, Any] | None, where: str) -> None:
        """Raise :class:`InputValidationError` when ``inputs`` do not match (None: not checked)."""
        if inputs is None:
            return
        message = self.first_error(inputs, where)
        if message is not None:
            raise InputValidationError(message)


@lru_cache(maxsize=256)
def _compiled(schema_text: str) -> InputSchema:
    return InputSchema(json.loads(schema_text))


def compile_input_schema(schema: dict[str, Any] | None) -> InputSchema | None:
    """The compiled form of a task's ``schema_json`` (None: inputs are not checked).

    Compiled schemas are cached by their canonical JSON text, so a task's schema is compiled
    once however many requests use it, and a changed schema is compiled afresh.
    """
    if schema is None:
        return None
    return _compiled(json.dumps(schema, sort_keys=True))


def _json_path(parts: list[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)


def check_schema_definition(schema: dict[str, Any] | None) -> None:
    """Raise :class:`InputValidationError` naming ``schema_json`` when it is not usable.

    Example:
        >>> try:
        ...     check_schema_definition({"properties": {"code": {"pattern": "^(?!x)"}}})
        ... except InputValidationError as exc:
        ...     print(str(exc).replace(": ", ":\\n"))
        body.schema_json.properties.code.pattern:
        not a valid JSON Schema:
        "^(?!x)" is not a "regex" (patterns run on a linear-time engine:
        no lookaround, no backreferences)
    """
    if schema is None:
        return
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > MAX_SCHEMA_BYTES:
        raise InputValidationError(
            f"body.schema_json: {size} bytes as JSON; at most {MAX_SCHEMA_BYTES} are allowed"
        )
    try:
        _validator(to_json_schema(schema))
    except jsonschema_rs.ValidationError as exc:
        hint = ""
        if exc.instance_path and exc.instance_path[-1] in ("pattern", "patternProperties"):
            hint = " (patterns run on a linear-time engine: no lookaround, no backreferences)"
        raise InputValidationError(
            f"body.schema_json{_json_path(exc.instance_path)}: not a valid JSON Schema: "
            f"{exc.message}{hint}"
        ) from exc


def check_inputs(schema: dict[str, Any] | None, inputs: dict[str, Any] | None, where: str) -> None:
    """Raise :class:`InputValidationError` when ``inputs`` do not match the task's schema.

    ``where`` prefixes the message (e.g. ``"body.inputs"`` or ``"body.items[3].inputs"``).
    Missing inputs (``None``) are not checked. A batch compiles each task's schema once with
    :func:`compile_input_schema` and calls :meth:`InputSchema.check` per item instead.
    """
    compiled = compile_input_schema(schema)
    if compiled is not None:
        compiled.check(inputs, where)
