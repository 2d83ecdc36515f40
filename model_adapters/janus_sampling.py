"""Sampling pieces of the Janus adapter: per-row seeded samplers, logit filters, token limits.

Every row draws from its own seeded generator, so an output never depends on the batch it was in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from janus_eval.api import ImageRequest, TextRequest


@dataclass(frozen=True)
class ImageRow:
    """One image to generate: which request it belongs to, its prompt ids and its seed."""

    request_index: int
    prompt_ids: list[int]
    request: ImageRequest
    seed: int


class ImageCodeSampler:
    """Per-row temperature/top-k/top-p sampling, each row drawing from its own seeded generator.

    Uniforms come from CPU generators (one draw per row and step) and pick the code by inverse
    CDF, so a row's draws do not depend on the other rows in the batch or on the device.
    """

    def __init__(self, rows: Sequence[ImageRow]) -> None:
        self.generators = [torch.Generator().manual_seed(row.seed) for row in rows]
        groups: dict[tuple[float, int | None, float | None], list[int]] = {}
        for index, row in enumerate(rows):
            request = row.request
            groups.setdefault((float(request.temperature), request.top_k, request.top_p), []).append(index)
        self.groups = list(groups.items())

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        uniforms = torch.stack([torch.rand((), generator=generator) for generator in self.generators])
        uniforms = uniforms.to(logits.device)
        codes = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
        for (temperature, top_k, top_p), indices in self.groups:
            index = torch.tensor(indices, device=logits.device)
            group_logits = logits[index]
            if temperature <= 0:
                codes[index] = group_logits.argmax(dim=-1)
                continue
            probs = torch.softmax(filter_logits(group_logits / temperature, top_k, top_p), dim=-1)
            codes[index] = inverse_cdf(probs, uniforms[index])
        return codes


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Top-k then top-p (nucleus) filtering, as transformers' warpers order and define them."""
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        sorted_probs = sorted_logits.softmax(dim=-1)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        remove_sorted = mass_before >= top_p
        remove_sorted[..., 0] = False
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Index i with cdf[i-1] <= u * total < cdf[i] per row (zero-probability entries are never picked)."""
    cdf = probs.cumsum(dim=-1)
    targets = (uniforms * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, targets, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)


class SeededRowSampler:
    """Logits processor (duck-typed for `generate`) for text: rows with temperature > 0 sample from their own seeded generator.

    The chosen token is left as the only finite score, so the greedy step of `generate` picks it;
    rows at temperature 0 pass through untouched (plain greedy).
    """

    def __init__(self, temperatures: Sequence[float], seeds: Sequence[int]) -> None:
        self.temperatures = [float(temperature) for temperature in temperatures]
        self.sampled_rows = [index for index, temperature in enumerate(self.temperatures) if temperature > 0]
        self.generators = {index: torch.Generator().manual_seed(seeds[index]) for index in self.sampled_rows}

    @property
    def active(self) -> bool:
        return bool(self.sampled_rows)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not self.sampled_rows:
            return scores
        index = torch.tensor(self.sampled_rows, device=scores.device)
        temperatures = torch.tensor([self.temperatures[row] for row in self.sampled_rows], device=scores.device)
        probs = torch.softmax(scores[index].float() / temperatures.unsqueeze(-1), dim=-1)
        uniforms = torch.stack([torch.rand((), generator=self.generators[row]) for row in self.sampled_rows])
        chosen = inverse_cdf(probs, uniforms.to(scores.device))
        forced = torch.full_like(scores[index], float("-inf"))
        forced.scatter_(-1, chosen.unsqueeze(-1), 0.0)
        scores = scores.clone()
        scores[index] = forced
        return scores


class PerRowTokenLimit:
    """Stopping criterion (duck-typed for `generate`): each row stops at its own `max_new_tokens`."""

    def __init__(self, prompt_length: int, limits: torch.Tensor) -> None:
        self.prompt_length = prompt_length
        self.limits = limits

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        generated = input_ids.shape[1] - self.prompt_length
        return (generated >= self.limits).to(input_ids.device)


def text_seed(base_seed: int, request: TextRequest) -> int:
    """A per-request sampling seed from (adapter seed, task, sample id): independent of batching."""
    digest = hashlib.sha256(f"{base_seed}\x00{request.task}\x00{request.sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF
