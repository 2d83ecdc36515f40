"""Writes a transformers-format Janus in DeepSeek's original layout: the inverse of the in-memory conversion.

The result has DeepSeek's config schema (`multi_modality`, sizes left to the named presets unless they
differ), original weight names (fused qkv, batched position embedding, LlamaGen VQ names) and DeepSeek's
tokenizer and processor files, in safetensors or pytorch_model.bin, sharded or not. It serves tests
(round trips, tiny original checkpoints) and trying the original-format loader on janus-tiny:

    python -m janus_eval.model_adapters.janus_original_export janus-tiny /tmp/janus-tiny-original
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from janus_eval.model_adapters.janus_original_config import original_config, parse_original_config
from janus_eval.model_adapters.janus_original_processor import DEFAULT_TAGS
from janus_eval.model_adapters.janus_original_weights import WeightMapping

from janus_eval.errors import ArgumentParser, UserError, report_error

if TYPE_CHECKING:
    from transformers import JanusForConditionalGeneration, JanusProcessor


def original_state_dict(model: JanusForConditionalGeneration) -> dict[str, torch.Tensor]:
    """The model's weights under their original names (lm_head left out when it is tied, as save_pretrained does)."""
    config = original_config(model.config)
    mapping = WeightMapping(parse_original_config(config, "export"))
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return mapping.to_original(state)


def write_original_checkpoint(
    model: JanusForConditionalGeneration,
    processor: JanusProcessor | None,
    out_dir: Path,
    *,
    safetensors: bool = True,
    shards: int = 1,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Writes config.json, the weights (in `shards` files) and, given a processor, DeepSeek's processor files.

    `extra_tensors` are added under their own (original) names, e.g. the SigLIP pooling head that the
    conversion drops.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(original_config(model.config), indent=2))
    tensors = {**original_state_dict(model), **(extra_tensors or {})}
    write_weights(tensors, out_dir, safetensors=safetensors, shards=shards)
    if processor is not None:
        write_processor_files(processor, out_dir)
    return out_dir


def write_weights(tensors: dict[str, torch.Tensor], out_dir: Path, *, safetensors: bool, shards: int) -> None:
    """One file or `shards` files with a weight-map index, named as transformers' save_pretrained names them."""
    groups: list[list[str]] = [[] for _ in range(shards)]
    sizes = [0] * shards
    for name in sorted(tensors):  # each tensor to the lightest file so far: shards of about equal size
        lightest = sizes.index(min(sizes))
        groups[lightest].append(name)
        sizes[lightest] += tensors[name].numel() * tensors[name].element_size()
    stem, suffix = ("model", ".safetensors") if safetensors else ("pytorch_model", ".bin")
    weight_map = {}
    for number, group in enumerate(groups, start=1):
        file_name = f"{stem}{suffix}" if shards == 1 else f"{stem}-{number:05d}-of-{shards:05d}{suffix}"
        part = {name: tensors[name].detach().contiguous().clone() for name in group}
        if safetensors:
            from safetensors.torch import save_file

            save_file(part, str(out_dir / file_name), metadata={"format": "pt"})
        else:
            torch.save(part, out_dir / file_name)
        weight_map.update(dict.fromkeys(group, file_name))
    if shards > 1:
        index = {"metadata": {}, "weight_map": weight_map}
        (out_dir / f"{stem}{suffix}.index.json").write_text(json.dumps(index, indent=2))


def write_processor_files(processor: JanusProcessor, out_dir: Path) -> None:
    """DeepSeek's tokenizer.json, tokenizer_config.json, special_tokens_map.json, preprocessor and processor configs."""
    tokenizer = processor.tokenizer
    image_processor = processor.image_processor
    tokenizer.backend_tokenizer.save(str(out_dir / "tokenizer.json"))
    specials = {"bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "pad_token": tokenizer.pad_token}
    _write_json(
        out_dir / "tokenizer_config.json",
        {
            **specials,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 16384,
            "tokenizer_class": "LlamaTokenizer",  # what DeepSeek's files say; the file is byte-level BPE
            "unk_token": None,
            "use_default_system_prompt": True,
        },
    )
    role_tokens = [token for token in ("<|User|>", "<|Assistant|>") if token in tokenizer.get_vocab()]
    _write_json(out_dir / "special_tokens_map.json", {**specials, "additional_special_tokens": [processor.image_token, *role_tokens]})
    size = int(image_processor.size["height"])
    _write_json(
        out_dir / "preprocessor_config.json",
        {
            "background_color": list(image_processor.background_color),
            "do_normalize": bool(image_processor.do_normalize),
            "image_mean": list(image_processor.image_mean),
            "image_processor_type": "VLMImageProcessor",
            "image_size": size,
            "image_std": list(image_processor.image_std),
            "min_size": int(getattr(image_processor, "min_size", 14)),
            "processor_class": "VLChatProcessor",
            "rescale_factor": float(image_processor.rescale_factor),
        },
    )
    _write_json(
        out_dir / "processor_config.json",
        {
            "add_special_token": False,
            "ignore_id": -100,
            "image_tag": processor.image_token,
            "image_start_tag": tokenizer.boi_token,
            "image_end_tag": tokenizer.eoi_token,
            "pad_tag": DEFAULT_TAGS["pad_tag"],
            "mask_prompt": True,
            "num_image_tokens": int(processor.num_image_tokens),
            "processor_class": "VLChatProcessor",
            "sft_format": "deepseek",
        },
    )


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: a transformers-format Janus folder (or janus-tiny) written out in the original layout."""
    parser = ArgumentParser(prog="python -m janus_eval.model_adapters.janus_original_export", description=main.__doc__)
    parser.add_argument("source", help="a transformers-format Janus folder, or janus-tiny")
    parser.add_argument("out_dir", type=Path, help="where to write the original-format checkpoint")
    parser.add_argument("--bin", action="store_true", help="pytorch_model.bin instead of safetensors")
    parser.add_argument("--shards", type=int, default=1, help="number of weight files (default 1)")
    args = parser.parse_args(argv)
    try:
        from transformers import AutoProcessor, JanusForConditionalGeneration

        if args.source == "janus-tiny":
            from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint

            source = ensure_tiny_checkpoint()
        else:
            source = Path(args.source)
            if not (source / "config.json").is_file():
                raise UserError(f"{source} is not a checkpoint folder (no config.json)")
        model = JanusForConditionalGeneration.from_pretrained(source)
        write_original_checkpoint(
            model, AutoProcessor.from_pretrained(source), args.out_dir, safetensors=not args.bin, shards=max(1, args.shards)
        )
    except UserError as error:
        return report_error(str(error))
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
