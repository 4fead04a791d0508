"""A task's ``schema_json``: checking the schema itself and the inputs sent against it.

Two forms are accepted: the existing server's simple form, input name to type name
(``{"ticket": "string", "priority": "int"}``, every listed input required), or a JSON Schema
object with ``properties``.

Example:
    >>> check_inputs({"ticket": "string"}, {"ticket": "Late delivery"}, "inputs")
    >>> check_inputs({"ticket": "string"}, {"ticket": 3}, "inputs")
    Traceback (most recent call last):
    ...
    kaizen_server.services.errors.InputValidationError: inputs.ticket: 3 is not of type 'string'
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import best_match as best_schema_error

from kaizen_server.services.errors import InputValidationError

__all__ = ["SIMPLE_TYPES", "check_inputs", "check_schema_definition", "to_json_schema"]

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


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Draft202012Validator:
    return Draft202012Validator(to_json_schema(json.loads(schema_text)))


def check_schema_definition(schema: dict[str, Any] | None) -> None:
    """Raise :class:`InputValidationError` naming ``schema_json`` when it is not usable."""
    if schema is None:
        return
    try:
        Draft202012Validator.check_schema(to_json_schema(schema))
    except SchemaError as exc:
        where = ".".join(str(part) for part in exc.absolute_path)
        raise InputValidationError(
            f"body.schema_json{'.' + where if where else ''}: not a valid JSON Schema: "
            f"{exc.message}"
        ) from exc


def check_inputs(schema: dict[str, Any] | None, inputs: dict[str, Any] | None, where: str) -> None:
    """Raise :class:`InputValidationError` when ``inputs`` do not match the task's schema.

    ``where`` prefixes the message (e.g. ``"body.inputs"`` or ``"body.items[3].inputs"``).
    Missing inputs (``None``) are not checked.
    """
    if schema is None or inputs is None:
        return
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = best_schema_error(validator.iter_errors(inputs))
    if error is None:
        return
    path = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    raise InputValidationError(f"{where}{path}: {error.message}")
