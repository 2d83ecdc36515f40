"""A tiny random BLIP VQA checkpoint for DPG-Bench's tests and demo, built offline and deterministically, cached.

It is an ordinary transformers checkpoint folder (config, weights, processor with a 48-word vocabulary) that
`janus_eval.scorers.blip_vqa.BlipVqa` loads like any other. Its answers are noise, but a mix of "yes", "no" and
other words that depends on the tile and the question, so the demo exercises every scoring path.
"""

from __future__ import annotations

from pathlib import Path

from janus_eval.data.cache import cache_root, ensure_built, quiet_hf_progress

TINY_VQA_VERSION = 1
TINY_VQA_DIR = f"dpg-blip-vqa-tiny-v{TINY_VQA_VERSION}"
TINY_VQA_LABEL = f"janus-eval tiny BLIP VQA v{TINY_VQA_VERSION}"
TINY_VQA_SEED = 1
TINY_IMAGE_SIZE = 32
# the decoder's greedy answer is one token (as a real VQA model's yes/no answer is one word)
TINY_MAX_NEW_TOKENS = 1
# Random weights of the default 0.02 scale make every answer the same; 0.2 lets the tile and the question
# matter. The "no" row of the output layer is the negated "yes" row, scaled up, and the two biases are set so
# that calibration inputs split evenly: yes and no then both occur, with an occasional other word.
TINY_INIT_RANGE = 0.2
TINY_YES_NO_GAIN = 10.0
TINY_YES_NO_BIAS = 3.0
CALIBRATION_SEED = 123
CALIBRATION_QUESTIONS = (
    "is there a red cat?", "are there two dogs?", "is the image a photo?", "is there a small green dog?",
)  # fmt: skip
VOCABULARY = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "yes", "no", "is", "there", "a", "the", "of", "in",
    "on", "?", ",", ".", "red", "blue", "green", "white", "black", "cat", "dog", "an", "are", "and", "with",
    "left", "right", "above", "below", "two", "three", "image", "photo", "small", "large", "man", "woman",
    "tree", "sky", "table", "wooden", "does", "have", "text",
)  # fmt: skip


def tiny_vqa_dir(cache_dir: Path | None = None) -> Path:
    """Where the tiny VQA checkpoint of the current builder version lives."""
    return (cache_dir if cache_dir is not None else cache_root()) / "models" / TINY_VQA_DIR


def ensure_tiny_vqa(cache_dir: Path | None = None) -> Path:
    """The tiny VQA checkpoint folder, built (deterministically, offline) if not cached yet."""
    return ensure_built(tiny_vqa_dir(cache_dir), build_tiny_vqa)


def build_tiny_vqa(out_dir: Path) -> None:
    """Writes a random BLIP VQA model (2 layers x 32 wide, 32-pixel images) with its processor."""
    import numpy as np
    import torch
    from PIL import Image
    from transformers import BertTokenizerFast, BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    words = {word: index for index, word in enumerate(VOCABULARY)}
    tokenizer = BertTokenizerFast(vocab=words, do_lower_case=True, bos_token="[DEC]")
    common = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "initializer_range": TINY_INIT_RANGE}  # fmt: skip
    config = BlipConfig(
        text_config={**common, "vocab_size": len(words), "max_position_embeddings": 128, "encoder_hidden_size": 32,
                     "pad_token_id": words["[PAD]"], "sep_token_id": words["[SEP]"], "bos_token_id": words["[DEC]"]},
        vision_config={**common, "image_size": TINY_IMAGE_SIZE, "patch_size": 8},
        projection_dim=32,
    )  # fmt: skip
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE}),
        tokenizer=tokenizer,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_VQA_SEED)
        model = BlipForQuestionAnswering(config).eval()
    model.generation_config.max_new_tokens = TINY_MAX_NEW_TOKENS
    head = model.text_decoder.cls.predictions
    yes, no = words["yes"], words["no"]
    with torch.no_grad():
        head.decoder.weight[yes].mul_(TINY_YES_NO_GAIN)
        head.decoder.weight[no].copy_(-head.decoder.weight[yes])
        head.bias.zero_()
        rng = np.random.default_rng(CALIBRATION_SEED)
        margins = []
        for index in range(16):
            image = Image.fromarray(rng.integers(0, 256, (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3), dtype=np.uint8))
            inputs = processor(images=image, text=CALIBRATION_QUESTIONS[index % 4], return_tensors="pt")
            out = model.generate(**inputs, max_new_tokens=1, output_scores=True, return_dict_in_generate=True)
            margins.append(float(out.scores[0][0, yes] - out.scores[0][0, no]))
        median = float(np.median(margins))
        head.bias[yes] = TINY_YES_NO_BIAS - median / 2
        head.bias[no] = TINY_YES_NO_BIAS + median / 2
    with quiet_hf_progress():
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
