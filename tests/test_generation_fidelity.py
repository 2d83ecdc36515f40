"""Image generation reproduces DeepSeek's reference arithmetic: roles per model, truncated pixels, guidance in
the model's dtype, the same images for the same seeds, and transformers' cache argument under either name."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_image_generation import unconditional_ids
from janus_eval.model_adapters.janus_sampling import ImageCodeSampler, ImageRow, inverse_cdf
from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint
from janus_eval.model_adapters.transformers_compat import cache_argument, cache_kwargs

from janus_eval.api import ChatMessage, ImageRequest, ModelSpec, TextRequest
from janus_eval.errors import UserError


@pytest.fixture(scope="module")
def adapter() -> JanusHFAdapter:
    return JanusHFAdapter.from_spec(ModelSpec("janus-tiny"))


@pytest.fixture(scope="module")
def tiny_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt") / "janus-copy"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    return folder


def _request(prompt: str, seeds: list[int], **settings: Any) -> ImageRequest:
    return ImageRequest("g", prompt, 0, prompt, seeds, **settings)


# ----------------------------------------------------------------------------- roles per model


@pytest.mark.parametrize(
    "name, args, roles, prompt",
    [
        ("janus-1.3b", {}, "plain", "User: a cat\n\nAssistant:"),
        ("janus_hf", {"published_as": "janus-1.3b"}, "plain", "User: a cat\n\nAssistant:"),
        ("janus-pro-7b", {}, "special", "<|User|>: a cat\n\n<|Assistant|>:"),
        ("janus_hf", {}, "special", "<|User|>: a cat\n\n<|Assistant|>:"),
        ("janus-1.3b", {"gen_roles": "special"}, "special", "<|User|>: a cat\n\n<|Assistant|>:"),
    ],
)
def test_generation_roles_default_to_the_models_own_code(
    tiny_copy: Path, name: str, args: dict[str, str], roles: str, prompt: str
) -> None:
    adapter = JanusHFAdapter.from_spec(ModelSpec(name, model_path=str(tiny_copy), args=args))
    assert adapter.gen_roles == roles and adapter.identity()["gen_roles"] == roles
    assert adapter.render_image_prompt("a cat") == prompt
    template = adapter.prompt_template("image")
    assert template is not None
    assert template["template"] == prompt.replace("a cat", "{prompt}") + "<begin_of_image>"
    expected_source = "the gen_roles argument" if "gen_roles" in args else "the default of"
    assert template["roles_chosen_by"].startswith(expected_source)


def test_the_protocol_card_records_the_rendered_template(tmp_path: Path, tiny_copy: Path) -> None:
    from janus_eval.engine.runner import RunConfig, evaluate

    config = RunConfig(
        model=ModelSpec("janus-1.3b", model_path=str(tiny_copy)), tasks=["geneval"], data_mode="demo",
        limit=1, output_dir=tmp_path, show_progress=False,
        task_options={"geneval": {"images_per_prompt": 1}},
    )  # fmt: skip
    (result,) = evaluate(config)
    assert result.protocol["model"]["prompt"]["template"] == "User: {prompt}\n\nAssistant:<begin_of_image>"
    assert result.protocol["model"]["prompt"]["roles"] == ["User", "Assistant"]


def test_the_recorded_template_is_what_the_tokenizer_sees(adapter: JanusHFAdapter) -> None:
    template = adapter.prompt_template("image")["template"]  # rendered without the weights
    assert template == adapter.tokenizer.decode(adapter.image_prompt_ids("{prompt}")[1:])
    text = adapter.prompt_template("text")["template"]
    request = TextRequest("t", "s", 0, [ChatMessage("user", ["{text}"])], 1)
    assert text == adapter.render_text_prompt(request)


# ----------------------------------------------------------------------------- pixels


def test_pixels_are_truncated_as_generation_inference_does(adapter: JanusHFAdapter) -> None:
    codes = torch.randint(0, 64, (2, adapter.num_image_tokens), generator=torch.Generator().manual_seed(3))
    images = adapter.decode_image_tokens(codes)
    with torch.no_grad():
        for row, image in zip(codes, images):
            dec = adapter.model.decode_image_tokens(row.unsqueeze(0)).to(torch.float32).cpu().numpy()
            dec = np.clip((dec + 1) / 2 * 255, 0, 255)  # generation_inference.py, then stored into uint8
            visual = np.zeros(dec.shape, dtype=np.uint8)
            visual[:, :, :] = dec
            assert np.array_equal(np.asarray(image), visual[0])
            rounded = np.round(dec[0]).astype(np.uint8)
            assert not np.array_equal(np.asarray(image), rounded)  # rounding would be another image


# ----------------------------------------------------------------------------- guidance dtype


def _rows(count: int, **settings: Any) -> list[ImageRow]:
    return [ImageRow(0, [1, 2], _request("p", [seed], **settings), seed) for seed in range(count)]


def test_guidance_runs_in_the_model_dtype_by_default() -> None:
    generator = torch.Generator().manual_seed(0)
    cond = (torch.randn(64, 512, generator=generator) * 0.5).to(torch.bfloat16)
    uncond = (torch.randn(64, 512, generator=generator) * 0.5).to(torch.bfloat16)
    rows = _rows(64, cfg_weight=5.0, temperature=1.0)
    sampler = ImageCodeSampler(rows, num_steps=1)
    # generation_inference.py, verbatim, on bf16 logits; then the same uniforms by inverse CDF
    probs = torch.softmax((uncond + 5.0 * (cond - uncond)) / 1.0, dim=-1)
    assert probs.dtype == torch.bfloat16
    expected = inverse_cdf(probs, sampler.uniforms[:, 0])
    assert torch.equal(sampler(cond, uncond, 0), expected)
    in_float = ImageCodeSampler(rows, num_steps=1, cfg_dtype=torch.float32)
    float_probs = torch.softmax(uncond.float() + 5.0 * (cond.float() - uncond.float()), dim=-1)
    assert torch.equal(in_float(cond, uncond, 0), inverse_cdf(float_probs, in_float.uniforms[:, 0]))
    # the two arithmetics are different distributions: some of these 64 draws land on other codes
    assert not torch.equal(sampler(cond, uncond, 0), in_float(cond, uncond, 0))


def test_cfg_dtype_is_recorded_and_validated(tiny_copy: Path) -> None:
    bf16 = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(tiny_copy), dtype="bfloat16"))
    assert bf16.identity()["cfg_dtype"] == "bfloat16" and bf16.prompt_template("image")["guidance_dtype"] == "bfloat16"
    bf16.load()
    assert bf16.image_loop.cfg_dtype is None
    as_float = JanusHFAdapter.from_spec(
        ModelSpec("janus_hf", model_path=str(tiny_copy), dtype="bfloat16", args={"cfg_dtype": "float32"})
    )
    as_float.load()
    assert as_float.identity()["cfg_dtype"] == "float32" and as_float.image_loop.cfg_dtype == torch.float32
    (output,) = bf16.generate_images([_request("a cat", [4])])
    assert output.images[0].size == (32, 32)
    with pytest.raises(UserError, match="cfg_dtype"):
        JanusHFAdapter.from_spec(ModelSpec("janus-tiny", args={"cfg_dtype": "fp8"}))


# ----------------------------------------------------------------------------- same seeds, same images


def _per_step_reference(adapter: JanusHFAdapter, rows: list[ImageRow]) -> torch.Tensor:
    """The earlier loop: dynamic cache, one uniform per row and step drawn from its generator at that step."""
    model, count = adapter.model, len(rows)
    sequences = [r.prompt_ids for r in rows] + [unconditional_ids(r.prompt_ids, adapter.uncond_fill_id) for r in rows]
    length = max(len(ids) for ids in sequences)
    input_ids = torch.full((2 * count, length), adapter.pad_token_id)
    attention = torch.zeros((2 * count, length), dtype=torch.long)
    for index, ids in enumerate(sequences):
        input_ids[index, length - len(ids) :] = torch.tensor(ids)
        attention[index, length - len(ids) :] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    generators = [torch.Generator().manual_seed(r.seed) for r in rows]
    language_model = model.model.language_model
    embeds = model.get_input_embeddings()(input_ids)
    cache = None
    tokens = []
    with torch.inference_mode():
        for _ in range(adapter.num_image_tokens):
            kwargs = cache_kwargs(language_model, cache, None) if cache is not None else {}
            out = language_model(inputs_embeds=embeds, attention_mask=attention, position_ids=positions, use_cache=True, **kwargs)
            cache = getattr(out, cache_argument(language_model))
            logits = model.model.generation_head(out.last_hidden_state[:, -1]).float()
            guided = logits[count:] + 5.0 * (logits[:count] - logits[count:])
            uniforms = torch.stack([torch.rand((), generator=g) for g in generators])
            codes = inverse_cdf(torch.softmax(guided, dim=-1), uniforms)
            tokens.append(codes)
            embeds = model.prepare_embeddings_for_image_generation(torch.cat([codes, codes]).unsqueeze(-1))
            attention = torch.cat([attention, attention.new_ones((2 * count, 1))], dim=-1)
            positions = positions[:, -1:] + 1
    return torch.stack(tokens, dim=1)


def test_same_seeds_give_the_same_images_as_the_per_step_loop(adapter: JanusHFAdapter) -> None:
    requests = [_request("a cat", [11, 12]), _request("a photo of two clocks on a long wooden bench", [13])]
    rows = [ImageRow(i, adapter.image_prompt_ids(r.prompt), r, seed) for i, r in enumerate(requests) for seed in r.seeds]
    assert torch.equal(adapter.sample_image_tokens(rows), _per_step_reference(adapter, rows))


def test_the_compiled_step_traces_and_gives_the_same_codes(tiny_copy: Path, adapter: JanusHFAdapter) -> None:
    traced = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(tiny_copy), args={"compile": "eager"}))
    assert traced.identity()["compile"] == "eager"
    rows = [ImageRow(0, adapter.image_prompt_ids("a cat"), _request("a cat", [5, 6]), seed) for seed in (5, 6)]
    assert torch.equal(traced.sample_image_tokens(rows), adapter.sample_image_tokens(rows))


# ----------------------------------------------------------------------------- transformers' cache argument


class _OldStyle(torch.nn.Module):
    def forward(self, inputs_embeds: Any = None, past_key_values: Any = None, cache_position: Any = None) -> None:
        return None


class _NewStyle(torch.nn.Module):
    def forward(self, inputs_embeds: Any = None, cache: Any = None, **kwargs: Any) -> None:
        return None


def test_the_cache_argument_is_spelled_as_the_model_takes_it(adapter: JanusHFAdapter) -> None:
    position = torch.arange(3)
    assert cache_kwargs(_OldStyle(), "C", position) == {"past_key_values": "C", "cache_position": position}
    assert cache_kwargs(_NewStyle(), "C", position) == {"cache": "C"}
    language_model = adapter.model.model.language_model
    import transformers
    from packaging.version import Version

    renamed = Version(transformers.__version__) >= Version("5.24")  # 5.23 takes past_key_values, 5.24 cache
    assert cache_argument(language_model) == ("cache" if renamed else "past_key_values")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # a deprecated argument name warns with FutureWarning
        adapter.generate_images([_request("a cat", [1])])
