"""janus-tiny: a tiny, randomly initialised Janus checkpoint built offline for tests and demos.

The checkpoint is written in the transformers Janus format (config, weights, tokenizer,
processor, generation config), so the adapter loads it through exactly the same
`from_pretrained` path as a converted DeepSeek checkpoint. Building is deterministic: the same
builder version always produces byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from janus_eval.data.cache import cache_root, ensure_built, quiet_hf_progress

if TYPE_CHECKING:
    from transformers import (
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessorPil,
        PreTrainedTokenizerFast,
    )

BUILDER_VERSION = 1
TINY_DIR_NAME = f"janus-tiny-v{BUILDER_VERSION}"

# Spellings of the converted DeepSeek tokenizers (deepseek-community/Janus-Pro-*).
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
PAD_TOKEN = "<｜▁pad▁｜>"
IMAGE_TOKEN = "<image_placeholder>"
BOI_TOKEN = "<begin_of_image>"
EOI_TOKEN = "<end_of_image>"
ROLE_TOKENS = ("<|User|>", "<|Assistant|>")

TEXT_HIDDEN = 64
IMAGE_SIZE = 32
PATCH_SIZE = 8
NUM_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # 16: placeholder features and generated tokens
VQ_CHANNEL_MULTIPLIER = (1, 1, 1, 1)  # generated side = 4 patches * 2**3 = 32 px
CODEBOOK_SIZE = 64
BPE_VOCAB_SIZE = 320
SEED = 1234
TEXT_INIT_STD = 0.1

# A fixed corpus for the byte-level BPE merges; changing it changes the checkpoint (bump BUILDER_VERSION).
_CORPUS = (
    "User: Is there a dog in the image? Answer the question using a single word or phrase.",
    "Assistant: Yes. No. The answer is A. The answer is B. Answer with the option's letter.",
    "a photo of a cat, a photo of a dog, a photo of two clocks, a red apple and a blue bench.",
    "What is shown in this image? Please answer yes or no. Hint: the question is about colors.",
    "the quick brown fox jumps over the lazy dog while the image shows a person on a bicycle.",
)


def tiny_checkpoint_dir(cache_dir: Path | None = None) -> Path:
    """Where the janus-tiny checkpoint of the current builder version lives."""
    return (cache_dir if cache_dir is not None else cache_root()) / "models" / TINY_DIR_NAME


def ensure_tiny_checkpoint(cache_dir: Path | None = None) -> Path:
    """Returns the janus-tiny checkpoint folder, building it first if it is not cached yet.

    The files are written to a temporary sibling folder that is renamed into place, so
    concurrent builders never see (or leave) a half-written checkpoint.
    """
    return ensure_built(tiny_checkpoint_dir(cache_dir), build_tiny_checkpoint)


@dataclass(frozen=True)
class TinyShape:
    """Sizes of a tiny Janus; the defaults are janus-tiny, bigger ones serve benchmarks."""

    text_hidden: int = TEXT_HIDDEN
    text_layers: int = 2
    image_size: int = IMAGE_SIZE
    patch_size: int = PATCH_SIZE
    vq_channel_multiplier: tuple[int, ...] = VQ_CHANNEL_MULTIPLIER

    @property
    def num_image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


def build_tiny_checkpoint(out_dir: Path, shape: TinyShape = TinyShape()) -> None:
    """Writes a complete tiny Janus checkpoint (model, tokenizer, processor) into `out_dir`."""
    from transformers import JanusProcessor

    tokenizer = build_tokenizer()
    model = build_model(tokenizer, build_config(tokenizer, shape))
    processor = JanusProcessor(
        image_processor=_build_image_processor(shape.image_size),
        tokenizer=tokenizer,
        use_default_system_prompt=False,
        num_image_tokens=shape.num_image_tokens,
    )
    with quiet_hf_progress():  # a "Writing model shards" bar for a 2 MB file is noise
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)


def build_model(tokenizer: PreTrainedTokenizerFast, config: JanusConfig, seed: int = SEED) -> JanusForConditionalGeneration:
    """A randomly initialised Janus for `config` from a fixed seed, with the special-token ids in its generation config."""
    import torch
    from transformers import GenerationConfig, JanusForConditionalGeneration

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = JanusForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Janus' image mode reads the begin-of-image id from here (AttributeError without it).
        generation_kwargs={"boi_token_id": _token_id(tokenizer, BOI_TOKEN)},
    )
    return model


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with DeepSeek's special tokens, BOS prepended, left padding."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[BOS_TOKEN, EOS_TOKEN, PAD_TOKEN],
        show_progress=False,
    )
    backend.train_from_iterator(list(_CORPUS), trainer=trainer)
    backend.add_special_tokens([IMAGE_TOKEN, BOI_TOKEN, EOI_TOKEN, *ROLE_TOKENS])
    bos_id = backend.token_to_id(BOS_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B",
        special_tokens=[(BOS_TOKEN, bos_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",
        # The dict form creates tokenizer.image_token / .boi_token / .eoi_token, which JanusProcessor reads.
        extra_special_tokens={"image_token": IMAGE_TOKEN, "boi_token": BOI_TOKEN, "eoi_token": EOI_TOKEN},
    )


def build_config(tokenizer: PreTrainedTokenizerFast, shape: TinyShape = TinyShape()) -> JanusConfig:
    """A Janus config: by default Llama text hidden 64 x 2 layers, 32 px / patch 8 vision, 64-code VQ."""
    from transformers import JanusConfig, LlamaConfig

    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.text_hidden,
        intermediate_size=2 * shape.text_hidden,
        num_hidden_layers=shape.text_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        # Wider than the 0.02 default so that the random model's greedy text depends on the prompt.
        initializer_range=TEXT_INIT_STD,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision_config = {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": shape.image_size,
        "patch_size": shape.patch_size,
        "projection_dim": shape.text_hidden,
        # Must equal (image_size / patch_size)^2: placeholder features per image and generated codes.
        "num_image_tokens": shape.num_image_tokens,
    }
    vq_config = {
        "embed_dim": 8,
        "num_embeddings": CODEBOOK_SIZE,
        "latent_channels": 32,
        "base_channels": 32,  # GroupNorm(32) needs multiples of 32
        "channel_multiplier": list(shape.vq_channel_multiplier),
        "num_res_blocks": 1,
        "projection_dim": shape.text_hidden,
        "image_token_embed_dim": shape.text_hidden,
    }
    return JanusConfig(
        text_config=text_config,
        vision_config=vision_config,
        vq_config=vq_config,
        image_token_id=_token_id(tokenizer, IMAGE_TOKEN),
    )


def _build_image_processor(image_size: int) -> JanusImageProcessorPil:
    """DeepSeek's preprocessing (resize long side, pad with grey 127, mean/std 0.5) at `image_size`."""
    from transformers import JanusImageProcessorPil

    return JanusImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        min_size=14,
    )


def _token_id(tokenizer: PreTrainedTokenizerFast, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    assert isinstance(token_id, int)
    return token_id
