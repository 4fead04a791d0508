"""A task's prompt run the way apps run it, while a job tunes and measures it.

An app sends the prompt text as the system message and the request's inputs as the user
message (the example app does exactly that). DSPy's default ``ChatAdapter`` wraps the prompt
in its own field-marker protocol instead (``[[ ## ticket ## ]]`` sections, a field list, "your
objective is: ..."), which small models follow poorly: on Qwen2.5-Coder-1.5B the quality
benchmark's intent prompt answered "technical" for 29 of 30 tickets under the ChatAdapter
(12/30 right) and got 23/30 right as a system message; with 4 rendered examples 10/30 against
28/30. A score must describe the prompt as it will be deployed, so the task program of a job
(:class:`AppPromptProgram`) runs through :class:`AppChatAdapter`:

* system message: the prompt text (instructions, and rendered examples when it has them);
* each demo (few-shot optimizers' worked examples, while they search): a user message with its
  inputs and an assistant message with its output;
* user message: the inputs, the value alone for a one-input task, else ``name: value`` lines
  (the format of the rendered examples);
* the whole answer, stripped, is the output.

Example:
    >>> from kaizen_server.optimization.signature import SignatureSpec
    >>> spec = SignatureSpec.from_schema({"ticket": "string"})
    >>> adapter = AppChatAdapter(spec)
    >>> adapter.format(spec.build("Classify."), [], {"ticket": "refund please"})
    [{'role': 'system', 'content': 'Classify.'}, {'role': 'user', 'content': 'refund please'}]
    >>> adapter.parse(spec.build("Classify."), " billing\\n")
    {'output': 'billing'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dspy

from kaizen_server.optimization.signature import SignatureSpec, field_text

__all__ = ["AppChatAdapter", "AppPromptProgram"]


class AppChatAdapter(dspy.Adapter):  # type: ignore[misc]
    """DSPy adapter speaking the app's plain chat: prompt as system message, inputs as user."""

    def __init__(self, spec: SignatureSpec) -> None:
        super().__init__()
        self.spec = spec

    def user_message(self, values: Mapping[str, Any]) -> str:
        """The user message carrying ``values`` (signature field name -> value)."""
        if len(self.spec.inputs) == 1:
            return field_text(values.get(self.spec.inputs[0].field_name, ""))
        return "\n".join(self.spec.input_lines(values))

    def format(
        self,
        signature: type[dspy.Signature],
        demos: list[dict[str, Any]],
        inputs: dict[str, Any],
    ) -> list[dict[str, Any]]:
        messages = [{"role": "system", "content": signature.instructions}]
        output = self.spec.output_name
        for demo in demos:
            if demo.get(output) is None:  # a demo without its output teaches nothing
                continue
            messages.append({"role": "user", "content": self.user_message(demo)})
            messages.append({"role": "assistant", "content": field_text(demo[output])})
        messages.append({"role": "user", "content": self.user_message(inputs)})
        return messages

    def parse(self, signature: type[dspy.Signature], completion: str) -> dict[str, Any]:
        return {self.spec.output_name: completion.strip()}


class AppPromptProgram(dspy.Module):  # type: ignore[misc]
    """The task program of a job: one ``dspy.Predict`` whose calls go through
    :class:`AppChatAdapter` (the optimizers' own LM calls, e.g. instruction proposals, keep
    DSPy's default adapter). Its state is its predictor's, as a bare ``Predict``'s would be.

    Example:
        >>> from kaizen_server.optimization.signature import SignatureSpec
        >>> spec = SignatureSpec.from_schema({"ticket": "string"})
        >>> AppPromptProgram(spec, "Classify.").predict.signature.instructions
        'Classify.'
    """

    def __init__(self, spec: SignatureSpec, instructions: str) -> None:
        super().__init__()
        self.predict = dspy.Predict(spec.build(instructions))
        self.adapter = AppChatAdapter(spec)

    def forward(self, **inputs: Any) -> dspy.Prediction:
        with dspy.context(adapter=self.adapter):
            prediction: dspy.Prediction = self.predict(**inputs)
        return prediction

    def dump_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        state: dict[str, Any] = self.predict.dump_state(*args, **kwargs)
        return state

    def load_state(self, state: dict[str, Any], *args: Any, **kwargs: Any) -> AppPromptProgram:
        self.predict.load_state(state, *args, **kwargs)
        return self
