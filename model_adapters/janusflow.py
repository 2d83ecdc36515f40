"""DeepSeek's JanusFlow (arXiv 2411.07975): understanding, and rectified-flow image generation with classifier-free guidance.

No library runs JanusFlow: the network is rebuilt here on transformers' Llama and SigLIP and diffusers' time
embedding and AutoencoderKL (`janusflow_model`), DeepSeek's checkpoint is read in its own layout by name
(`janusflow_weights`). Understanding is batched greedy decoding with the User/Assistant template, as janus_hf's.
Generation integrates the guided velocity `v = w·v_cond − (w−1)·v_uncond` from one seeded noise per image with
Euler steps (paper §4.4: w = 2, 30 steps), conditional and unconditional rows of many prompts in one batch, and
decodes each latent with the SDXL VAE.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from janus_eval.model_adapters.adapter_support import chunks, installed_version
from janus_eval.model_adapters.chat_template import ROLE_SETS, render_chat, render_generation_prompt
from janus_eval.model_adapters.janus_loading import (
    DTYPES,
    auto_dtype,
    folder_fingerprint,
    parse_choice,
    parse_int,
    parse_positive_int,
    resolve_device,
)
from janus_eval.model_adapters.janus_sampling import PerRowTokenLimit, SeededRowSampler, text_seed
from janus_eval.model_adapters.janusflow_generation import PromptBatch
from janus_eval.model_adapters.janusflow_loading import (
    ADAPTER_NAME,
    HUB_IDS,
    JANUSFLOW_FAMILY,
    TINY_ALIAS,
    Checkpoint,
    checkpoint_resources,
    load_janusflow,
    load_vae,
    resolve_checkpoint,
    vae_dtype,
)
from janus_eval.model_adapters.janusflow_processor import DEFAULT_TAGS
from janus_eval.model_adapters.janusflow_sampling import euler_sample, initial_noise
from janus_eval.model_adapters.janusflow_tiny import BUILDER_VERSION
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
    from janus_eval.model_adapters.janusflow_model import JanusFlowModel
    from janus_eval.model_adapters.janusflow_processor import JanusFlowProcessor

log = logging.getLogger(__name__)

PAPER_CFG_WEIGHT = 2.0  # JanusFlow §4.4: "we set the CFG factor to 2 and the number of sampling steps to 30"
PAPER_STEPS = 30
KNOWN_ARGS = (
    "model",
    "label",
    "published_as",
    "vae",
    "vae_revision",
    "cfg_weight",
    "steps",
    "chat_roles",
    "gen_roles",
    "batch_size",
    "image_batch_size",
    "seed",
    "attn_implementation",
)


@register_model(TINY_ALIAS, *HUB_IDS)
class JanusFlowAdapter(ModelAdapter):
    """JanusFlow checkpoints in DeepSeek's layout (hub id or local folder), text and image.

    Adapter arguments (`--model-args key=value,...`): `model` (hub id or folder, janusflow only), `label`,
    `published_as`, `vae` (hub id or diffusers folder of the latent decoder; default stabilityai/sdxl-vae pinned)
    and `vae_revision`, `cfg_weight` (guidance weight w, overriding the task's; unset: the task's when it sets one, else 2), `steps` (Euler
    steps, default 30), `chat_roles` / `gen_roles` (`plain` = User/Assistant, the default of both; `special`),
    `batch_size` (requests per text forward), `image_batch_size` (images per flow batch, each a conditional and an
    unconditional row), `seed` (text sampling at temperature > 0), `attn_implementation`.
    """

    name: ClassVar[str] = ADAPTER_NAME
    version: ClassVar[int] = 2
    supports: ClassVar[frozenset[RequestKind]] = frozenset({"text", "image"})
    description: ClassVar[str] = (
        "DeepSeek JanusFlow (rectified flow + SDXL VAE) in DeepSeek's original layout "
        "(aliases: janusflow-tiny, janusflow-1.3b; janusflow needs --model-path or model=<hub id>)"
    )

    def __init__(
        self,
        spec: ModelSpec,
        checkpoint: Checkpoint,
        *,
        device: torch.device,
        dtype: torch.dtype,
        cfg_weight: float | None,
        steps: int,
        chat_roles: str,
        gen_roles: str,
        batch_size: int | None,
        image_batch_size: int | None,
        seed: int,
        attn_implementation: str | None,
    ) -> None:
        self.spec = spec
        self.checkpoint = checkpoint
        self.source = checkpoint.source
        self.device = device
        self.dtype = dtype
        self.vae_dtype = vae_dtype(dtype)
        self.cfg_weight = cfg_weight  # None: the task's, else the paper's
        self.steps = steps
        self.chat_roles = chat_roles
        self.gen_roles = gen_roles
        self.batch_size = batch_size
        self.image_batch_size = image_batch_size
        self.seed = seed
        self.attn_implementation = attn_implementation
        self._model: JanusFlowModel | None = None
        self._processor: JanusFlowProcessor | None = None
        self._vae: Any = None
        self._ignored_cfg: set[float] = set()
        self.latent_shape = latent_shape(checkpoint)  # a VAE that does not fit the checkpoint is refused here

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> JanusFlowAdapter:
        """Resolves the alias, reads the configs and validates the options; the weights load later (`load`)."""
        args = dict(spec.args)
        unknown = sorted(set(args) - set(KNOWN_ARGS))
        if unknown:
            raise UserError(
                f"unknown argument(s) for model {spec.name!r}: {', '.join(unknown)}; valid arguments: {', '.join(KNOWN_ARGS)}"
            )
        if spec.dtype not in ("auto", *DTYPES):
            raise UserError(f"dtype {spec.dtype!r} is not supported; choose one of: auto, {', '.join(DTYPES)}")
        device = resolve_device(spec.device)
        steps = parse_positive_int(args, "steps")
        adapter = cls(
            spec,
            resolve_checkpoint(spec),
            device=device,
            dtype=DTYPES[spec.dtype] if spec.dtype != "auto" else auto_dtype(device),
            cfg_weight=_parse_cfg_weight(args.get("cfg_weight")),
            steps=PAPER_STEPS if steps is None else steps,
            chat_roles=parse_choice(args, "chat_roles", "plain", tuple(ROLE_SETS)),
            gen_roles=parse_choice(args, "gen_roles", "plain", tuple(ROLE_SETS)),
            batch_size=parse_positive_int(args, "batch_size"),
            image_batch_size=parse_positive_int(args, "image_batch_size"),
            seed=parse_int(args, "seed", 0),
            attn_implementation=args.get("attn_implementation"),
        )
        return adapter

    @classmethod
    def resources(cls, spec: ModelSpec) -> list[Resource]:
        """The checkpoint and the VAE of `spec` (hub ids with revisions, or local folders); nothing is loaded."""
        return checkpoint_resources(spec)

    def load(self) -> None:
        """Loads the model, its processor and the VAE once."""
        if self._model is not None:
            return
        from transformers import GenerationConfig

        model, processor = load_janusflow(
            self.checkpoint, dtype=self.dtype, device=self.device, attn_implementation=self.attn_implementation
        )
        self._vae = load_vae(self.checkpoint.vae, dtype=self.vae_dtype, device=self.device)
        ids = processor.ids
        # Only the special-token ids: nothing of a generation config can change the greedy protocol.
        model.language_model.generation_config = GenerationConfig(bos_token_id=ids.bos, eos_token_id=ids.eos, pad_token_id=ids.pad)
        self._model, self._processor = model, processor

    @property
    def model(self) -> JanusFlowModel:
        self.load()
        assert self._model is not None
        return self._model

    @property
    def processor(self) -> JanusFlowProcessor:
        self.load()
        assert self._processor is not None
        return self._processor

    @property
    def vae(self) -> Any:
        self.load()
        return self._vae

    # ------------------------------------------------------------------ naming

    @property
    def label(self) -> str:
        return JANUSFLOW_FAMILY.label(self.spec, self.source)

    @property
    def reference_key(self) -> str | None:
        return JANUSFLOW_FAMILY.reference_key(self.spec, self.source)

    def identity(self) -> dict[str, Any]:
        import transformers

        identity: dict[str, Any] = {
            "adapter": ADAPTER_NAME,
            "alias": self.source.alias,
            "model": TINY_ALIAS if self.source.is_tiny else self.source.location,
            "revision": self.source.revision,
            "commit": self.checkpoint.commit,
            "source_format": "deepseek-original",
            "dtype": _dtype_name(self.dtype),
            "device": self.device.type,
            "vae": {**self.checkpoint.vae.describe(is_tiny=self.source.is_tiny), "dtype": _dtype_name(self.vae_dtype)},
            "sampler": self.sampler_settings(),
            "attn_implementation": self.attn_implementation,
            "chat_roles": self.chat_roles,
            "gen_roles": self.gen_roles,
            "text_sampling_seed": self.seed,
            "transformers": transformers.__version__,
            "diffusers": installed_version("diffusers"),
            "torchvision": installed_version("torchvision"),
            "torch": torch.__version__,
        }
        if self.source.is_local:
            identity["fingerprint"] = folder_fingerprint(Path(self.source.location))
        if self.source.is_tiny:
            identity["tiny_builder_version"] = BUILDER_VERSION
        return identity

    def sampler_settings(self) -> dict[str, Any]:
        """The rectified-flow sampler as it runs: what decides every generated image besides prompt and seed."""
        channels, side, _ = self.latent_shape
        vae = self.checkpoint.vae.config
        return {
            "method": "rectified flow, Euler steps from noise at t=0 to t=1 (JanusFlow §3.2)",
            "cfg": "v = w*v_cond - (w-1)*v_uncond",
            "cfg_weight": self.cfg_weight if self.cfg_weight is not None else f"the task's cfg_weight, else {PAPER_CFG_WEIGHT:g}",
            "steps": self.steps,
            "latent": [channels, side, side],
            "image_size": self.checkpoint.arch.image_size,
            "vae_scaling_factor": vae.get("scaling_factor"),
            "vae_shift_factor": vae.get("shift_factor"),
        }

    def protocol_card(self) -> dict[str, Any]:
        """The sampler and its settings, the prompt templates, and the checkpoint and VAE provenance."""
        roles = ROLE_SETS[self.gen_roles]
        return {
            "generation": {
                **self.sampler_settings(),
                "time_steps": "model time 1000*k/steps for k = 0..steps-1 in the model dtype; z += v/steps",
                "noise": "one standard-normal latent per image from its own seed (CPU generator, float32, then the model dtype)",
                "unconditional": "BOS, then the prompt's other tokens replaced by the pad id and masked out of attention",
                "prompt": render_generation_prompt("{prompt}", roles) + " (the generation tag is dropped; "
                "the time-embedding token and the latent tokens follow)",
                "decode": "VAE decode of z / scaling_factor (+ shift_factor), one image at a time; clamp to [-1, 1], "
                "(x+1)/2*255 rounded to the nearest grey level (the README's save_image)",
                "vae_dtype": _dtype_name(self.vae_dtype),
                "request_settings_used": ["seeds", *(["cfg_weight (when set)"] if self.cfg_weight is None else [])],
                "request_settings_ignored": [*(["cfg_weight"] if self.cfg_weight is not None else []), "temperature", "top_k", "top_p"],
            },
            "understanding": {
                "template": render_chat_example(ROLE_SETS[self.chat_roles]),
                "image_preprocessing": "DeepSeek's resize-and-pad, then the checkpoint's rescale and normalisation",
                "image_tokens": "begin-of-image (its learned embedding), the SigLIP features, end-of-image",
            },
            "provenance": {
                "checkpoint": TINY_ALIAS if self.source.is_tiny else self.source.location,
                "revision": self.source.revision,
                "commit": self.checkpoint.commit,
                "source_format": "deepseek-original",
                "vae": {key: self.checkpoint.vae.describe(is_tiny=self.source.is_tiny).get(key) for key in ("model", "revision", "commit")},
            },
        }

    def prompt_template(self, kind: str) -> dict[str, Any]:
        """The rendered prompt of a request kind and its roles (for the protocol card), known without the weights."""
        if kind == "image":
            return {
                "template": render_generation_prompt("{prompt}", ROLE_SETS[self.gen_roles]),
                "roles": list(ROLE_SETS[self.gen_roles]),
                "roles_chosen_by": _chosen_by(self.spec, "gen_roles"),
                "then": "BOS first; the generation tag DeepSeek appends is dropped for the time-embedding token",
            }
        return {
            "template": render_chat([ChatMessage("user", ["{text}"])], ROLE_SETS[self.chat_roles], image_token=DEFAULT_TAGS["image_tag"]),
            "roles": list(ROLE_SETS[self.chat_roles]),
            "roles_chosen_by": _chosen_by(self.spec, "chat_roles"),
        }

    def peak_memory_bytes(self) -> int | None:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        return None

    # ------------------------------------------------------------------ understanding

    def render_text_prompt(self, request: TextRequest) -> str:
        """The exact prompt string of one understanding request (one image tag per image)."""
        return render_chat(
            request.messages,
            ROLE_SETS[self.chat_roles],
            image_token=self.processor.image_tag,
            eos_token=self.processor.tokenizer.eos_token or "",
        )

    def generate_text(self, requests: Sequence[TextRequest]) -> list[TextOutput]:
        """Batched decoding, greedy at temperature 0; each row stops at its own `max_new_tokens` and at EOS, so a
        request's text never depends on its batch."""
        self.load()
        outputs: list[TextOutput] = []
        for chunk in chunks(list(requests), self.batch_size):
            outputs.extend(self._generate_text_chunk(chunk))
        return outputs

    @torch.inference_mode()
    def _generate_text_chunk(self, requests: list[TextRequest]) -> list[TextOutput]:
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        limits = [max(0, request.max_new_tokens) for request in requests]
        if max(limits, default=0) == 0:
            return [TextOutput("") for _ in requests]
        processor, model, ids = self.processor, self.model, self.processor.ids
        prompts = [processor.understanding_ids(self.render_text_prompt(request)) for request in requests]
        width = max(len(prompt) for prompt in prompts)
        input_ids = torch.full((len(prompts), width), ids.pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        pixel_values = processor.pixel_values([image for request in requests for image in request.images])
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        embeddings = model.understanding_embeddings(
            input_ids, None if pixel_values is None else pixel_values.to(self.device), ids.image, ids.begin
        )
        sampler = SeededRowSampler([r.temperature for r in requests], [text_seed(self.seed, r) for r in requests])
        eos = [ids.eos] if ids.eos is not None else []
        sequences = model.language_model.generate(
            inputs_embeds=embeddings,
            attention_mask=mask,
            generation_config=GenerationConfig(
                max_new_tokens=max(limits), do_sample=False, num_beams=1, bos_token_id=ids.bos,
                eos_token_id=eos or None, pad_token_id=ids.pad,
            ),  # fmt: skip
            logits_processor=LogitsProcessorList([sampler]) if sampler.active else None,
            # from embeddings, generate() returns (and hands its criteria) only the new tokens
            stopping_criteria=StoppingCriteriaList([PerRowTokenLimit(0, torch.tensor(limits, device=self.device))]),
        )
        texts = []
        for row, limit in zip(sequences.tolist(), limits):
            row = row[:limit]
            if set(eos) & set(row):
                row = row[: min(row.index(token) for token in eos if token in row)]
            texts.append(TextOutput(processor.tokenizer.decode(row, skip_special_tokens=True)))
        return texts

    # ------------------------------------------------------------------ generation

    def image_prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of one generation prompt: BOS ... `Assistant:` (the generation tag is dropped, as DeepSeek does)."""
        return self.processor.generation_ids(render_generation_prompt(prompt, ROLE_SETS[self.gen_roles]))

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[ImageOutput]:
        """Guided Euler sampling of many prompts' images per batch, each from its own seeded noise, then VAE decoding."""
        self.load()
        prompt_ids = [self.image_prompt_ids(request.prompt) for request in requests]
        rows = [(index, seed) for index, request in enumerate(requests) for seed in request.seeds]
        images: list[list[Image.Image]] = [[] for _ in requests]
        for chunk in chunks(rows, self.image_batch_size):
            weights = [self.guidance_weight(requests[index]) for index, _ in chunk]
            latents = self.sample_latents([prompt_ids[index] for index, _ in chunk], [seed for _, seed in chunk], weights)
            for (index, _), latent in zip(chunk, latents):
                images[index].append(self.decode_latent(latent))
        return [ImageOutput(request_images) for request_images in images]

    def guidance_weight(self, request: ImageRequest) -> float:
        """The weight w of a request: the adapter's `cfg_weight` when set, else the request's, else the paper's 2.

        A task's explicit weight that the adapter's own overrides is named once."""
        if self.cfg_weight is None:
            return PAPER_CFG_WEIGHT if request.cfg_weight is None else float(request.cfg_weight)
        if request.cfg_weight not in (None, self.cfg_weight) and request.cfg_weight not in self._ignored_cfg:
            self._ignored_cfg.add(request.cfg_weight)
            log.warning(
                "%s: task %r asks for cfg_weight %g; --model-args cfg_weight=%g overrides it",
                self.label, request.task, request.cfg_weight, self.cfg_weight,
            )  # fmt: skip
        return self.cfg_weight

    @torch.inference_mode()
    def sample_latents(
        self, prompts: Sequence[Sequence[int]], seeds: Sequence[int], weights: Sequence[float], steps: int | None = None
    ) -> torch.Tensor:
        """Latents (rows, C, H, W) of one batch of prompts (one row per image) after `steps` guided Euler steps."""
        noise = initial_noise(seeds, self.latent_shape, self.dtype, self.device)
        batch = PromptBatch(self.model, prompts, self.processor.ids.pad)
        weight = torch.tensor(weights, dtype=torch.float64)  # (w - 1 is formed in double, as in DeepSeek's Python)
        return euler_sample(noise, batch.velocity, weight, self.steps if steps is None else steps)

    @torch.inference_mode()
    def decode_latent(self, latent: torch.Tensor) -> Image.Image:
        """One latent through the VAE (one image per call, so that an image never depends on its batch) to RGB."""
        config = self.vae.config
        scaled = latent.unsqueeze(0).to(self.vae_dtype) / config.scaling_factor
        if getattr(config, "shift_factor", None) is not None:  # (SDXL's VAE has none, and DeepSeek's code adds none)
            scaled = scaled + config.shift_factor
        pixels = self.vae.decode(scaled).sample[0].float().clamp(-1, 1)
        # torchvision's save_image, which the README's JanusFlow example saves with: x*255 + 0.5, truncated
        pixels = ((pixels * 0.5 + 0.5) * 255 + 0.5).clamp(0, 255).to(torch.uint8)
        return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy())


