"""DeepSeek's original-format Janus checkpoints (Janus-1.3B, Janus-Pro, training outputs) converted in memory.

`config.json` with `model_type` "multi_modality" marks the format. Its config becomes a transformers
JanusConfig (janus_original_config), the model is built for it without random initialisation, and the
original tensors are renamed, split and copied in one shard at a time (janus_original_weights), so no
converted copy is ever written and no second copy of the weights is held. The processor comes from the
folder's own tokenizer and processor files or, for a training checkpoint without them, from a named
base model (`processor_from`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from janus_eval.model_adapters.janus_hub import snapshot
from janus_eval.model_adapters.janus_original_config import (
    OriginalArchitecture,
    is_original_config,
    janus_config,
    parse_original_config,
)
from janus_eval.model_adapters.janus_original_processor import (
    SIDE_FILES,
    build_processor,
    missing_processor_files,
    read_json,
)
from janus_eval.model_adapters.janus_original_weights import WEIGHT_FILES, WeightMapping, load_weights, weight_files

from janus_eval.data.hashing import hash_files
from janus_eval.errors import UserError

if TYPE_CHECKING:
    from transformers import JanusForConditionalGeneration, JanusProcessor

# Bump when a change of the conversion can change a converted model's outputs (it is part of the identity).
CONVERSION_VERSION = 1
SOURCE_FORMAT = "deepseek-original"
TRANSFORMERS_FORMAT = "transformers"
TRANSFORMERS_MODEL_TYPE = "janus"
PROCESSOR_FROM_EXAMPLE = "processor_from=deepseek-ai/Janus-Pro-7B"


def checkpoint_format(config: dict[str, Any], where: str) -> str:
    """`transformers` or `deepseek-original`, from a config.json; UserError for any other model_type."""
    model_type = config.get("model_type")
    if model_type == TRANSFORMERS_MODEL_TYPE:
        return TRANSFORMERS_FORMAT
    if is_original_config(config):
        return SOURCE_FORMAT
    raise UserError(
        f"{where}: config.json has model_type {model_type!r}, not a Janus checkpoint: expected "
        f"{TRANSFORMERS_MODEL_TYPE!r} (transformers format) or 'multi_modality' (DeepSeek's original format)"
    )


def hub_original_folder(repo_id: str, revision: str | None) -> Path:
    """The snapshot of an original-format hub repository: configs, tokenizer, then safetensors or .bin weights."""
    folder = snapshot(repo_id, revision, ["*.json", "*.safetensors"])
    if not any((folder / name).is_file() for name in WEIGHT_FILES[:2]):
        folder = snapshot(repo_id, revision, ["*.json", "*.bin"])
    return folder


@dataclass(frozen=True)
class ProcessorSource:
    """Where a processor comes from when the checkpoint has none: a local folder or a hub repository."""

    folder: Path
    provenance: dict[str, Any]


def processor_source(location: str) -> ProcessorSource:
    """Resolves `processor_from=<hub id or folder>` to a local folder (hub files from the cache when offline)."""
    folder = Path(location).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        present = sorted(folder / name for name in SIDE_FILES if (folder / name).is_file())
        return ProcessorSource(folder, {"location": str(folder), "files_sha256": hash_files(present, folder)})
    if "/" not in location or location.startswith((".", "/", "~")):
        raise UserError(f"processor_from={location!r} is neither a folder nor a Hugging Face Hub id (owner/name)")
    folder = snapshot(location, None, list(SIDE_FILES))
    return ProcessorSource(folder, {"location": location, "commit": folder.name})


def check_processor_files(folder: Path, processor_from: ProcessorSource | None) -> None:
    """UserError when the tokenizer/processor files are missing (from the checkpoint, or from processor_from)."""
    missing = missing_processor_files(folder)
    if not missing:
        return
    if processor_from is None:
        raise UserError(
            f"{folder} has no {' or '.join(missing)}: a training checkpoint without processor files? Take them "
            f"from its base model with --model-args {PROCESSOR_FROM_EXAMPLE} (a hub id or a folder)"
        )
    raise UserError(f"processor_from {processor_from.provenance['location']}: no {' or '.join(missing)} there")


def load_original(
    folder: Path,
    *,
    dtype: torch.dtype,
    device: torch.device,
    attn_implementation: str | None = None,
    processor_from: ProcessorSource | None = None,
) -> tuple[JanusForConditionalGeneration, JanusProcessor, dict[str, Any]]:
    """Model, processor and provenance (for the identity) of an original-format checkpoint folder."""
    where = str(folder)
    arch = parse_original_config(read_json(folder / "config.json"), where)
    processor_folder = processor_from.folder if processor_from else folder
    check_processor_files(processor_folder, processor_from)
    processor = build_processor(
        processor_folder, image_size=arch.vision.image_size, num_image_tokens=arch.vision.num_patches
    )
    model = build_model(arch, processor, dtype=dtype, device=device, attn_implementation=attn_implementation)
    load_weights(model, weight_files(folder), WeightMapping(arch))
    if model.config.tie_word_embeddings:
        model.tie_weights()
    model.eval()
    provenance: dict[str, Any] = {"source_format": SOURCE_FORMAT, "conversion_version": CONVERSION_VERSION}
    if processor_from is not None:
        provenance["processor_from"] = processor_from.provenance
    return model, processor, provenance


def build_model(
    arch: OriginalArchitecture,
    processor: JanusProcessor,
    *,
    dtype: torch.dtype,
    device: torch.device,
    attn_implementation: str | None,
) -> JanusForConditionalGeneration:
    """An uninitialised JanusForConditionalGeneration for the converted config, on `device` in `dtype`.

    Weight initialisation is skipped (every parameter is overwritten by the checkpoint); buffers such as
    rotary frequencies and position ids are computed as usual.
    """
    from transformers import GenerationConfig, JanusForConditionalGeneration
    from transformers.initialization import no_init_weights

    tokenizer = processor.tokenizer
    ids = {
        "image": tokenizer.convert_tokens_to_ids(processor.image_token),
        "boi": tokenizer.convert_tokens_to_ids(tokenizer.boi_token),
        "eoi": tokenizer.convert_tokens_to_ids(tokenizer.eoi_token),
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
        "pad": tokenizer.pad_token_id,
    }
    config = janus_config(
        arch, image_token_id=ids["image"], bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"]
    )
    vocab_size = config.text_config.vocab_size
    too_large = {name: token for name, token in ids.items() if token is not None and token >= vocab_size}
    if too_large:
        raise UserError(
            f"the tokenizer does not fit the checkpoint: token id(s) {too_large} are beyond the model's "
            f"vocab_size {vocab_size}"
        )
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    with no_init_weights(), torch.device(device):
        model = JanusForConditionalGeneration._from_config(config, **kwargs)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["pad"],
        # Janus' own image mode reads the begin-of-image id from here.
        generation_kwargs={"boi_token_id": ids["boi"]},
    )
    return model
