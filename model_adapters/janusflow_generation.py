"""JanusFlow's velocity field on a batch of prompts: conditional and unconditional rows through the LLM together.

DeepSeek's `generate` (README, demo/app_janusflow.py) stacks each prompt twice, the second copy with every token
but BOS replaced by the pad id and masked out of attention, and feeds the LLM `[prompt, time token, latent tokens]`
at every Euler step. Positions count every prompt token, masked or not, so a row's positions are those it would
have alone. DeepSeek's code means to cache the prompt but keeps an empty cache and runs the whole sequence at every
step; the prompt never attends to later positions, so running it once and reusing its keys and values (cropped back
after each step) gives the same velocities with less work. Rows are left-padded to a common length here, which
causal attention with a padding mask and per-row positions makes invisible to each row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from janus_eval.model_adapters.janusflow_model import JanusFlowModel
from janus_eval.model_adapters.transformers_compat import cache_argument


class PromptBatch:
    """The conditional and unconditional rows of some prompts, run once through the LLM; `velocity` then gives the
    field of the Euler loop for latents of these rows."""

    def __init__(self, model: JanusFlowModel, prompts: Sequence[Sequence[int]], pad_id: int) -> None:
        self.model = model
        self.count = len(prompts)
        device = model.und_begin_embedding.device
        rows = [*prompts, *prompts]
        width = max(len(ids) for ids in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        for index, ids in enumerate(rows):
            start = width - len(ids)
            conditional = index < self.count
            # Official behaviour: the unconditional copy is BOS followed by pad ids that attention never sees.
            input_ids[index, start:] = torch.tensor(ids if conditional else [ids[0], *([pad_id] * (len(ids) - 1))])
            mask[index, start:] = 1 if conditional else 0
            mask[index, start] = 1
            positions[index, start:] = torch.arange(len(ids))
        self.prompt_mask = mask.to(device)
        self.next_position = torch.tensor([len(ids) for ids in rows], device=device)
        self.width = width
        language = model.language_model.model
        from transformers.cache_utils import DynamicCache

        self.cache = DynamicCache(config=language.config)
        language(
            inputs_embeds=model.language_model.get_input_embeddings()(input_ids.to(device)),
            attention_mask=self.prompt_mask,
            position_ids=positions.to(device),
            use_cache=True,
            **{cache_argument(language): self.cache},
        )

    def velocity(self, latents: torch.Tensor, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(conditional, unconditional) velocities of `latents` (one per prompt) at `timesteps`."""
        model = self.model
        tokens, t_emb, skip = model.encode_latents(torch.cat([latents, latents]), torch.cat([timesteps, timesteps]))
        step_input = torch.cat([t_emb.unsqueeze(1), tokens], dim=1)
        length = step_input.shape[1]
        mask = torch.cat([self.prompt_mask, self.prompt_mask.new_ones((self.prompt_mask.shape[0], length))], dim=1)
        positions = self.next_position.unsqueeze(1) + torch.arange(length, device=latents.device)
        language = model.language_model.model
        try:
            hidden = language(
                inputs_embeds=step_input,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{cache_argument(language): self.cache},
            ).last_hidden_state
        finally:
            self.cache.crop(-length)  # back to the prompt's keys and values for the next step
        velocity = model.decode_velocity(hidden[:, 1:], skip, t_emb)
        return velocity[: self.count], velocity[self.count :]
