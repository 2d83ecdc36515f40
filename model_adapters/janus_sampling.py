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

# the guidance weight of a request that leaves it unset: Janus' generation_inference.py (cfg_weight = 5)
PAPER_CFG_WEIGHT = 5.0


@dataclass(frozen=True)
class ImageRow:
    """One image to generate: which request it belongs to, its prompt ids and its seed."""

    request_index: int
    prompt_ids: list[int]
    request: ImageRequest
    seed: int


class ImageCodeSampler:
    """Classifier-free guidance and per-row sampling of one image code per row and step.

    Each row's uniforms (one per step) are drawn once from its own CPU generator, seeded with the
    row's seed, and moved to the device once; codes are picked by inverse CDF, so a row's image does
    not depend on the other rows of its batch or on the device, and no step synchronises with the host.
    Rows are grouped by their settings once, with their index tensors built on the device up front.

    `cfg_dtype` is the dtype of the guidance arithmetic: None keeps the dtype of the generation
    head's logits (the model's, bf16 on CUDA), as DeepSeek's `generation_inference.py` computes
    `uncond + w * (cond - uncond)`, the softmax and the sampling; float32 casts the logits first.
    """

    def __init__(
        self,
        rows: Sequence[ImageRow],
        num_steps: int,
        device: torch.device | str = "cpu",
        cfg_dtype: torch.dtype | None = None,
    ) -> None:
        self.cfg_dtype = cfg_dtype
        # One draw per row and step, in step order: the same numbers a per-step draw from the same
        # generator gives, so the same seeds give the same images.
        uniforms = [torch.rand(num_steps, generator=torch.Generator().manual_seed(row.seed)) for row in rows]
        self.uniforms = torch.stack(uniforms).to(device) if uniforms else torch.empty((0, num_steps), device=device)
        groups: dict[tuple[float, float, int | None, float | None], list[int]] = {}
        for index, row in enumerate(rows):
            request = row.request
            cfg_weight = PAPER_CFG_WEIGHT if request.cfg_weight is None else request.cfg_weight
            key = (float(cfg_weight), float(request.temperature), request.top_k, request.top_p)
            groups.setdefault(key, []).append(index)
        whole = len(groups) == 1
        # a batch of one setting (the usual case) needs no gather or scatter at all
        self.groups: list[tuple[tuple[float, float, int | None, float | None], torch.Tensor | None]] = [
            (key, None if whole else torch.tensor(indices, device=device)) for key, indices in groups.items()
        ]

    def __call__(self, cond: torch.Tensor, uncond: torch.Tensor, step: int) -> torch.Tensor:
        """The codes of `step` (LongTensor (rows,)) from the conditional and unconditional logits (rows, codebook)."""
        if self.cfg_dtype is not None:
            cond, uncond = cond.to(self.cfg_dtype), uncond.to(self.cfg_dtype)
        uniforms = self.uniforms[:, step]
        if len(self.groups) == 1:
            key, _ = self.groups[0]
            return _sample_group(cond, uncond, uniforms, *key)
        codes = torch.empty(cond.shape[0], dtype=torch.long, device=cond.device)
        for key, index in self.groups:
            assert index is not None
            codes[index] = _sample_group(cond[index], uncond[index], uniforms[index], *key)
        return codes


def guided_logits(cond: torch.Tensor, uncond: torch.Tensor, cfg_weight: float) -> torch.Tensor:
    """`uncond + w * (cond - uncond)` in the logits' own dtype, with `w` a Python number.

    Official behaviour (generation_inference.py): each operation rounds to the model dtype, and the
    weight enters as a scalar (not as a tensor of that dtype), exactly as written there.
    """
    return uncond + cfg_weight * (cond - uncond)


def guided_probs(cond: torch.Tensor, uncond: torch.Tensor, cfg_weight: float, temperature: float) -> torch.Tensor:
    """`softmax(guided_logits / temperature)` in the logits' dtype, as generation_inference.py computes it."""
    return torch.softmax(guided_logits(cond, uncond, cfg_weight) / temperature, dim=-1)


def _sample_group(
    cond: torch.Tensor,
    uncond: torch.Tensor,
    uniforms: torch.Tensor,
    cfg_weight: float,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
) -> torch.Tensor:
    logits = guided_logits(cond, uncond, cfg_weight)
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
    return inverse_cdf(probs, uniforms)


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
    """Index i with cdf[i-1] <= u * total < cdf[i] per row (zero-probability entries are never picked).

    The cumulative sum runs in float32 whatever the dtype of `probs`: torch.multinomial likewise
    accumulates bf16 probabilities in float, so a bf16 distribution is sampled as it stands.
    """
    cdf = probs.float().cumsum(dim=-1)
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
