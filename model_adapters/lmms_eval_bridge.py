"""Janus in lmms-eval: `lmms-eval --model janus` runs any lmms-eval task through janus-eval's batched adapter.

lmms-eval (0.7.3) finds the model through the entry-point group `lmms_eval.models` (`lmms_eval_models` below
returns its `ModelManifest`). The classes turn lmms-eval's requests (a context string and the task's visuals,
or the chat messages of `doc_to_messages`, plus generation kwargs) into our `TextRequest`s and hand them to
a janus-eval adapter (`janus_hf` by default, wrapped, never copied) in batches of `batch_size`.

This module imports lmms-eval at its top: nothing in janus-eval imports it, only lmms-eval's registry does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.model_adapters.janus_loading import ADAPTER_NAME, HUB_IDS
from janus_eval.model_adapters.janusflow_loading import ADAPTER_NAME as FLOW_ADAPTER_NAME
from janus_eval.model_adapters.janusflow_loading import HUB_IDS as FLOW_HUB_IDS
from PIL import Image

from janus_eval.api import ChatMessage, ContentPart, ModelAdapter, ModelSpec, TextRequest
from janus_eval.errors import UserError
from janus_eval.registry import MODELS

try:
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.model import lmms
except ImportError as exc:  # pragma: no cover - only without the optional extra
    raise ImportError("the lmms-eval bridge needs lmms-eval: pip install 'janus-eval[lmms]'") from exc

log = logging.getLogger(__name__)

MODEL_ID = "janus"
DEFAULT_PRETRAINED = HUB_IDS["janus-pro-7b"]
# the adapters whose `pretrained=` names a checkpoint
CHECKPOINT_ADAPTERS = (ADAPTER_NAME, FLOW_ADAPTER_NAME)
# lmms-eval's HF models (llava_hf, ...) default to 1024 new tokens when a task's generation_kwargs name none
DEFAULT_MAX_NEW_TOKENS = 1024
# `chat_template=`: the checkpoint's own template (lmms-eval's chat-model convention, the default) or the
# paper protocol's rendering (DeepSeek's template, a "\n" between leading images and the text)
CHAT_TEMPLATES = ("checkpoint", "deepseek")
IMAGE_MARKER = "<image>"
# lmms-eval generation kwargs that change nothing for greedy or plain temperature sampling
_NEUTRAL_KWARGS = {"do_sample", "temperature", "max_new_tokens", "until", "top_p", "top_k", "num_beams"}
# output types whose tasks need a likelihood (multiple-choice by perplexity): seedbench_ppl, the *_mcppl
# video tasks, mmlu, hellaswag, arc, gpqa in lmms-eval 0.7.3
LOGLIKELIHOOD_MESSAGE = (
    "janus does not compute log-likelihoods: janus-eval's adapter only generates, so tasks with output_type "
    "loglikelihood or multiple_choice (seedbench_ppl, *_mcppl, mmlu, hellaswag, arc, gpqa, ...) cannot run; "
    "use their generate_until variants (e.g. seedbench instead of seedbench_ppl)"
)


def lmms_eval_models() -> Any:
    """The entry-point payload: lmms-eval's `ModelManifest` for `--model janus` (chat by default, simple with
    `--force_simple`).

    A callable, so that importing this module never imports `lmms_eval.models` (whose import loads the entry
    points, this one included).
    """
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(
        model_id=MODEL_ID,
        simple_class_path=f"{__name__}.JanusSimple",
        chat_class_path=f"{__name__}.JanusChat",
    )


# ----------------------------------------------------------------------------- request conversion


def generation_settings(gen_kwargs: Mapping[str, Any], default_max_new_tokens: int) -> tuple[int, float, list[str]]:
    """(max_new_tokens, temperature, stop strings) from a task's generation kwargs.

    Greedy when `do_sample` is false or the temperature is 0 (lmms-eval's models do the same); beam search
    and top-p/top-k sampling are refused, since the adapter decodes greedily or samples the plain distribution.
    """
    until = gen_kwargs.get("until") or []
    stops = [until] if isinstance(until, str) else list(until)
    if not all(isinstance(stop, str) for stop in stops):
        raise ValueError(f"generation kwarg `until` must be a string or a list of strings, got {until!r}")
    max_new_tokens = int(gen_kwargs.get("max_new_tokens") or default_max_new_tokens)
    temperature = float(gen_kwargs.get("temperature") or 0.0)
    if gen_kwargs.get("do_sample") is False or temperature <= 0:
        temperature = 0.0
    if int(gen_kwargs.get("num_beams") or 1) != 1:
        raise ValueError(f"janus decodes greedily or samples; num_beams={gen_kwargs['num_beams']} is not supported")
    if temperature > 0 and (
        gen_kwargs.get("top_p") not in (None, 1, 1.0) or gen_kwargs.get("top_k") not in (None, 0)
    ):
        raise ValueError("janus samples from the whole distribution; top_p/top_k sampling is not supported")
    return max_new_tokens, temperature, stops


def truncate_at_stops(text: str, stops: Sequence[str]) -> str:
    """The text up to the first stop string, as lmms-eval's models apply `until` (greedy decoding gives the same
    text as stopping there; the extra tokens only cost time)."""
    for stop in stops:
        if stop:
            text = text.split(stop)[0]
    return text


def as_images(visuals: Any, where: str) -> list[Image.Image]:
    """The PIL images of a task's `doc_to_visual` result (a list, one image, or None); Janus reads no video or audio."""
    if visuals is None:
        return []
    items = visuals if isinstance(visuals, (list, tuple)) else [visuals]
    images = []
    for item in items:
        if not isinstance(item, Image.Image):
            raise ValueError(f"{where}: janus reads images only, got {type(item).__name__} {str(item)[:80]!r}")
        images.append(item.convert("RGB"))
    return images


