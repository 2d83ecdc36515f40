"""Judge usage: what one sample's scoring asked of the judge (in its score record), and the sum over a
result's records with its price (for the manifest). Records, not the process, are summed, so resumed and
data-parallel runs count every grade exactly once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from janus_eval.api import JudgeSettings
from janus_eval.scorers.judge.client import JudgeClient, endpoint_of
from janus_eval.scorers.judge.prices import cost_usd, price_of

_COUNTS = ("requests", "cached", "retries", "prompt_tokens", "completion_tokens", "sent_prompt_tokens",
           "sent_completion_tokens")  # fmt: skip


class UsageTally:
    """Adds up the judge replies behind one sample's score."""

    def __init__(self, client: JudgeClient) -> None:
        self.client = client
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.usage_reported = True
        self.served: set[str] = set()

    def ask(self, messages: list[dict[str, Any]], temperature: float, max_tokens: int, draw: int) -> str:
        """One judge request (or cached reply), counted; the reply's text (the rules' `ask` callable)."""
        reply = self.client.complete(messages, temperature=temperature, max_tokens=max_tokens, draw=draw)
        counts = self.counts
        counts["cached" if reply.cached else "requests"] += 1
        counts["retries"] += reply.retries
        counts["prompt_tokens"] += reply.prompt_tokens
        counts["completion_tokens"] += reply.completion_tokens
        if not reply.cached:
            counts["sent_prompt_tokens"] += reply.prompt_tokens
            counts["sent_completion_tokens"] += reply.completion_tokens
        self.usage_reported = self.usage_reported and reply.usage_reported
        if reply.served_model:
            self.served.add(reply.served_model)
        return reply.text

    def add(self, usage: Mapping[str, Any], reused: bool = False) -> None:
        """Adds a usage recorded earlier (`as_dict` of another tally). `reused`: its replies are reused now (from
        a cache in front of the judge), so they count as cache hits, with their tokens but no request sent."""
        counts = self.counts
        if reused:
            counts["cached"] += int(usage.get("requests", 0)) + int(usage.get("cached", 0))
            counts["prompt_tokens"] += int(usage.get("prompt_tokens", 0))
            counts["completion_tokens"] += int(usage.get("completion_tokens", 0))
        else:
            for key in _COUNTS:
                counts[key] += int(usage.get(key, 0))
        self.usage_reported = self.usage_reported and bool(usage.get("usage_reported", True))
        self.served.update(usage.get("served_models", []))

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "usage_reported": self.usage_reported, "served_models": sorted(self.served)}


def summarize_usage(settings: JudgeSettings, usages: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """The judge's identity, requests, cache hits, tokens and cost over the usages of a result's records.

    `cost_usd` prices every reply behind the scores, `cost_usd_sent` only the requests sent when they were
    scored (not those answered from the cache); both None when no price is known for the judge model.
    """
    served = sorted({model for usage in usages for model in usage.get("served_models", [])})
    totals = {key: sum(int(usage.get(key, 0)) for usage in usages) for key in _COUNTS}
    found = price_of([settings.model, *served], settings.prices)
    reported = all(usage.get("usage_reported", True) for usage in usages)
    cost = cost_sent = None
    if found is not None and reported:
        cost = round(cost_usd(totals["prompt_tokens"], totals["completion_tokens"], found[1]), 6)
        cost_sent = round(cost_usd(totals["sent_prompt_tokens"], totals["sent_completion_tokens"], found[1]), 6)
    price = None
    if found is not None:
        price = {"model": found[0], "usd_per_million_input": found[1][0], "usd_per_million_output": found[1][1]}
    return {
        "api": "openai-chat-completions",
        "endpoint": endpoint_of(settings),
        "model": settings.model,
        "served_models": served,
        **extra,
        "scored_samples": len(usages),
        "requests_sent": totals["requests"],
        "cache_hits": totals["cached"],
        "retries": totals["retries"],
        "prompt_tokens": totals["prompt_tokens"],
        "completion_tokens": totals["completion_tokens"],
        "usage_reported": reported,
        "price": price,
        "cost_usd": cost,
        "cost_usd_sent": cost_sent,
    }
