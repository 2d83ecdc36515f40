"""DeepSeek Janus / Janus-Pro through transformers' native port (JanusForConditionalGeneration).

Understanding: batched greedy decoding with the paper's "deepseek" prompt template. Generation:
our own classifier-free-guidance sampling loop, so that every image is drawn with its own seeded
generator and never depends on the batch it was generated in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from janus_eval.model_adapters.adapter_support import chunks as _chunks
from janus_eval.model_adapters.adapter_support import installed_version as _installed_version
from janus_eval.model_adapters.chat_template import (
    CHAT_TEMPLATES,
    ROLE_SETS,
    default_generation_roles,
    hf_conversation,
    render_chat,
    render_generation_prompt,
)
from janus_eval.model_adapters.janus_image_generation import COMPILE_CHOICES, ImageTokenLoop
from janus_eval.model_adapters.janus_image_preprocessing import PREPROCESSING_CHOICES, deepseek_resize_and_pad
from janus_eval.model_adapters.janus_loading import (
    ADAPTER_NAME,
    BOI_TAG,
    DTYPES,
    HUB_IDS,
    IMAGE_TAG,
    JANUS_FAMILY,
    KNOWN_ARGS,
    NEEDS_LOCAL_PATH,
    PAD_TAG,
    TINY_ALIAS,
    CheckpointInfo,
    ModelSource,
    auto_dtype,
    checkpoint_resources,
    describe_checkpoint,
    folder_fingerprint,
    load_model,
    parse_choice,
    parse_int,
    parse_positive_int,
    resolve_device,
    resolve_source,
)
from janus_eval.model_adapters.janus_sampling import (
    PAPER_CFG_WEIGHT,
    ImageRow,
    PerRowTokenLimit,
    SeededRowSampler,
    text_seed,
)
from janus_eval.model_adapters.janus_tiny import BUILDER_VERSION
from PIL import Image

from janus_eval.api import (
    ChatMessage,
    ImageOutput,
    ImageRequest,
    ModelAdapter,
    ModelSpec,
    RequestKind,
    Resource,
    TextOutput,
    TextRequest,
)
from janus_eval.errors import UserError
from janus_eval.registry import register_model

if TYPE_CHECKING:
    from transformers import GenerationConfig, JanusForConditionalGeneration, JanusProcessor

# Adapter arguments of image generation (next to janus_loading.KNOWN_ARGS).
CFG_DTYPES = ("model", "float32")
GENERATION_ARGS = ("cfg_dtype", "compile")
VALID_ARGS = (*KNOWN_ARGS, *GENERATION_ARGS)


@register_model(TINY_ALIAS, *HUB_IDS, *NEEDS_LOCAL_PATH)
class JanusHFAdapter(ModelAdapter):
    """Janus-family models in the transformers format (hub id or local folder), text and image.

    Adapter arguments (`--model-args key=value,...`): `model` (hub id or folder, janus_hf only),
    `label`, `published_as` (reference key of the published numbers), `chat_roles` and
    `gen_roles` (`plain` = User/Assistant, `special` = <|User|>/<|Assistant|>; generation defaults to
    the model's own: plain for janus-1.3b, special for Janus-Pro), `batch_size`
    (requests per text forward), `image_batch_size` (images per generation forward; each uses a
    conditional and an unconditional sequence), `seed` (text sampling at temperature > 0),
    `attn_implementation` (passed to from_pretrained), `image_preprocessing` (`deepseek` = DeepSeek's
    own resize-and-pad, the default; `transformers` = the processor's, which rounds sizes and resamples
    differently), `do_normalize` (`checkpoint`, `true`, `false`: the image normalisation; janus-1.3b
    defaults to false), `processor_from` (hub id or folder whose tokenizer and processor files a training
    checkpoint in DeepSeek's original format lacks),
    `cfg_dtype` (`model` = guidance, softmax and sampling in the model's dtype as DeepSeek's
    code does, bf16 on CUDA; `float32`), `compile` (`true` = torch.compile the generation step, CUDA graphs
    on CUDA; `eager` = trace without compiling; default `false`), `chat_template` (`deepseek` = DeepSeek's
    conversation template, the paper protocol and the default; `checkpoint` = the chat template saved with the
    processor, as lmms-eval's chat models render prompts).
    """

    name: ClassVar[str] = ADAPTER_NAME
    version: ClassVar[int] = 2  # 2: pixels truncated as DeepSeek does, guidance in the model dtype, per-model roles
    supports: ClassVar[frozenset[RequestKind]] = frozenset({"text", "image"})
    description: ClassVar[str] = (
        "DeepSeek Janus/Janus-Pro via transformers' JanusForConditionalGeneration "
        "(aliases: janus-tiny, janus-pro-1b, janus-pro-7b, janus-1.3b; janus_hf needs --model-path or model=<hub id>)"
    )

    def __init__(
        self,
        spec: ModelSpec,
        source: ModelSource,
        *,
        device: torch.device,
        dtype: torch.dtype,
        checkpoint: CheckpointInfo,
        chat_roles: str,
        gen_roles: str,
        gen_roles_source: str,
        cfg_dtype: str,
        compile: str,
        image_preprocessing: str,
        batch_size: int | None,
        image_batch_size: int | None,
        seed: int,
        attn_implementation: str | None,
        chat_template: str = "deepseek",
    ) -> None:
        self.spec = spec
        self.source = source
        self.device = device
        self.dtype = dtype
        self.revision = checkpoint.revision
        self.commit = checkpoint.commit
        self.chat_roles = chat_roles
        self.gen_roles = gen_roles
        self.gen_roles_source = gen_roles_source
        self.cfg_dtype = cfg_dtype
        self.compile = compile
        self.image_preprocessing = image_preprocessing
        self.batch_size = batch_size
        self.image_batch_size = image_batch_size
        self.seed = seed
        self.attn_implementation = attn_implementation
        self.chat_template = chat_template
        self.checkpoint = checkpoint
        # how the checkpoint is read (source format, conversion, normalisation), for the identity
        self.provenance: dict[str, Any] = dict(checkpoint.provenance)
        self._model: JanusForConditionalGeneration | None = None
        self._processor: JanusProcessor | None = None

    def load(self) -> None:
        """Loads model and processor once, and reads the special-token ids the decoding loops need."""
        if self._model is not None:
            return
        self.use_model(*load_model(self.source, self.spec, self.dtype, self.device, self.attn_implementation, self.checkpoint))

    def use_model(self, model: JanusForConditionalGeneration, processor: JanusProcessor) -> None:
        """Takes an already built model and processor as if `load` had read them (benchmarks build randomly
        initialised models at the real shapes this way); reads the special-token ids the decoding loops need."""
        tokenizer = processor.tokenizer
        generation_config = model.generation_config
        self.bos_token_id: int | None = _first_id(generation_config.bos_token_id, tokenizer.bos_token_id)
        eos = generation_config.eos_token_id
        eos = eos if eos is not None else tokenizer.eos_token_id
        self.eos_token_ids: list[int] = (
            list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
        )
        self.pad_token_id: int = _first_id(generation_config.pad_token_id, tokenizer.pad_token_id, *self.eos_token_ids)
        # generation_inference.py fills the unconditional prompt with the id of DeepSeek's pad tag.
        pad_tag_id = tokenizer.convert_tokens_to_ids(PAD_TAG) if PAD_TAG in tokenizer.get_vocab() else None
        self.uncond_fill_id: int = pad_tag_id if pad_tag_id is not None else self.pad_token_id
        self.num_image_tokens: int = model.config.vision_config.num_image_tokens  # type: ignore[union-attr]
        self.image_loop = ImageTokenLoop(
            model,
            pad_token_id=self.pad_token_id,
            uncond_fill_id=self.uncond_fill_id,
            cfg_dtype=torch.float32 if self.cfg_dtype == "float32" else None,
            compile=self.compile,
        )
        self._model, self._processor = model, processor

    @property
    def model(self) -> JanusForConditionalGeneration:
        self.load()
        assert self._model is not None
        return self._model

    @property
    def processor(self) -> JanusProcessor:
        self.load()
        assert self._processor is not None
        return self._processor

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> JanusHFAdapter:
        """Resolves the alias and validates the options; the weights load later (`load`). UserError on bad input."""
        args = dict(spec.args)
        unknown = sorted(set(args) - set(VALID_ARGS))
        if unknown:
            raise UserError(
                f"unknown argument(s) for model {spec.name!r}: {', '.join(unknown)}; "
                f"valid arguments: {', '.join(VALID_ARGS)}"
            )
        chat_roles = parse_choice(args, "chat_roles", "plain", tuple(ROLE_SETS))
        image_preprocessing = parse_choice(args, "image_preprocessing", "deepseek", PREPROCESSING_CHOICES)
        reference_key = args.get("published_as") or (spec.name if spec.name in JANUS_FAMILY.reference_keys else None)
        default_roles, gen_roles_source = default_generation_roles(reference_key)
        gen_roles = parse_choice(args, "gen_roles", default_roles, tuple(ROLE_SETS))
        if "gen_roles" in args:
            gen_roles_source = "the gen_roles argument"
        cfg_dtype = parse_choice(args, "cfg_dtype", "model", CFG_DTYPES)
        compile = parse_choice(args, "compile", "false", COMPILE_CHOICES)
        batch_size = parse_positive_int(args, "batch_size")
        image_batch_size = parse_positive_int(args, "image_batch_size")
        seed = parse_int(args, "seed", 0)
        chat_template = parse_choice(args, "chat_template", "deepseek", CHAT_TEMPLATES)
        if spec.dtype not in ("auto", *DTYPES):
            raise UserError(f"dtype {spec.dtype!r} is not supported; choose one of: auto, {', '.join(DTYPES)}")
        device = resolve_device(spec.device)
        dtype = DTYPES[spec.dtype] if spec.dtype != "auto" else auto_dtype(device)

        source = resolve_source(spec, args)
        checkpoint = describe_checkpoint(source, spec)  # its config.json only: the weights load later
        return cls(
            spec,
            source,
            device=device,
            dtype=dtype,
            checkpoint=checkpoint,
            # SDPA unless told otherwise: the attention the image step loop's device-side masks are built for
            attn_implementation=args.get("attn_implementation") or "sdpa",
            chat_roles=chat_roles,
            gen_roles=gen_roles,
            gen_roles_source=gen_roles_source,
            cfg_dtype=cfg_dtype,
            compile=compile,
            image_preprocessing=image_preprocessing,
            batch_size=batch_size,
            image_batch_size=image_batch_size,
            seed=seed,
            chat_template=chat_template,
        )

    @classmethod
    def resources(cls, spec: ModelSpec) -> list[Resource]:
        """The hub checkpoint (id, revision) or local folder of `spec`; nothing is built or loaded."""
        return checkpoint_resources(spec)

    # ------------------------------------------------------------------ naming

    @property
    def label(self) -> str:
        return JANUS_FAMILY.label(self.spec, self.source)

    @property
    def reference_key(self) -> str | None:
        return JANUS_FAMILY.reference_key(self.spec, self.source)

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
            # as asked for: transformers' own choice follows from its version and torch's
            "attn_implementation": self.attn_implementation,
            "chat_roles": self.chat_roles,
            "gen_roles": self.gen_roles,
            # the dtype the guidance arithmetic actually ran in
            "cfg_dtype": self.identity_cfg_dtype,
            "compile": self.compile,
            "image_preprocessing": self.image_preprocessing,
            # transformers' Janus image processor runs on torchvision when it is installed, else on PIL
            "torchvision": _installed_version("torchvision"),
            "text_sampling_seed": self.seed,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }
        if self.chat_template != "deepseek":  # absent at the default, so earlier records keep their keys
            identity["chat_template"] = self.chat_template
        if self.source.is_local:
            identity["fingerprint"] = folder_fingerprint(Path(self.source.location))
        if self.source.is_tiny:
            identity["tiny_builder_version"] = BUILDER_VERSION
        identity.update(self.provenance)
        return identity

    def protocol_card(self) -> dict[str, Any]:
        """The image normalisation, and which checkpoint at which revision, as the result's protocol card shows them."""
        provenance = {"checkpoint": self.identity()["model"], "commit": self.commit}
        for key in ("revision", "source_format", "image_do_normalize_from"):
            provenance[key] = self.provenance.get(key)
        return {
            "image_do_normalize": self.provenance.get("image_do_normalize"),
            # what a generation task that leaves its guidance weight unset gets
            "cfg_weight_when_unset": PAPER_CFG_WEIGHT,
            "provenance": provenance,
        }

    def peak_memory_bytes(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return None

    # ------------------------------------------------------------------ understanding

    def render_text_prompt(self, request: TextRequest) -> str:
        """The exact prompt string fed to the processor for one understanding request."""
        if self.chat_template == "checkpoint":
            template = getattr(self.processor, "chat_template", None)
            if not template:
                raise UserError(
                    f"{self.source.location} has no chat template saved with its processor; "
                    "use chat_template=deepseek (DeepSeek's conversation template)"
                )
            return self.processor.apply_chat_template(
                hf_conversation(request.messages), add_generation_prompt=True, tokenize=False
            )
        return render_chat(
            request.messages,
            ROLE_SETS[self.chat_roles],
            image_token=self.processor.image_token,
            eos_token=self.tokenizer.eos_token or "",
        )

    def preprocess_image(self, image: Image.Image) -> Image.Image:
        """DeepSeek's resize-and-pad (the default), or the image as transformers' processor alone would take it."""
        if self.image_preprocessing == "transformers":
            return image.convert("RGB")
        image_processor = self.processor.image_processor
        return deepseek_resize_and_pad(
            image,
            image_size=int(image_processor.size["height"]),
            min_size=int(getattr(image_processor, "min_size", 14)),
            background=tuple(image_processor.background_color),  # type: ignore[arg-type]
        )

    def generate_text(self, requests: Sequence[TextRequest]) -> list[TextOutput]:
        """Batched decoding; greedy at temperature 0, else seeded per-request sampling.

        Each row stops at its own `max_new_tokens` (and at EOS), so batching never gives a
        request more tokens than it asked for and greedy results equal one-at-a-time results.
        """
        self.load()
        outputs: list[TextOutput] = []
        for chunk in _chunks(list(requests), self.batch_size):
            outputs.extend(self._generate_text_chunk(chunk))
        return outputs

    @torch.inference_mode()
    def _generate_text_chunk(self, requests: list[TextRequest]) -> list[TextOutput]:
        from transformers import (
            GenerationConfig,
            GenerationMixin,
            LogitsProcessorList,
            StoppingCriteriaList,
        )

        limits = [max(0, request.max_new_tokens) for request in requests]
        if max(limits, default=0) == 0:
            return [TextOutput("") for _ in requests]
        prompts = [self.render_text_prompt(request) for request in requests]
        images = [self.preprocess_image(image) for request in requests for image in request.images]
        inputs = self.processor(text=prompts, images=images or None, padding=True, return_tensors="pt")
        inputs = {key: value.to(self.device) for key, value in inputs.items()}
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        prompt_length = inputs["input_ids"].shape[1]

        generation_config = GenerationConfig(
            max_length=prompt_length + max(limits),
            # compile=true on CUDA: a static cache, which transformers' generate compiles (no recompiles per length)
            cache_implementation="static" if self.compile == "true" and self.device.type == "cuda" else None,
            do_sample=False,
            num_beams=1,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_ids or None,
            pad_token_id=self.pad_token_id,
        )
        sampler = SeededRowSampler(
            temperatures=[request.temperature for request in requests],
            seeds=[text_seed(self.seed, request) for request in requests],
        )
        stopper = PerRowTokenLimit(prompt_length, torch.tensor(limits, device=self.device))
        # generate() fills every option left unset in `generation_config` from `model.generation_config`,
        # so a checkpoint's generation_config.json (repetition_penalty, no_repeat_ngram_size, ...) would
        # silently change the protocol. Swap in one that holds only the special-token ids for the call.
        checkpoint_config = self.model.generation_config
        self.model.generation_config = self._protocol_generation_config()
        try:
            # JanusForConditionalGeneration.generate drops `logits_processor` in text mode (5.23), and
            # its text mode is otherwise plain GenerationMixin.generate: call that directly.
            sequences = GenerationMixin.generate(
                self.model,  # type: ignore[arg-type]
                **inputs,
                generation_config=generation_config,
                logits_processor=LogitsProcessorList([sampler]) if sampler.active else None,
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        finally:
            self.model.generation_config = checkpoint_config
        outputs = []
        for row, limit in zip(sequences[:, prompt_length:].tolist(), limits):
            row = row[:limit]
            ends = [position for position, token in enumerate(row) if token in self.eos_token_ids]
            if ends:
                row = row[: ends[0]]
            outputs.append(TextOutput(self.tokenizer.decode(row, skip_special_tokens=True)))
        return outputs

    def _protocol_generation_config(self) -> GenerationConfig:
        """A GenerationConfig with only BOS/EOS/PAD set: the model-level defaults while our generate() runs.

        Nothing of the checkpoint's generation_config.json gets through; `generation_kwargs` (the
        begin-of-image id) is left out too, as only Janus' own image mode reads it and text mode never does.
        """
        from transformers import GenerationConfig

        return GenerationConfig(
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_ids or None,
            pad_token_id=self.pad_token_id,
        )

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
        self.load()
        prompt_ids = [self.image_prompt_ids(request.prompt) for request in requests]
        rows = [
            ImageRow(request_index, prompt_ids[request_index], request, seed)
            for request_index, request in enumerate(requests)
            for seed in request.seeds
        ]
        images: list[list[Image.Image]] = [[] for _ in requests]
        # Software pipelining: a chunk's decoded pixels are copied to the host only after the next chunk's
        # sampling is queued, so on a GPU the host-side conversion overlaps generation instead of idling it.
        pending: tuple[list[ImageRow], HostPixels] | None = None
        for chunk in _chunks(rows, self.image_batch_size):
            pixels = self.decode_pixels(self.sample_image_tokens(chunk))
            if pending is not None:
                _collect(*pending, images)
            pending = (chunk, pixels)
        if pending is not None:
            _collect(*pending, images)
        return [ImageOutput(request_images) for request_images in images]

    def sample_image_tokens(self, rows: Sequence[ImageRow]) -> torch.Tensor:
        """Samples `num_image_tokens` VQ codes per row; returns a (rows, num_image_tokens) LongTensor.

        The batch holds each row's conditional sequence and its unconditional twin, left-padded;
        each step mixes their generation-head logits and feeds the sampled code's generation
        embedding back to both (janus_image_generation.ImageTokenLoop).
        """
        self.load()
        try:
            return self.image_loop.run(rows)
        except ValueError as exc:
            if "attn_implementation" in str(exc):
                raise UserError(f"{exc}: pass --model-args attn_implementation=sdpa") from None
            raise

    @torch.inference_mode()
    def decode_pixels(self, tokens: torch.Tensor) -> HostPixels:
        """VQ codes -> uint8 (rows, H, W, 3) pixels on their way to the host (copy queued, not awaited).

        Decoding a batch changes the convolution arithmetic (~1e-6), enough to move a pixel by one
        grey level; decoding one at a time keeps an image independent of its batch. Official behaviour
        (generation_inference.py `np.clip((dec + 1) / 2 * 255, 0, 255)` stored into a uint8 array, and
        transformers' post-processing): the float pixels are truncated to uint8, not rounded.
        """
        pixels = torch.stack(
            [to_uint8_pixels(self.model.decode_image_tokens(codes.unsqueeze(0))[0]) for codes in tokens.to(self.device)]
        )
        return HostPixels.start(pixels)

    def decode_image_tokens(self, tokens: torch.Tensor) -> list[Image.Image]:
        """VQ codes -> RGB PIL images (uint8 by truncation, see `decode_pixels`)."""
        return self.decode_pixels(tokens).images()

    def prompt_template(self, kind: str) -> dict[str, Any]:
        """The rendered prompt of a request kind, its roles and why they were chosen (for the protocol card)."""
        # rendered from the template's own text (the tags as Janus' processors spell them), so that a rerun which
        # never loads the weights records the same card
        if kind == "image":
            return {
                "template": self.render_image_prompt("{prompt}") + BOI_TAG,
                "roles": list(ROLE_SETS[self.gen_roles]),
                "roles_chosen_by": self.gen_roles_source,
                "guidance_dtype": self.identity_cfg_dtype,
            }
        if self.chat_template == "checkpoint":
            # the checkpoint's own template renders the prompt; its text is known only once the processor is read
            return {"template": None, "chat_template": "checkpoint", "roles_chosen_by": "the checkpoint's chat template"}
        example = [ChatMessage("user", ["{text}"])]
        return {
            "template": render_chat(example, ROLE_SETS[self.chat_roles], image_token=IMAGE_TAG, eos_token=""),
            "roles": list(ROLE_SETS[self.chat_roles]),
            "roles_chosen_by": "the chat_roles argument" if "chat_roles" in self.spec.args else "the default",
        }

    @property
    def identity_cfg_dtype(self) -> str:
        """The dtype the guidance arithmetic runs in."""
        return str(torch.float32 if self.cfg_dtype == "float32" else self.dtype).removeprefix("torch.")


def to_uint8_pixels(decoded: torch.Tensor) -> torch.Tensor:
    """Decoded (H, W, 3) values in about [-1, 1] -> uint8, truncating as DeepSeek's script does."""
    return ((decoded.float() + 1) / 2 * 255).clamp(0, 255).to(torch.uint8)


class HostPixels:
    """uint8 pixels being copied to the host: on CUDA a non-blocking copy into pinned memory and an event,
    so that waiting for them does not wait for work queued after them (the next chunk's sampling)."""

    def __init__(self, host: torch.Tensor, event: Any = None) -> None:
        self.host = host
        self.event = event

    @classmethod
    def start(cls, pixels: torch.Tensor) -> HostPixels:
        if pixels.device.type != "cuda":
            return cls(pixels.cpu())
        host = torch.empty(pixels.shape, dtype=pixels.dtype, pin_memory=True)
        host.copy_(pixels, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return cls(host, event)

    def images(self) -> list[Image.Image]:
        if self.event is not None:
            self.event.synchronize()
        return [Image.fromarray(image) for image in self.host.numpy()]


def _collect(rows: list[ImageRow], pixels: HostPixels, images: list[list[Image.Image]]) -> None:
    for row, image in zip(rows, pixels.images()):
        images[row.request_index].append(image)


def _first_id(*candidates: Any) -> Any:
    for candidate in candidates:
        if isinstance(candidate, (list, tuple)):
            candidate = candidate[0] if candidate else None
        if candidate is not None:
            return candidate
    return None


__all__ = ["HUB_IDS", "JanusHFAdapter"]
