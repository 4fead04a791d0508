"""Build the ``dspy.Signature`` of a task from its ``schema_json``.

``schema_json`` is either the simple form (``{"ticket": "string"}``: input name -> type name) or
a JSON Schema object with ``properties``. The signature has those inputs and one output field.

Example:
    >>> spec = SignatureSpec.from_schema({"ticket": "string", "priority": "integer"})
    >>> [field.key for field in spec.inputs], spec.output_name
    (['ticket', 'priority'], 'output')
    >>> sorted(spec.build("Summarize the ticket.").input_fields)
    ['priority', 'ticket']
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dspy

__all__ = ["DEFAULT_INPUT_NAME", "InputSpec", "SignatureSpec", "field_text"]

DEFAULT_INPUT_NAME = "input"
"""The single input used when neither the schema nor the feedback names any."""


def field_text(value: Any) -> str:
    """A field's value as prompt text: strings as they are, anything else as JSON; stripped.

    Example:
        >>> field_text(" printer down "), field_text({"floor": 3})
        ('printer down', '{"floor": 3}')
    """
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text.strip()


_TYPES: Mapping[str, type] = {
    "string": str,
    "str": str,
    "text": str,
    "integer": int,
    "int": int,
    "number": float,
    "float": float,
    "boolean": bool,
    "bool": bool,
    "array": list,
    "list": list,
    "object": dict,
    "dict": dict,
}


def _identifier(key: str, taken: set[str]) -> str:
    name = re.sub(r"\W", "_", key).strip("_") or "field"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"f_{name}"
    base, suffix = name, 2
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(name)
    return name


@dataclass(frozen=True)
class InputSpec:
    """One input: the key in feedback ``inputs``, its DSPy field name, type and description."""

    key: str
    field_name: str
    annotation: type
    description: str | None = None


@dataclass(frozen=True)
class SignatureSpec:
    """The inputs and output of a task, independent of any instructions."""

    inputs: tuple[InputSpec, ...]
    output_name: str = "output"

    @classmethod
    def from_schema(
        cls, schema_json: Mapping[str, Any] | None, fallback_keys: Iterable[str] = ()
    ) -> SignatureSpec:
        """Read ``schema_json``; without one, use ``fallback_keys`` (keys seen in feedback)."""
        described: list[tuple[str, Any, str | None]] = []
        if schema_json and isinstance(schema_json.get("properties"), Mapping):
            for key, prop in schema_json["properties"].items():
                prop = prop if isinstance(prop, Mapping) else {}
                described.append((str(key), prop.get("type"), prop.get("description")))
        elif schema_json:
            described = [(str(key), type_name, None) for key, type_name in schema_json.items()]
        else:
            described = [(key, None, None) for key in dict.fromkeys(fallback_keys)]
        if not described:
            described = [(DEFAULT_INPUT_NAME, "string", None)]
        taken: set[str] = set()
        inputs = tuple(
            InputSpec(
                key=key,
                field_name=_identifier(key, taken),
                annotation=_TYPES.get(str(type_name).lower(), str) if type_name else str,
                description=str(description) if description else None,
            )
            for key, type_name, description in described
        )
        output = "output" if "output" not in taken else _identifier("output", taken)
        return cls(inputs=inputs, output_name=output)

    @property
    def input_names(self) -> list[str]:
        """DSPy field names of the inputs, in order."""
        return [item.field_name for item in self.inputs]

    def input_lines(self, values: Mapping[str, Any] | dspy.Example) -> list[str]:
        """``key: value`` lines of the inputs in ``values`` (DSPy field name -> value), in
        order: how rendered examples and multi-input user messages show inputs."""
        return [
            f"{item.key}: {field_text(values.get(item.field_name, ''))}" for item in self.inputs
        ]

    def build(self, instructions: str) -> type[dspy.Signature]:
        """The ``dspy.Signature`` with these fields and ``instructions``."""
        fields: dict[str, tuple[type, Any]] = {}
        for item in self.inputs:
            extra = {"desc": item.description} if item.description else {}
            fields[item.field_name] = (item.annotation, dspy.InputField(**extra))
        fields[self.output_name] = (str, dspy.OutputField())
        signature: type[dspy.Signature] = dspy.Signature(fields, instructions)
        return signature