def interleave(context: str, images: Sequence[Image.Image]) -> list[ContentPart]:
    """A user turn from lmms-eval's simple-model arguments: images where the context has one `<image>` marker
    per image, else every image first and then the text (lmms-eval's order for simple models)."""
    if images and context.count(IMAGE_MARKER) == len(images):
        pieces = context.split(IMAGE_MARKER)
        content: list[ContentPart] = []
        for index, piece in enumerate(pieces):
            if piece:
                content.append(piece)
            if index < len(images):
                content.append(images[index])
        return content
    return [*images, context]


def paper_spacing(content: Sequence[ContentPart]) -> list[ContentPart]:
    """The paper protocol's spacing: Janus's VLMEvalKit prompts put `"\\n"` between the leading images and the
    text (`"\\n" + question`); interleaved turns are kept as they are."""
    parts = list(content)
    leading = 0
    while leading < len(parts) and isinstance(parts[leading], Image.Image):
        leading += 1
    if 0 < leading < len(parts) and isinstance(parts[leading], str) and not parts[leading].startswith("\n"):
        parts[leading] = "\n" + str(parts[leading])
    return parts


def chat_messages(messages: Sequence[Mapping[str, Any]], where: str) -> list[ChatMessage]:
    """lmms-eval's chat messages (`doc_to_messages`: roles with typed text and image parts) as our ChatMessages."""
    converted = []
    for message in messages:
        content = message.get("content")
        parts: list[ContentPart] = []
        for part in [{"type": "text", "text": content}] if isinstance(content, str) else (content or []):
            kind = part.get("type")
            if kind == "text":
                parts.append(str(part.get("text", "")))
            elif kind == "image":
                image = part.get("url", part.get("image"))
                if isinstance(image, (str, Path)):
                    with Image.open(image) as opened:
                        image = opened.convert("RGB")
                parts.extend(as_images(image, where))
            else:
                raise ValueError(f"{where}: janus reads text and images only, got a {kind!r} part")
        converted.append(ChatMessage(role=message["role"], content=parts))
    return converted


def with_system_prompt(messages: list[ChatMessage], system_prompt: str) -> list[ChatMessage]:
    """The model argument's system prompt replaces the task's system message (lmms-eval's `_apply_system_prompt`)."""
    if not system_prompt:
        return messages
    rest = messages[1:] if messages and messages[0].role == "system" else messages
    return [ChatMessage(role="system", content=[system_prompt]), *rest]


# ----------------------------------------------------------------------------- model arguments


def adapter_spec(
    pretrained: str, adapter: str, revision: str | None, dtype: str, device: str, args: Mapping[str, Any]
) -> ModelSpec:
    """Our ModelSpec for lmms-eval's `pretrained=`: one of our model names (`janus-pro-7b`, `janusflow-1.3b`, the
    tiny ones), a hub id of one of them, or, for the adapter named by `adapter` (`janus_hf` or `janusflow`), a local
    folder or another hub id."""
    text_args = {key: _arg_text(value) for key, value in args.items()}
    if adapter not in CHECKPOINT_ADAPTERS:  # e.g. `predictions`: no checkpoint to name
        return ModelSpec(name=adapter, revision=revision, dtype=dtype, device=device, args=text_args)
    names = {*MODELS.names(), *MODELS.aliases()}
    by_hub_id = {hub_id: alias for alias, hub_id in {**HUB_IDS, **FLOW_HUB_IDS}.items()}
    if pretrained in names and pretrained not in CHECKPOINT_ADAPTERS:
        name, model_path = pretrained, None
    elif pretrained in by_hub_id:
        name, model_path = by_hub_id[pretrained], None
    elif os.path.isdir(os.path.expanduser(pretrained)):
        name, model_path = adapter, pretrained
    else:
        name, model_path = adapter, None
        text_args["model"] = pretrained
    return ModelSpec(name=name, model_path=model_path, revision=revision, dtype=dtype, device=device, args=text_args)


