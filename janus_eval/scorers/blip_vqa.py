"""A transformers BLIP VQA model as DPG-Bench's light VQA backend (default `Salesforce/blip-vqa-base`).

Not the official mPLUG: its numbers are not comparable with the published ones. The tiny offline VQA model
(`janus_eval.scorers.tiny_vqa`) is a BLIP checkpoint too and runs through this class unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from janus_eval.data.cache import quiet_hf_progress
from janus_eval.data.hashing import cached_file_sha256
from janus_eval.scorers.device import check_device
from janus_eval.scorers.hf_weights import resolve_hf_weights
from janus_eval.scorers.vqa import VqaBackend

DEFAULT_BLIP_WEIGHTS = "Salesforce/blip-vqa-base"
DECODING_KEYS = ("max_length", "max_new_tokens", "min_length", "num_beams", "repetition_penalty", "length_penalty")


class BlipVqa(VqaBackend):
    """`BlipForQuestionAnswering.generate` with greedy decoding and the checkpoint's generation settings.

    Questions of one batch share their token length, so no padding ever enters the decoder's cross-attention
    (BLIP attends to every question position): a batch gives the answers each pair gets alone.
    """

    def __init__(self, weights: str = DEFAULT_BLIP_WEIGHTS, device: str = "cpu", label: str | None = None) -> None:
        import torch
        import transformers
        from transformers import BlipForQuestionAnswering, BlipProcessor

        folder, source = resolve_hf_weights(
            weights, None, what="VQA", option="dpg_bench.vqa_weights", extra_patterns=("*.txt",)
        )
        self.device = torch.device(check_device(device))
        self.processor = BlipProcessor.from_pretrained(folder)
        with quiet_hf_progress():
            self.model = BlipForQuestionAnswering.from_pretrained(folder).eval().to(self.device)
        # BLIP's generate hands these to its text decoder, whose own generation config would not see the
        # checkpoint's top-level settings
        settings = self.model.generation_config.to_dict()
        self._decoding = {key: settings[key] for key in DECODING_KEYS if settings.get(key) is not None}
        weight_files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
        self._identity: dict[str, Any] = {
            "backend": "transformers-blip-vqa",
            "weights": label or weights,
            **({} if label else source),
            "weights_sha256": cached_file_sha256(weight_files[0]) if weight_files else None,
            "generation": {"do_sample": False, **self._decoding},
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "device_type": self.device.type,
            "precision": "fp32",
        }

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def answer(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[str]:
        import torch

        tokenizer = self.processor.tokenizer
        by_length: dict[int, list[int]] = {}
        for index, (_, question) in enumerate(pairs):
            by_length.setdefault(len(tokenizer(question)["input_ids"]), []).append(index)
        answers: list[str] = [""] * len(pairs)
        for indices in by_length.values():
            inputs = self.processor(
                images=[pairs[i][0].convert("RGB") for i in indices],
                text=[pairs[i][1] for i in indices],
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                generated = self.model.generate(**inputs, do_sample=False, **self._decoding)
            for index, tokens in zip(indices, generated):
                answers[index] = tokenizer.decode(tokens, skip_special_tokens=True)
        return answers
