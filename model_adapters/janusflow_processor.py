"""JanusFlow's tokenizer, prompt ids and image preprocessing, as DeepSeek's JanusFlow `VLChatProcessor` makes them.

`janus/janusflow/models/processing_vlm.py` reads its tags from `processor_config.json` (falling back to its class
defaults), adds every tag the tokenizer lacks as a special token, in a fixed order (image,
generation, begin, end: the ids the model was trained with), expands each image tag into begin-of-image, the image
tokens and end-of-image, and pads with the `<｜▁pad▁｜>` id (else EOS). The image processor is DeepSeek's
`VLMImageProcessor` settings on transformers' Janus image processor (`janus_original_processor`), after DeepSeek's
own resize-and-pad (`janus_image_preprocessing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from janus_eval.model_adapters.janus_image_preprocessing import deepseek_resize_and_pad
from janus_eval.model_adapters.janus_original_processor import build_image_processor, missing_processor_files, read_json
from PIL import Image

from janus_eval.errors import UserError

# JanusFlow's VLChatProcessor defaults, in the order it adds missing tags to the tokenizer.
DEFAULT_TAGS = {
    "image_tag": "<image_placeholder>",
    "image_gen_tag": "<｜begin▁of▁generation｜>",
    "image_start_tag": "<begin_of_image>",
    "image_end_tag": "<end_of_image>",
}
PAD_TAG = "<｜▁pad▁｜>"  # VLChatProcessor sets the pad id from this tag whatever its config says


@dataclass(frozen=True)
class FlowTokens:
    """The special-token ids JanusFlow's prompts use."""

    bos: int | None
    eos: int | None
    pad: int
    image: int
    generation: int
    begin: int
    end: int


class JanusFlowProcessor:
    """Prompt ids and pixel values for JanusFlow, from a checkpoint folder's tokenizer and processor files."""

    def __init__(self, folder: Path, *, image_size: int, num_image_tokens: int) -> None:
        from transformers import TokenizersBackend

        missing = missing_processor_files(folder)
        if missing:
            raise UserError(f"{folder} has no {' or '.join(missing)}: JanusFlow needs its tokenizer and processor files")
        config = read_json(folder / "processor_config.json") if (folder / "processor_config.json").is_file() else {}
        count = config.get("num_image_tokens", num_image_tokens)
        if count != num_image_tokens:
            raise UserError(
                f"{folder / 'processor_config.json'}: num_image_tokens is {count} but the vision tower makes "
                f"{num_image_tokens} image features per image"
            )
        self.num_image_tokens = num_image_tokens
        self.tags = {key: str(config.get(key, default)) for key, default in DEFAULT_TAGS.items()}
        try:
            tokenizer = TokenizersBackend.from_pretrained(str(folder))
        except (OSError, ValueError, TypeError) as exc:
            raise UserError(f"could not load the tokenizer in {folder}: {type(exc).__name__}: {exc}") from None
        for tag in self.tags.values():  # VLChatProcessor.__init__: each missing tag becomes a special token
            if tag not in tokenizer.get_vocab():
                tokenizer.add_special_tokens({"additional_special_tokens": [tag]})
        vocab = tokenizer.get_vocab()
        pad = vocab.get(PAD_TAG, tokenizer.eos_token_id)
        if pad is None:
            raise UserError(f"{folder}: the tokenizer has neither {PAD_TAG!r} nor an EOS token to pad with")
        self.tokenizer = tokenizer
        self.ids = FlowTokens(
            bos=tokenizer.bos_token_id,
            eos=tokenizer.eos_token_id,
            pad=pad,
            image=vocab[self.tags["image_tag"]],
            generation=vocab[self.tags["image_gen_tag"]],
            begin=vocab[self.tags["image_start_tag"]],
            end=vocab[self.tags["image_end_tag"]],
        )
        self.image_processor = build_image_processor(read_json(folder / "preprocessor_config.json"), folder, image_size)
        self.image_size = image_size

    @property
    def image_tag(self) -> str:
        return self.tags["image_tag"]

    def encode(self, text: str) -> list[int]:
        """`tokenizer.encode(text)` with BOS first (DeepSeek's tokenizers prepend it)."""
        ids = list(self.tokenizer.encode(text))
        if self.ids.bos is not None and (not ids or ids[0] != self.ids.bos):
            ids.insert(0, self.ids.bos)
        return ids

    def understanding_ids(self, prompt: str) -> list[int]:
        """A rendered understanding prompt's ids, each image tag expanded into begin, image tokens and end
        (`add_image_token`)."""
        ids: list[int] = []
        for token in self.encode(prompt):
            if token == self.ids.image:
                ids += [self.ids.begin, *([self.ids.image] * self.num_image_tokens), self.ids.end]
            else:
                ids.append(token)
        return ids

    def generation_ids(self, prompt: str) -> list[int]:
        """A rendered generation prompt's ids. DeepSeek appends the generation tag and then drops the last position
        ("we remove the last <bog> token and replace it with t_emb later"), so the tag never reaches the model."""
        return self.encode(prompt + self.tags["image_gen_tag"])[:-1]

    def pixel_values(self, images: list[Image.Image]) -> torch.Tensor | None:
        """(images, 3, size, size) after DeepSeek's resize-and-pad and the image processor's rescale/normalise."""
        if not images:
            return None
        processor: Any = self.image_processor
        squares = [
            deepseek_resize_and_pad(
                image,
                image_size=self.image_size,
                min_size=int(getattr(processor, "min_size", 14)),
                background=tuple(processor.background_color),  # type: ignore[arg-type]
            )
            for image in images
        ]
        return processor(images=squares, return_tensors="pt")["pixel_values"]
