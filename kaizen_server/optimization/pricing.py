"""Per-model LLM prices (USD per 1M input / output tokens) and how to look them up.

Unknown models and local endpoints cost 0: the estimate is then a count of calls, not money.

Example:
    >>> price_for("gpt-4o-mini").input_per_million
    0.15
    >>> price_for("ollama/llama3").input_per_million
    0.0
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICES", "FREE", "ModelPrice", "price_for"]


class ModelPrice(BaseModel):
    """USD per one million input and output tokens."""

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(default=0.0, ge=0.0)
    output_per_million: float = Field(default=0.0, ge=0.0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for the given token counts."""
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000


FREE = ModelPrice()

DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o": ModelPrice(input_per_million=2.50, output_per_million=10.00),
    "gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.60),
    "gpt-4.1": ModelPrice(input_per_million=2.00, output_per_million=8.00),
    "gpt-4.1-mini": ModelPrice(input_per_million=0.40, output_per_million=1.60),
    "gpt-4.1-nano": ModelPrice(input_per_million=0.10, output_per_million=0.40),
    "o4-mini": ModelPrice(input_per_million=1.10, output_per_million=4.40),
    "claude-3-5-haiku": ModelPrice(input_per_million=0.80, output_per_million=4.00),
    "claude-3-5-sonnet": ModelPrice(input_per_million=3.00, output_per_million=15.00),
    "claude-sonnet-4": ModelPrice(input_per_million=3.00, output_per_million=15.00),
    "gemini-1.5-flash": ModelPrice(input_per_million=0.075, output_per_million=0.30),
    "gemini-2.0-flash": ModelPrice(input_per_million=0.10, output_per_million=0.40),
}
"""Built-in list prices; override or extend with ``KAIZEN_MODEL_PRICES``."""


def price_for(model: str | None, overrides: Mapping[str, ModelPrice] | None = None) -> ModelPrice:
    """The price of ``model``: exact name first, then without a ``provider/`` prefix, else free.

    ``overrides`` (the server's configured table) wins over :data:`DEFAULT_PRICES`.
    """
    if not model:
        return FREE
    table = {**DEFAULT_PRICES, **(overrides or {})}
    bare = model.split("/", 1)[1] if "/" in model else model
    for name in (model, bare):
        if name in table:
            return table[name]
    return FREE