def latent_shape(checkpoint: Checkpoint) -> tuple[int, int, int]:
    """(channels, side, side) of a checkpoint's generated latents, from its and its VAE's configs (no weights)."""
    vae_config = checkpoint.vae.config
    scale = 2 ** (len(vae_config["block_out_channels"]) - 1)
    size, where = checkpoint.arch.image_size, checkpoint.source.location
    if size % scale:
        raise UserError(f"{where}: the image size {size} is not a multiple of the VAE's {scale}-pixel latent cell")
    channels = int(vae_config.get("latent_channels", 4))
    checkpoint.arch.check_latents(channels, size // scale, where)
    return channels, size // scale, size // scale


def _chosen_by(spec: ModelSpec, argument: str) -> str:
    return f"the {argument} argument" if argument in spec.args else "JanusFlow's default (User/Assistant, as its code)"


def render_chat_example(roles: tuple[str, str]) -> str:
    return render_chat([ChatMessage("user", ["{question}"])], roles)


def _parse_cfg_weight(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        weight = float(value)
    except ValueError:
        raise UserError(f"cfg_weight={value!r} is not a number") from None
    if not weight >= 0 or weight == float("inf"):
        raise UserError(f"cfg_weight must be a finite number >= 0, got {value!r}")
    return weight


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


__all__ = ["JanusFlowAdapter"]
