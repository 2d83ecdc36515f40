"""What the text-to-image protocols here share: the generation options and the prompt -> images request.

GenEval and DPG-Bench both sample `images_per_prompt` images per prompt with classifier-free guidance, each
image from its own seed derived from (base seed, prompt, image index).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from janus_eval.api import ImageRequest, Sample, SampleError, TaskOptions, image_seeds

CFG_WEIGHT_HELP = "classifier-free guidance weight; unset: the model's own paper setting (Janus: 5, JanusFlow: 2)"
MODEL_CFG_WEIGHT = "the model's own (Janus: 5, JanusFlow: 2; the model section says which)"


def cfg_weight_card(cfg_weight: float | None) -> float | str:
    """The guidance weight as the protocol card shows it: the number asked for, or that the model's own applies."""
    return MODEL_CFG_WEIGHT if cfg_weight is None else cfg_weight


class ImageGenerationOptions(TaskOptions):
    """Sampling settings of a generation task (defaults: Janus' generation_inference.py, 4 images a prompt)."""

    images_per_prompt: int = Field(default=4, ge=1, description="images per prompt (GenEval and DPG-Bench: 4)")
    cfg_weight: float | None = Field(default=None, ge=0, description=CFG_WEIGHT_HELP)
    temperature: float = Field(default=1.0, ge=0, description="sampling temperature of image tokens (Janus: 1)")

    def generation_key(self) -> dict[str, Any]:
        """The options that change the images (the rest only change how they are scored)."""
        return {"images_per_prompt": self.images_per_prompt, "cfg_weight": self.cfg_weight,
                "temperature": self.temperature}  # fmt: skip


def prompt_of(sample: Sample) -> str:
    """The sample's `prompt`; SampleError when it is missing or blank."""
    prompt = sample.row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise SampleError(f"sample {sample.id} has no prompt")
    return prompt


def image_request(task: str, sample: Sample, seed: int, options: ImageGenerationOptions) -> ImageRequest:
    """The request for `options.images_per_prompt` images of the sample's prompt, seeded per image."""
    prompt = prompt_of(sample)
    return ImageRequest(
        task=task,
        sample_id=sample.id,
        index=sample.index,
        prompt=prompt,
        seeds=image_seeds(seed, prompt, options.images_per_prompt),
        cfg_weight=options.cfg_weight,
        temperature=options.temperature,
    )
