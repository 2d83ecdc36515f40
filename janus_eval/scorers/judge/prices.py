"""Judge prices: USD per million input and output tokens, per model, and the cost of token counts.

The built-in table holds OpenAI's standard-tier list prices of the judge models that MM-Vet and the
multiple-choice judges have used; prices change, so `--judge-price MODEL=INPUT,OUTPUT` overrides them, and
a model without a price gets no cost (None), never a cost of 0.
"""

from __future__ import annotations

from collections.abc import Mapping

Price = tuple[float, float]  # (USD per 1M input tokens, USD per 1M output tokens)

OPENAI_PRICES: dict[str, Price] = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4-turbo-2024-04-09": (10.0, 30.0),
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4o-2024-05-13": (5.0, 15.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-2024-08-06": (2.5, 10.0),
    "gpt-4o-2024-11-20": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o-mini-2024-07-18": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-2025-04-14": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-3.5-turbo-0125": (0.5, 1.5),
}


def price_of(models: list[str | None], overrides: Mapping[str, Price]) -> tuple[str, Price] | None:
    """The first of `models` (requested name, then served names) with a price: overrides, then the table."""
    for model in models:
        if model is None:
            continue
        for table in (overrides, OPENAI_PRICES):
            if model in table:
                return model, tuple(table[model])  # type: ignore[return-value]
    return None


def cost_usd(prompt_tokens: int, completion_tokens: int, price: Price) -> float:
    """The price of token counts, in USD."""
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
