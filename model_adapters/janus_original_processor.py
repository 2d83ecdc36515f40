"""The JanusProcessor of an original-format Janus folder: DeepSeek's tokenizer, image processor and processor files.

DeepSeek's `VLChatProcessor` reads `processor_config.json` (image tags, pad tag, image token count)
and `preprocessor_config.json` (`VLMImageProcessor`: size, mean/std, `do_normalize`, background); the
tokenizer is a byte-level BPE `tokenizer.json`. As in transformers' `convert_janus_weights_to_hf.py`, the
image tags become the tokenizer's image/boi/eoi special tokens, but the image token count is taken from
the checkpoint (the script leaves the processor at its default of 576 whatever the checkpoint).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from janus_eval.errors import UserError

if TYPE_CHECKING:
    from transformers import JanusProcessor

REQUIRED_FILES = ("tokenizer.json", "preprocessor_config.json")
SIDE_FILES = (*REQUIRED_FILES, "tokenizer_config.json", "special_tokens_map.json", "processor_config.json")
# VLChatProcessor's defaults (janus/models/processing_vlm.py).
DEFAULT_TAGS = {
    "image_tag": "<image_placeholder>",
    "image_start_tag": "<begin_of_image>",
    "image_end_tag": "<end_of_image>",
    "pad_tag": "<｜▁pad▁｜>",
}


@dataclass(frozen=True)
class ProcessorTags:
    """The special tokens DeepSeek's processor uses, as named in processor_config.json."""

    image_tag: str
    image_start_tag: str
    image_end_tag: str
    pad_tag: str
    num_image_tokens: int | None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a checkpoint file; UserError when it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"could not read {path}: {exc}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} does not hold a JSON object")
    return value


def missing_processor_files(folder: Path) -> list[str]:
    """The required tokenizer/processor files a folder lacks (training checkpoints often have none)."""
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def processor_tags(folder: Path) -> ProcessorTags:
    config = read_json(folder / "processor_config.json") if (folder / "processor_config.json").is_file() else {}
    count = config.get("num_image_tokens")
    return ProcessorTags(
        **{key: str(config.get(key, default)) for key, default in DEFAULT_TAGS.items()},
        num_image_tokens=count if isinstance(count, int) else None,
    )


def build_processor(folder: Path, *, image_size: int, num_image_tokens: int) -> JanusProcessor:
    """A JanusProcessor from an original folder's tokenizer and processor files, for a model of these sizes."""
    from transformers import JanusProcessor, TokenizersBackend

    tags = processor_tags(folder)
    if tags.num_image_tokens is not None and tags.num_image_tokens != num_image_tokens:
        raise UserError(
            f"{folder / 'processor_config.json'}: num_image_tokens is {tags.num_image_tokens} but the vision tower "
            f"makes {num_image_tokens} image features per image"
        )
    try:
        # DeepSeek's tokenizers are byte-level BPE (LlamaTokenizerFast in their tokenizer_config.json):
        # tokenizer.json as it is, which is what transformers 5 loads for them anyway.
        tokenizer = TokenizersBackend.from_pretrained(
            str(folder),
            extra_special_tokens={
                "image_token": tags.image_tag,
                "boi_token": tags.image_start_tag,
                "eoi_token": tags.image_end_tag,
            },
        )
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"could not load the tokenizer in {folder}: {type(exc).__name__}: {exc}") from None
    vocab = tokenizer.get_vocab()
    for tag in (tags.image_tag, tags.image_start_tag, tags.image_end_tag):
        if tag not in vocab:
            raise UserError(f"{folder / 'tokenizer.json'}: the tokenizer has no {tag!r} token")
    if tokenizer.pad_token is None:
        # VLChatProcessor pads with its pad tag whatever the tokenizer says.
        tokenizer.pad_token = tags.pad_tag if tags.pad_tag in vocab else tokenizer.eos_token
    tokenizer.padding_side = "left"
    image_processor = build_image_processor(read_json(folder / "preprocessor_config.json"), folder, image_size)
    return JanusProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        use_default_system_prompt=False,
        num_image_tokens=num_image_tokens,
    )


def build_image_processor(config: Mapping[str, Any], folder: Path, image_size: int) -> Any:
    """transformers' JanusImageProcessor with the settings of DeepSeek's VLMImageProcessor config."""
    try:
        from transformers import JanusImageProcessor as ImageProcessor
    except ImportError:  # no torchvision: transformers' PIL backend
        from transformers import JanusImageProcessorPil as ImageProcessor

    size = config.get("image_size", image_size)
    if size != image_size:
        raise UserError(
            f"{folder / 'preprocessor_config.json'}: image_size is {size} but the vision tower takes {image_size}"
        )
    kwargs: dict[str, Any] = {"size": {"height": size, "width": size}}
    for key in ("do_normalize", "image_mean", "image_std", "min_size", "rescale_factor"):
        if key in config:
            kwargs[key] = config[key]
    image_processor = ImageProcessor(**kwargs)
    if "background_color" in config:  # JanusImageProcessor derives it from the mean; DeepSeek reads it
        image_processor.background_color = tuple(int(channel) for channel in config["background_color"])
    return image_processor
