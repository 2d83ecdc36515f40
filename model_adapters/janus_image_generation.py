"""Janus image generation's step loop: classifier-free guidance over a static key/value cache.

The batch holds each image's conditional sequence and its unconditional twin (left-padded). One
prefill, then `num_image_tokens` steps that each feed the sampled code's generation embedding to both
rows. Built for CUDA: the cache is preallocated (StaticCache), the attention masks are built on the
device from a per-row validity vector (no mask logic in transformers that reads values on the host),
the sampler's random numbers are on the device before the first step, so no step waits for the host;
`compile` runs the step through torch.compile (CUDA graphs on CUDA). The same code runs on CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from janus_eval.model_adapters.janus_sampling import ImageCodeSampler, ImageRow
from janus_eval.model_adapters.transformers_compat import cache_kwargs, new_static_cache

COMPILE_CHOICES = ("false", "true", "eager")
# cache lengths are rounded up to a multiple of this, so that prompts of similar length share one
# compiled graph (the extra slots are masked and change nothing)
CACHE_LENGTH_BUCKET = 64
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def unconditional_ids(prompt_ids: Sequence[int], fill_id: int) -> list[int]:
    """The unconditional twin of a generation prompt.

    Official behaviour (generation_inference.py `tokens[i, 1:-1] = pad_id`; transformers keeps BOS
    and BOI likewise): only the first and the last token stay.
    """
    return [prompt_ids[0], *([fill_id] * (len(prompt_ids) - 2)), prompt_ids[-1]]


class ImageTokenLoop:
    """Samples the VQ codes of a batch of image rows with one model; reusable across batches.

    Args:
        model: a transformers JanusForConditionalGeneration.
        pad_token_id: the id put in the padding slots (never attended to).
        uncond_fill_id: the id that replaces the prompt in the unconditional row.
        cfg_dtype: None = guidance in the model's dtype (DeepSeek's); float32 = cast first.
        compile: "false", "true" (torch.compile; CUDA graphs on CUDA) or "eager" (TorchDynamo tracing
            without a compiler, to check the compiled path).
    """

    def __init__(
        self,
        model: Any,
        *,
        pad_token_id: int,
        uncond_fill_id: int,
        cfg_dtype: torch.dtype | None,
        compile: str = "false",
    ) -> None:
        if compile not in COMPILE_CHOICES:
            raise ValueError(f"compile={compile!r}; choose one of {COMPILE_CHOICES}")
        self.model = model
        self.language_model = model.model.language_model
        self.pad_token_id = pad_token_id
        self.uncond_fill_id = uncond_fill_id
        self.cfg_dtype = cfg_dtype
        self.num_image_tokens: int = model.config.vision_config.num_image_tokens
        self.attn_implementation: str = getattr(self.language_model.config, "_attn_implementation", "sdpa")
        self.compile = compile
        self._cache: Any = None
        self._cache_shape: tuple[int, int] | None = None
        self._step: Callable[..., torch.Tensor] = self._decode_step
        if compile != "false":
            self._step = self._compiled_step(compile)

    # ------------------------------------------------------------------ pieces

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def mask_dtype(self) -> torch.dtype:
        return next(self.language_model.parameters()).dtype

    def _compiled_step(self, compile: str) -> Callable[..., torch.Tensor]:
        device = self.device
        if compile == "eager":
            return torch.compile(self._decode_step, backend="eager", fullgraph=False, dynamic=False)
        # reduce-overhead = CUDA graphs: one replay per step instead of hundreds of kernel launches
        mode = "reduce-overhead" if device.type == "cuda" else "default"
        return torch.compile(self._decode_step, mode=mode, fullgraph=False, dynamic=False)

    def _attention_mask(self, allowed: torch.Tensor) -> torch.Tensor:
        """A 4D mask that transformers passes through as it is: boolean for SDPA, additive for eager."""
        if self.attn_implementation == "sdpa":
            return allowed
        zero = torch.zeros((), dtype=self.mask_dtype, device=allowed.device)
        return torch.where(allowed, zero, torch.finfo(self.mask_dtype).min)

    def _cache_for(self, rows: int, length: int) -> Any:
        """The static cache of this batch shape: the previous one reset when the shape repeats (compiled graphs
        stay valid), else a new one (the old one is dropped first, so at most one is alive)."""
        if self._cache is not None and self._cache_shape == (rows, length):
            self._cache.reset()
            return self._cache
        self._cache = None
        self._cache = new_static_cache(self.language_model.config, length)
        self._cache_shape = (rows, length)
        return self._cache

    def _decode_step(
        self, codes: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor, cache_position: torch.Tensor
    ) -> torch.Tensor:
        """One step: codes (2B, 1) -> generation-head logits (2B, codebook)."""
        output = self.language_model(
            inputs_embeds=self.model.prepare_embeddings_for_image_generation(codes),
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            **cache_kwargs(self.language_model, self._cache, cache_position),
        )
        return self.model.model.generation_head(output.last_hidden_state[:, -1, :])

    # ------------------------------------------------------------------ the loop

    @torch.inference_mode()
    def run(self, rows: Sequence[ImageRow]) -> torch.Tensor:
        """The (rows, num_image_tokens) LongTensor of sampled codes."""
        if self.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"image generation runs with attn_implementation {' or '.join(ATTENTION_IMPLEMENTATIONS)}, "
                f"not {self.attn_implementation!r}"
            )
        device = self.device
        count = len(rows)
        conditional = [list(row.prompt_ids) for row in rows]
        sequences = conditional + [unconditional_ids(ids, self.uncond_fill_id) for ids in conditional]
        prompt_length = max(len(ids) for ids in sequences)
        steps = self.num_image_tokens
        # the last sampled code is never fed back: prompt + steps - 1 slots
        length = -(-(prompt_length + steps - 1) // CACHE_LENGTH_BUCKET) * CACHE_LENGTH_BUCKET

        input_ids = torch.full((2 * count, prompt_length), self.pad_token_id, dtype=torch.long)
        key_valid = torch.zeros((2 * count, length), dtype=torch.bool)
        key_valid[:, prompt_length:] = True  # generated codes: every row has all of them
        for index, ids in enumerate(sequences):
            input_ids[index, prompt_length - len(ids) :] = torch.tensor(ids)
            key_valid[index, prompt_length - len(ids) : prompt_length] = True
        real_lengths = torch.tensor([len(ids) for ids in sequences]).unsqueeze(-1)
        input_ids, key_valid, real_lengths = input_ids.to(device), key_valid.to(device), real_lengths.to(device)
        slots = torch.arange(length, device=device)

        # prefill: causal over the real tokens; a padding query also sees itself, so that no row of the
        # attention is empty (an empty row would put NaN into the cache)
        queries = slots[:prompt_length].unsqueeze(-1)
        allowed = (key_valid[:, None, :] & (slots <= queries)) | (slots == queries)
        position_ids = (key_valid[:, :prompt_length].long().cumsum(-1) - 1).clamp(min=0)
        self._cache_for(2 * count, length)
        output = self.language_model(
            inputs_embeds=self.model.get_input_embeddings()(input_ids),
            attention_mask=self._attention_mask(allowed[:, None]),
            position_ids=position_ids,
            use_cache=True,
            **cache_kwargs(self.language_model, self._cache, slots[:prompt_length]),
        )
        logits = self.model.model.generation_head(output.last_hidden_state[:, -1, :])

        sampler = ImageCodeSampler(rows, steps, device, self.cfg_dtype)
        tokens = torch.empty((count, steps), dtype=torch.long, device=device)
        mark_step = getattr(torch.compiler, "cudagraph_mark_step_begin", None) if self.compile == "true" else None
        for step in range(steps):
            tokens[:, step] = sampler(logits[:count], logits[count:], step)
            if step + 1 == steps:
                break
            slot = prompt_length + step
            codes = tokens[:, step].repeat(2).unsqueeze(-1)
            mask = self._attention_mask((key_valid & (slots <= slot))[:, None, None, :])
            if mark_step is not None and device.type == "cuda":
                mark_step()
            logits = self._step(codes, mask, real_lengths + step, slots[slot : slot + 1])
        return tokens
