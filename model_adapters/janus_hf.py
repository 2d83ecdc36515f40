"""DeepSeek Janus / Janus-Pro through transformers' native port (JanusForConditionalGeneration).

Understanding: batched greedy decoding with the paper's "deepseek" prompt template. Generation:
our own classifier-free-guidance sampling loop, so that every image is drawn with its own seeded
generator and never depends on the batch it was generated in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from collections.abc import Iterator, Mapping, Sequence

import torch
from PIL import Image

from janus_eval.api import (
    ImageOutput,
    ImageRequest,
    ModelAdapter,
    ModelSpec,
    RequestKind,
    TextOutput,
    TextRequest,
)
from janus_eval.errors import UserError
from janus_eval.model_adapters.chat_template import (
    ROLE_SETS,
    render_chat,
    render_generation_prompt,
)
from janus_eval.model_adapters.janus_tiny import BUILDER_VERSION, ensure_tiny_checkpoint
from janus_eval.registry import register_model

if TYPE_CHECKING:
    from transformers import JanusForConditionalGeneration, JanusProcessor

ADAPTER_NAME = "janus_hf"
TINY_ALIAS = "janus-tiny"
# Converted (transformers-format) checkpoints on the Hub.
HUB_IDS: dict[str, str] = {
    "janus-pro-1b": "deepseek-community/Janus-Pro-1B",
    "janus-pro-7b": "deepseek-community/Janus-Pro-7B",
}
NEEDS_LOCAL_PATH = ("janus-1.3b",)
REFERENCE_KEYS = ("janus-pro-1b", "janus-pro-7b", "janus-1.3b")
PAD_TAG = "<｜▁pad▁｜>"

DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
}
KNOWN_ARGS = (
    "model",
    "label",
    "published_as",
    "chat_roles",
    "gen_roles",
    "batch_size",
    "image_batch_size",
    "seed",
    "attn_implementation",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
CONVERTER_HINT = (
    "convert the original DeepSeek weights with transformers' "
    "src/transformers/models/janus/convert_janus_weights_to_hf.py (in the transformers git repository, "
    "not in the wheel) and pass the output folder with --model-path DIR"
)


@dataclass(frozen=True)
class _Source:
    """Where the weights come from: a hub id (with revision) or a local folder."""

    alias: str
    location: str  # hub id or absolute path
    is_local: bool
    is_tiny: bool = False


@register_model(TINY_ALIAS, *HUB_IDS, *NEEDS_LOCAL_PATH)
class JanusHFAdapter(ModelAdapter):
    """Janus-family models in the transformers format (hub id or local folder), text and image.

    Adapter arguments (`--model-args key=value,...`): `model` (hub id or folder, janus_hf only),
    `label`, `published_as` (reference key of the published numbers), `chat_roles` and
    `gen_roles` (`plain` = User/Assistant, `special` = <|User|>/<|Assistant|>), `batch_size`
    (requests per text forward), `image_batch_size` (images per generation forward; each uses a
    conditional and an unconditional sequence), `seed` (text sampling at temperature > 0),
    `attn_implementation` (passed to from_pretrained).
    """

    name: ClassVar[str] = ADAPTER_NAME
    supports: ClassVar[frozenset[RequestKind]] = frozenset({"text", "image"})
    description: ClassVar[str] = (
        "DeepSeek Janus/Janus-Pro via transformers' JanusForConditionalGeneration "
        "(aliases: janus-tiny, janus-pro-1b, janus-pro-7b, janus-1.3b; janus_hf needs --model-path or model=<hub id>)"
    )

    def __init__(
        self,
        spec: ModelSpec,
        source: _Source,
        model: JanusForConditionalGeneration,
        processor: JanusProcessor,
        *,
        device: torch.device,
        dtype: torch.dtype,
        commit: str | None,
        chat_roles: str,
        gen_roles: str,
        batch_size: int | None,
        image_batch_size: int | None,
        seed: int,
    ) -> None:
        self.spec = spec
        self.source = source
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.device = device
        self.dtype = dtype
        self.commit = commit
        self.chat_roles = chat_roles
        self.gen_roles = gen_roles
        self.batch_size = batch_size
        self.image_batch_size = image_batch_size
        self.seed = seed

        generation_config = model.generation_config
        self.bos_token_id: int | None = _first_id(generation_config.bos_token_id, self.tokenizer.bos_token_id)
        eos = generation_config.eos_token_id
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        self.eos_token_ids: list[int] = (
            list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
        )
        self.pad_token_id: int = _first_id(
            generation_config.pad_token_id, self.tokenizer.pad_token_id, *self.eos_token_ids
        )
        # generation_inference.py fills the unconditional prompt with the id of DeepSeek's pad tag.
        pad_tag_id = self.tokenizer.convert_tokens_to_ids(PAD_TAG) if PAD_TAG in self.tokenizer.get_vocab() else None
        self.uncond_fill_id: int = pad_tag_id if pad_tag_id is not None else self.pad_token_id
        self.num_image_tokens: int = model.config.vision_config.num_image_tokens  # type: ignore[union-attr]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> JanusHFAdapter:
        """Resolves the alias, validates options and loads model + processor (UserError on bad input)."""
        args = dict(spec.args)
        unknown = sorted(set(args) - set(KNOWN_ARGS))
        if unknown:
            raise UserError(
                f"unknown argument(s) for model {spec.name!r}: {', '.join(unknown)}; "
                f"valid arguments: {', '.join(KNOWN_ARGS)}"
            )
        chat_roles = _choice(args, "chat_roles", "plain", tuple(ROLE_SETS))
        gen_roles = _choice(args, "gen_roles", "special", tuple(ROLE_SETS))
        batch_size = _positive_int(args, "batch_size")
        image_batch_size = _positive_int(args, "image_batch_size")
        seed = _int(args, "seed", 0)
        if spec.dtype not in ("auto", *DTYPES):
            raise UserError(f"dtype {spec.dtype!r} is not supported; choose one of: auto, {', '.join(DTYPES)}")
        device = _resolve_device(spec.device)
        dtype = DTYPES[spec.dtype] if spec.dtype != "auto" else _auto_dtype(device)

        source = _resolve_source(spec, args)
        model, processor, commit = _load(source, spec, dtype, device, args.get("attn_implementation"))
        return cls(
            spec,
            source,
            model,
            processor,
            device=device,
            dtype=dtype,
            commit=commit,
            chat_roles=chat_roles,
            gen_roles=gen_roles,
            batch_size=batch_size,
            image_batch_size=image_batch_size,
            seed=seed,
        )

    # ------------------------------------------------------------------ naming

    @property
    def label(self) -> str:
        if self.spec.args.get("label"):
            return self.spec.args["label"]
        if self.source.alias != ADAPTER_NAME:
            return self.source.alias
        if self.source.is_local:
            return Path(self.source.location).name
        return self.source.location.rstrip("/").split("/")[-1]

    @property
    def reference_key(self) -> str | None:
        if self.spec.args.get("published_as"):
            return self.spec.args["published_as"]
        return self.source.alias if self.source.alias in REFERENCE_KEYS else None

    def identity(self) -> dict[str, Any]:
        import transformers

        identity: dict[str, Any] = {
            "adapter": ADAPTER_NAME,
            "alias": self.source.alias,
            "model": TINY_ALIAS if self.source.is_tiny else self.source.location,
            "revision": self.spec.revision,
            "commit": self.commit,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.type,
            "attn_implementation": self.model.config._attn_implementation,
            "chat_roles": self.chat_roles,
            "gen_roles": self.gen_roles,
            "text_sampling_seed": self.seed,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }
        if self.source.is_local:
            identity["fingerprint"] = _fingerprint(Path(self.source.location))
        if self.source.is_tiny:
            identity["tiny_builder_version"] = BUILDER_VERSION
        return identity

    def peak_memory_bytes(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return None

    # ------------------------------------------------------------------ understanding

    def render_text_prompt(self, request: TextRequest) -> str:
        """The exact prompt string fed to the processor for one understanding request."""
        return render_chat(
            request.messages,
            ROLE_SETS[self.chat_roles],
            image_token=self.processor.image_token,
            eos_token=self.tokenizer.eos_token or "",
        )

    def generate_text(self, requests: Sequence[TextRequest]) -> list[TextOutput]:
        """Batched decoding; greedy at temperature 0, else seeded per-request sampling.

        Each row stops at its own `max_new_tokens` (and at EOS), so batching never gives a
        request more tokens than it asked for and greedy results equal one-at-a-time results.
        """
        outputs: list[TextOutput] = []
        for chunk in _chunks(list(requests), self.batch_size):
            outputs.extend(self._generate_text_chunk(chunk))
        return outputs

    @torch.inference_mode()
    def _generate_text_chunk(self, requests: list[TextRequest]) -> list[TextOutput]:
        from transformers import GenerationConfig, GenerationMixin, LogitsProcessorList, StoppingCriteriaList

        limits = [max(0, request.max_new_tokens) for request in requests]
        if max(limits, default=0) == 0:
            return [TextOutput("") for _ in requests]
        prompts = [self.render_text_prompt(request) for request in requests]
        images = [image.convert("RGB") for request in requests for image in request.images]
        inputs = self.processor(text=prompts, images=images or None, padding=True, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        prompt_length = inputs["input_ids"].shape[1]

        # A clean config: the checkpoint's generation defaults must not leak into the protocol.
        generation_config = GenerationConfig(
            max_length=prompt_length + max(limits),
            do_sample=False,
            num_beams=1,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_ids or None,
            pad_token_id=self.pad_token_id,
        )
        sampler = _SeededRowSampler(
            temperatures=[request.temperature for request in requests],
            seeds=[_text_seed(self.seed, request) for request in requests],
        )
        stopper = _PerRowTokenLimit(prompt_length, torch.tensor(limits, device=self.device))
        # JanusForConditionalGeneration.generate drops `logits_processor` in text mode (5.23), and
        # its text mode is otherwise plain GenerationMixin.generate: call that directly.
        sequences = GenerationMixin.generate(
            self.model,  # type: ignore[arg-type]
            **inputs,
            generation_config=generation_config,
            logits_processor=LogitsProcessorList([sampler]) if sampler.active else None,
            stopping_criteria=StoppingCriteriaList([stopper]),
        )
        outputs = []
        for row, limit in zip(sequences[:, prompt_length:].tolist(), limits):
            row = row[:limit]
            ends = [position for position, token in enumerate(row) if token in self.eos_token_ids]
            if ends:
                row = row[: ends[0]]
            outputs.append(TextOutput(self.tokenizer.decode(row, skip_special_tokens=True)))
        return outputs

    # ------------------------------------------------------------------ generation

    def render_image_prompt(self, prompt: str) -> str:
        """The generation prompt without the begin-of-image token (the processor appends it)."""
        return render_generation_prompt(prompt, ROLE_SETS[self.gen_roles])

    def image_prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of one generation prompt: BOS ... `<|Assistant|>:` `<begin_of_image>`."""
        encoded = self.processor(text=[self.render_image_prompt(prompt)], generation_mode="image", return_tensors="pt")
        return encoded["input_ids"][0].tolist()

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[ImageOutput]:
        """Classifier-free guidance sampling, one seeded generator per image, then VQ decoding."""
        prompt_ids = [self.image_prompt_ids(request.prompt) for request in requests]
        rows = [
            _ImageRow(request_index, prompt_ids[request_index], request, seed)
            for request_index, request in enumerate(requests)
            for seed in request.seeds
        ]
        images: list[list[Image.Image]] = [[] for _ in requests]
        for chunk in _chunks(rows, self.image_batch_size):
            tokens = self.sample_image_tokens(chunk)
            for row, image in zip(chunk, self.decode_image_tokens(tokens)):
                images[row.request_index].append(image)
        return [ImageOutput(request_images) for request_images in images]

    @torch.inference_mode()
    def sample_image_tokens(self, rows: Sequence[_ImageRow]) -> torch.Tensor:
        """Samples `num_image_tokens` VQ codes per row; returns a (rows, num_image_tokens) LongTensor.

        The batch holds each row's conditional sequence and its unconditional twin, left-padded;
        each step mixes their generation-head logits and feeds the sampled code's generation
        embedding back to both.
        """
        count = len(rows)
        conditional = [row.prompt_ids for row in rows]
        # Official behaviour (generation_inference.py `tokens[i, 1:-1] = pad_id`; transformers keeps
        # BOS and BOI likewise): the unconditional prompt keeps only its first and last token.
        unconditional = [[ids[0], *([self.uncond_fill_id] * (len(ids) - 2)), ids[-1]] for ids in conditional]
        sequences = conditional + unconditional
        length = max(len(ids) for ids in sequences)
        input_ids = torch.full((2 * count, length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((2 * count, length), dtype=torch.long)
        for index, ids in enumerate(sequences):
            input_ids[index, length - len(ids) :] = torch.tensor(ids)
            attention_mask[index, length - len(ids) :] = 1
        input_ids = input_ids.to(self.device)
        attention_mask = attention_mask.to(self.device)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)

        cfg_weight = torch.tensor([row.request.cfg_weight for row in rows], device=self.device).unsqueeze(-1)
        sampler = _ImageCodeSampler(rows)
        language_model = self.model.model.language_model
        generation_head = self.model.model.generation_head
        output = language_model(
            inputs_embeds=self.model.get_input_embeddings()(input_ids),
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
        )
        tokens = torch.empty((count, self.num_image_tokens), dtype=torch.long, device=self.device)
        for step in range(self.num_image_tokens):
            logits = generation_head(output.last_hidden_state[:, -1, :]).float()
            cond, uncond = logits[:count], logits[count:]
            tokens[:, step] = sampler(uncond + cfg_weight * (cond - uncond))
            if step + 1 == self.num_image_tokens:
                break
            next_codes = torch.cat([tokens[:, step], tokens[:, step]]).unsqueeze(-1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((2 * count, 1))], dim=-1)
            position_ids = position_ids[:, -1:] + 1
            output = language_model(
                inputs_embeds=self.model.prepare_embeddings_for_image_generation(next_codes),
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=output.past_key_values,
                use_cache=True,
            )
        return tokens

    @torch.inference_mode()
    def decode_image_tokens(self, tokens: torch.Tensor) -> list[Image.Image]:
        """VQ codes -> RGB PIL images, one image per decoder call.

        Decoding a batch changes the convolution arithmetic (~1e-6), enough to move a pixel by
        one grey level after rounding; decoding one at a time keeps an image independent of its
        batch. DeepSeek's generation_inference.py truncates `clip((x+1)/2*255)` to uint8; we
        round, as transformers' image post-processing does (at most one grey level apart).
        """
        images = []
        for codes in tokens.to(self.device):
            pixels = self.model.decode_image_tokens(codes.unsqueeze(0))[0]
            pixels = ((pixels.float().clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8).cpu().numpy()
            images.append(Image.fromarray(pixels))
        return images


# ---------------------------------------------------------------------------- sampling helpers


@dataclass(frozen=True)
class _ImageRow:
    """One image to generate: which request it belongs to, its prompt ids and its seed."""

    request_index: int
    prompt_ids: list[int]
    request: ImageRequest
    seed: int


class _ImageCodeSampler:
    """Per-row temperature/top-k/top-p sampling, each row drawing from its own seeded generator.

    Uniforms come from CPU generators (one draw per row and step) and pick the code by inverse
    CDF, so a row's draws do not depend on the other rows in the batch or on the device.
    """

    def __init__(self, rows: Sequence[_ImageRow]) -> None:
        self.generators = [torch.Generator().manual_seed(row.seed) for row in rows]
        groups: dict[tuple[float, int | None, float | None], list[int]] = {}
        for index, row in enumerate(rows):
            request = row.request
            groups.setdefault((float(request.temperature), request.top_k, request.top_p), []).append(index)
        self.groups = list(groups.items())

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        uniforms = torch.stack([torch.rand((), generator=generator) for generator in self.generators])
        uniforms = uniforms.to(logits.device)
        codes = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
        for (temperature, top_k, top_p), indices in self.groups:
            index = torch.tensor(indices, device=logits.device)
            group_logits = logits[index]
            if temperature <= 0:
                codes[index] = group_logits.argmax(dim=-1)
                continue
            probs = torch.softmax(_filter_logits(group_logits / temperature, top_k, top_p), dim=-1)
            codes[index] = _inverse_cdf(probs, uniforms[index])
        return codes


def _filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Top-k then top-p (nucleus) filtering, as transformers' warpers order and define them."""
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        sorted_probs = sorted_logits.softmax(dim=-1)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        remove_sorted = mass_before >= top_p
        remove_sorted[..., 0] = False
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def _inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Index i with cdf[i-1] <= u * total < cdf[i] per row (zero-probability entries are never picked)."""
    cdf = probs.cumsum(dim=-1)
    targets = (uniforms * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, targets, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)


class _SeededRowSampler:
    """Logits processor (duck-typed for `generate`) for text: rows with temperature > 0 sample from their own seeded generator.

    The chosen token is left as the only finite score, so the greedy step of `generate` picks it;
    rows at temperature 0 pass through untouched (plain greedy).
    """

    def __init__(self, temperatures: Sequence[float], seeds: Sequence[int]) -> None:
        self.temperatures = [float(temperature) for temperature in temperatures]
        self.sampled_rows = [index for index, temperature in enumerate(self.temperatures) if temperature > 0]
        self.generators = {index: torch.Generator().manual_seed(seeds[index]) for index in self.sampled_rows}

    @property
    def active(self) -> bool:
        return bool(self.sampled_rows)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not self.sampled_rows:
            return scores
        index = torch.tensor(self.sampled_rows, device=scores.device)
        temperatures = torch.tensor([self.temperatures[row] for row in self.sampled_rows], device=scores.device)
        probs = torch.softmax(scores[index].float() / temperatures.unsqueeze(-1), dim=-1)
        uniforms = torch.stack([torch.rand((), generator=self.generators[row]) for row in self.sampled_rows])
        chosen = _inverse_cdf(probs, uniforms.to(scores.device))
        forced = torch.full_like(scores[index], float("-inf"))
        forced.scatter_(-1, chosen.unsqueeze(-1), 0.0)
        scores = scores.clone()
        scores[index] = forced
        return scores


class _PerRowTokenLimit:
    """Stopping criterion (duck-typed for `generate`): each row stops at its own `max_new_tokens`."""

    def __init__(self, prompt_length: int, limits: torch.Tensor) -> None:
        self.prompt_length = prompt_length
        self.limits = limits

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        generated = input_ids.shape[1] - self.prompt_length
        return (generated >= self.limits).to(input_ids.device)


def _text_seed(base_seed: int, request: TextRequest) -> int:
    """A per-request sampling seed from (adapter seed, task, sample id): independent of batching."""
    digest = hashlib.sha256(f"{base_seed}\x00{request.task}\x00{request.sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


# ---------------------------------------------------------------------------- option parsing


def _choice(args: Mapping[str, str], key: str, default: str, valid: tuple[str, ...]) -> str:
    value = args.get(key, default)
    if value not in valid:
        raise UserError(f"{key}={value!r} is not valid; choose one of: {', '.join(valid)}")
    return value


def _int(args: Mapping[str, str], key: str, default: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"{key}={value!r} is not an integer") from None


def _positive_int(args: Mapping[str, str], key: str) -> int | None:
    if args.get(key) is None:
        return None
    value = _int(args, key, 0)
    if value < 1:
        raise UserError(f"{key} must be a positive integer, got {args[key]!r}")
    return value


def _auto_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA (DeepSeek's setting), float32 on CPU (bf16 matmuls are slow there)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise UserError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        resolved = torch.device(device)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UserError(f"device {device!r} does not exist; {torch.cuda.device_count()} CUDA device(s) visible")
        return resolved
    raise UserError(f"device {device!r} is not supported; choose one of: auto, cpu, cuda, cuda:N")


# ---------------------------------------------------------------------------- loading


def _resolve_source(spec: ModelSpec, args: Mapping[str, str]) -> _Source:
    """Maps the typed name (+ --model-path / model=) to a hub id or a local folder."""
    alias = spec.name
    if args.get("model") and alias != ADAPTER_NAME:
        raise UserError(
            f"model={args['model']!r} is only accepted by {ADAPTER_NAME}; for {alias!r} use --model-path DIR"
        )
    if spec.model_path:
        return _local_source(alias, spec.model_path, spec.revision)
    if alias == TINY_ALIAS:
        return _Source(alias, str(ensure_tiny_checkpoint().resolve()), is_local=True, is_tiny=True)
    if alias in HUB_IDS:
        return _Source(alias, HUB_IDS[alias], is_local=False)
    if alias in NEEDS_LOCAL_PATH:
        raise UserError(
            f"{alias} has no converted transformers checkpoint on the Hugging Face Hub: {CONVERTER_HINT} "
            f"(e.g. --model {alias} --model-path /models/janus-1.3b-hf)"
        )
    model = args.get("model")
    if not model:
        raise UserError(
            f"{ADAPTER_NAME} needs a checkpoint: pass --model-path DIR (a transformers-format Janus folder) "
            f"or the argument model=<hub id> (e.g. model=deepseek-community/Janus-Pro-1B)"
        )
    if os.path.isdir(os.path.expanduser(model)):
        return _local_source(alias, model, spec.revision)
    return _Source(alias, model, is_local=False)


def _local_source(alias: str, path: str, revision: str | None) -> _Source:
    if revision:
        raise UserError(
            f"--revision {revision!r} only applies to Hugging Face Hub ids, not to the local folder {path!r}"
        )
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"--model-path {path!r} is not a directory")
    if not (folder / "config.json").is_file():
        raise UserError(f"--model-path {path!r} has no config.json: it is not a transformers-format checkpoint folder")
    return _Source(alias, str(folder), is_local=True)


def _load(
    source: _Source, spec: ModelSpec, dtype: torch.dtype, device: torch.device, attn_implementation: str | None
) -> tuple[JanusForConditionalGeneration, JanusProcessor, str | None]:
    """Loads model and processor from one repository state; returns (model, processor, commit hash)."""
    from transformers import AutoConfig, AutoProcessor, JanusForConditionalGeneration

    revision: str | None = spec.revision
    commit: str | None = None
    if not source.is_local:
        revision, commit = _resolve_revision(source.location, spec.revision)
    common: dict[str, Any] = {"revision": revision, "trust_remote_code": spec.trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(source.location, **common)
        if config.model_type != "janus":
            raise UserError(
                f"{source.location} is not a transformers-format Janus checkpoint (model_type={config.model_type!r}). "
                "The original deepseek-ai/Janus* repositories need DeepSeek's own code; use the converted "
                f"deepseek-community/Janus-Pro-* checkpoints or {CONVERTER_HINT}"
            )
        model_kwargs: dict[str, Any] = {"dtype": dtype, **common}
        if attn_implementation:
            model_kwargs["attn_implementation"] = attn_implementation
        if device.type == "cuda" and importlib.util.find_spec("accelerate") is not None:
            model_kwargs["device_map"] = str(device)  # straight to the GPU, not via host memory
        model = JanusForConditionalGeneration.from_pretrained(source.location, **model_kwargs)
        processor = AutoProcessor.from_pretrained(source.location, **common)
    except UserError:
        raise
    except OSError as exc:
        if source.is_local:
            raise UserError(
                f"could not load the checkpoint in {source.location}: {type(exc).__name__}: {exc}"
            ) from None
        raise UserError(_unreachable_message(source.location, spec.revision, exc)) from None
    except ValueError as exc:
        raise UserError(f"could not load {source.location}: {exc}") from None
    if not hasattr(processor, "image_token") or not hasattr(processor.tokenizer, "boi_token"):
        raise UserError(f"{source.location}: the processor is {type(processor).__name__}, expected a JanusProcessor")

    # Converted hub processors are saved with True, which prepends DeepSeek's default system
    # prompt in text mode; the paper protocol uses an empty system prompt.
    processor.use_default_system_prompt = False
    processor.tokenizer.padding_side = "left"
    model.to(device)  # type: ignore[arg-type]  # (a decorator in transformers hides the signature)
    model.eval()
    return model, processor, commit


def _resolve_revision(repo_id: str, revision: str | None) -> tuple[str | None, str | None]:
    """(revision to load, commit hash) for a hub id, resolved once (from the cache when offline)."""
    from transformers.utils.hub import resolve_revision

    resolved = resolve_revision(repo_id, revision)
    commit = getattr(resolved, "resolved", None)
    return (resolved if resolved is not None else revision), commit


def _unreachable_message(repo_id: str, revision: str | None, exc: Exception) -> str:
    from huggingface_hub import is_offline_mode

    at = f" at revision {revision!r}" if revision else ""
    why = "offline mode is on (HF_HUB_OFFLINE=1)" if is_offline_mode() else "the Hub could not be reached or refused it"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"could not load model {repo_id!r}{at}: it is not in the local Hugging Face cache and {why}. "
        f"Either download it on a connected machine with `hf download {repo_id}"
        f"{f' --revision {revision}' if revision else ''}` into the Hugging Face cache used here (HF_HOME / HF_HUB_CACHE), "
        f"or pass a local copy with --model-path DIR. ({type(exc).__name__}: {detail})"
    )


def _fingerprint(folder: Path) -> dict[str, Any]:
    """sha256 of config.json plus the sizes of the weight files: cheap, and changes with the weights."""
    config = folder / "config.json"
    weights = {
        path.name: path.stat().st_size
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name.endswith(WEIGHT_SUFFIXES)
    }
    return {"config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(), "weights": weights}


def _first_id(*candidates: Any) -> Any:
    for candidate in candidates:
        if isinstance(candidate, (list, tuple)):
            candidate = candidate[0] if candidate else None
        if candidate is not None:
            return candidate
    return None


def _chunks(items: list[Any], size: int | None) -> Iterator[list[Any]]:
    if not items:
        return
    step = size or len(items)
    for start in range(0, len(items), step):
        yield items[start : start + step]


__all__ = ["HUB_IDS", "JanusHFAdapter"]