def _arg_text(value: Any) -> str:
    """lmms-eval parses `true`, numbers and floats out of --model_args; our adapters take the text back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _batch_size(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"janus: batch_size={value!r} must be a positive integer (lmms-eval's 'auto' is not supported)")
    return int(text)


def _distributed_device(device: str | None) -> str:
    """The device: the one asked for, else the process's own GPU under a multi-process launch, else auto."""
    if device:
        return str(device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "auto"


# ----------------------------------------------------------------------------- the model classes


class _JanusLmms(lmms):
    """What both lmms-eval classes share: arguments, the wrapped adapter, batching and stop strings.

    Model arguments (`--model_args k=v,...`): `pretrained` (one of our model names, e.g. `janus-pro-7b` or
    `janusflow-1.3b`, a hub id, or a local folder; default deepseek-community/Janus-Pro-7B), `revision`, `dtype` (auto = bf16 on CUDA, float32 on CPU), `device`,
    `batch_size` (requests per adapter call; wins over --batch_size), `chat_template` (`checkpoint`, the default:
    the checkpoint's saved chat template, as lmms-eval's chat models; `deepseek`: the paper protocol's
    rendering), `system_prompt` (text or a file; default none), `max_new_tokens` (when a task names none),
    `adapter` (the janus-eval adapter for a local folder or an unnamed hub id: `janus_hf`, the default, or
    `janusflow`; `predictions` replays saved outputs); JanusFlow renders its own template (no `chat_template`); any other
    argument goes to the adapter (`chat_roles`, `image_preprocessing`, `do_normalize`, `processor_from`, `path`, ...).
    """

    def __init__(
        self,
        pretrained: str = DEFAULT_PRETRAINED,
        revision: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int | str | None = 1,
        chat_template: str = "checkpoint",
        system_prompt: str = "",
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        adapter: str = ADAPTER_NAME,
        max_batch_size: int | None = None,  # passed by lmms-eval's evaluator; only meaningful with 'auto'
        **adapter_args: Any,
    ) -> None:
        super().__init__()
        if chat_template not in CHAT_TEMPLATES:
            raise UserError(f"janus: chat_template={chat_template!r} is not valid; choose one of: {', '.join(CHAT_TEMPLATES)}")
        self.chat_template = chat_template
        self.system_prompt = self._resolve_system_prompt(str(system_prompt or "").replace("\\n", "\n"))
        self.default_max_new_tokens = int(max_new_tokens)
        self.batch_size_per_call = _batch_size(batch_size) or 1
        spec = adapter_spec(
            str(pretrained), str(adapter), None if revision is None else str(revision), str(dtype),
            _distributed_device(device), adapter_args,
        )
        canonical = MODELS.resolve(spec.name)[0]
        if canonical == ADAPTER_NAME:
            # the adapter itself renders with DeepSeek's template or the checkpoint's
            spec = replace(spec, args={"chat_template": chat_template, **spec.args})
        elif canonical == FLOW_ADAPTER_NAME:
            log.info("janus: JanusFlow renders its own User/Assistant template (chat_template does not apply)")
        self.spec = spec
        self.adapter: ModelAdapter = MODELS.get(self.spec.name).from_spec(self.spec)
        self._rank = int(os.environ.get("RANK", "0"))
        self._world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self._warned: set[tuple[str, tuple[str, ...]]] = set()

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> "_JanusLmms":
        """As lmms-eval's, except that `batch_size` in --model_args wins over the CLI's --batch_size (which is
        always passed, 1 by default) instead of raising a duplicate-argument error."""
        from lmms_eval.utils import simple_parse_args_string

        args = simple_parse_args_string(arg_string)
        extra = {key: value for key, value in (additional_config or {}).items() if value is not None and key not in args}
        return cls(**args, **extra)

    @property
    def device(self) -> Any:
        """The torch device of the wrapped adapter (lmms-eval's evaluator puts its gather tensors there)."""
        import torch

        return getattr(self.adapter, "device", None) or torch.device("cpu")

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_call

    # ------------------------------------------------------------------ requests

    def text_request(
        self, messages: list[ChatMessage], gen_kwargs: Mapping[str, Any], doc_id: int, task: str, split: str
    ) -> tuple[TextRequest, list[str]]:
        """One of our requests (and its stop strings) for one lmms-eval instance."""
        max_new_tokens, temperature, stops = generation_settings(gen_kwargs, self.default_max_new_tokens)
        unknown = tuple(sorted(set(gen_kwargs) - _NEUTRAL_KWARGS))
        if unknown and (task, unknown) not in self._warned:
            self._warned.add((task, unknown))
            log.warning("janus ignores generation kwargs of task %s: %s", task, ", ".join(unknown))
        messages = with_system_prompt(messages, self.system_prompt)
        if self.chat_template == "deepseek":
            messages = [
                ChatMessage(m.role, paper_spacing(m.content)) if m.role == "user" else m for m in messages
            ]
        request = TextRequest(
            task=task,
            sample_id=f"lmms_eval:{task}:{split}:{doc_id}",
            index=int(doc_id),
            messages=messages,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
        )
        return request, stops

    def run(self, jobs: Sequence[tuple[TextRequest, list[str]]]) -> list[str]:
        """Generates every request through the adapter; texts in the jobs' order.

        lmms-eval hands over the requests of all its tasks at once: batches hold requests of one token budget and
        temperature (a batch runs until its longest row stops, so a 16-token MME question would otherwise wait
        for 128-token POPE rows), of similar prompt length within it.
        """
        from tqdm import tqdm

        def settings(index: int) -> tuple[int, float]:
            return jobs[index][0].max_new_tokens, jobs[index][0].temperature

        order = sorted(range(len(jobs)), key=lambda index: (settings(index), -jobs[index][0].length_hint))
        batches: list[list[int]] = []
        for index in order:
            if batches and len(batches[-1]) < self.batch_size_per_call and settings(batches[-1][0]) == settings(index):
                batches[-1].append(index)
            else:
                batches.append([index])
        texts: list[str] = [""] * len(jobs)
        if batches:
            self.adapter.load()
        with tqdm(total=len(jobs), disable=self.rank != 0, desc="janus") as progress:
            for batch in batches:
                outputs = self.adapter.generate_text([jobs[index][0] for index in batch])
                for index, output in zip(batch, outputs):
                    texts[index] = truncate_at_stops(output.text, jobs[index][1])
                progress.update(len(batch))
        return texts

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(LOGLIKELIHOOD_MESSAGE)

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError(
            "janus runs single-round tasks only (generate_until); multi-round tasks need the model's previous "
            "answers fed back, which the bridge does not do"
        )

    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Answers in the requests' order; every request becomes one of ours, generated in batches."""
        jobs = [self.text_request(*self.instance_messages(request.args)) for request in requests]
        texts = self.run(jobs)
        for request, text in zip(requests, texts):
            self.cache_hook.add_partial("generate_until", (request.args[0], request.args[1 if self.is_simple else 2]), text)
        return texts

    def instance_messages(self, args: tuple[Any, ...]) -> tuple[list[ChatMessage], Mapping[str, Any], int, str, str]:
        """(messages, generation kwargs, doc id, task, split) of one instance's arguments."""
        raise NotImplementedError

    def _doc(self, task: str, split: str, doc_id: int) -> Any:
        return self.task_dict[task][split][doc_id]


class JanusSimple(_JanusLmms):
    """lmms-eval's simple model interface: (context, gen_kwargs, doc_to_visual, doc_id, task, split)."""

    is_simple: ClassVar[bool] = True

    def instance_messages(self, args: tuple[Any, ...]) -> tuple[list[ChatMessage], Mapping[str, Any], int, str, str]:
        context, gen_kwargs, doc_to_visual, doc_id, task, split = args
        visuals = doc_to_visual(self._doc(task, split, doc_id)) if doc_to_visual else None
        images = as_images(visuals, f"{task} doc {doc_id}")
        return [ChatMessage(role="user", content=interleave(str(context), images))], gen_kwargs, doc_id, task, split


class JanusChat(_JanusLmms):
    """lmms-eval's chat interface: (context, doc_to_messages, gen_kwargs, doc_id, task, split)."""

    is_simple: ClassVar[bool] = False

    def instance_messages(self, args: tuple[Any, ...]) -> tuple[list[ChatMessage], Mapping[str, Any], int, str, str]:
        _context, doc_to_messages, gen_kwargs, doc_id, task, split = args
        doc = self._doc(task, split, doc_id)
        messages = doc_to_messages(doc) if callable(doc_to_messages) else list(doc_to_messages)
        return chat_messages(messages, f"{task} doc {doc_id}"), gen_kwargs, doc_id, task, split


__all__ = ["JanusChat", "JanusSimple", "lmms_eval_models"]
