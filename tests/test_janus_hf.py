"""The Janus adapter on the real (tiny, random) Janus model: prompts, batching, seeding, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from janus_eval.model_adapters.chat_template import (
    PLAIN_ROLES,
    SPECIAL_ROLES,
    render_chat,
    render_generation_prompt,
)
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_sampling import ImageRow, filter_logits
from janus_eval.model_adapters.janus_tiny import BUILDER_VERSION, ensure_tiny_checkpoint
from janus_eval.model_adapters.transformers_compat import cache_argument, cache_kwargs
from PIL import Image

from janus_eval.api import ChatMessage, ImageRequest, ModelSpec, TextRequest
from janus_eval.errors import UserError
from janus_eval.registry import MODELS
from tests.helpers import hub_cache_copy

IMG = Image.new("RGB", (40, 24), (200, 30, 30))
IMG2 = Image.new("RGB", (20, 30), (20, 180, 60))
YN_SUFFIX = "\nAnswer the question using a single word or phrase."


@pytest.fixture(scope="module")
def adapter() -> JanusHFAdapter:
    return JanusHFAdapter.from_spec(ModelSpec("janus-tiny"))


def _text(index: int, content: list[Any], max_new_tokens: int = 6, temperature: float = 0.0) -> TextRequest:
    return TextRequest("t", f"s{index}", index, [ChatMessage("user", content)], max_new_tokens, temperature)


def _image(index: int, prompt: str, seeds: list[int], **settings: Any) -> ImageRequest:
    return ImageRequest("g", f"p{index}", index, prompt, seeds, **settings)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


# ----------------------------------------------------------------------------- prompt rendering


def test_paper_example_renders_exactly() -> None:
    messages = [ChatMessage("user", [IMG, "\nIs there a dog in the image?" + YN_SUFFIX])]
    assert render_chat(messages) == (
        "User: <image_placeholder>\nIs there a dog in the image?\n"
        "Answer the question using a single word or phrase.\n\nAssistant:"
    )


def test_system_prompt_is_prefixed_only_when_non_empty() -> None:
    system = "You are a helpful assistant. Please answer truthfully."
    with_system = [ChatMessage("system", [system]), ChatMessage("user", [IMG, "\nWhat is it?"])]
    assert render_chat(with_system) == f"{system}\n\nUser: <image_placeholder>\nWhat is it?\n\nAssistant:"
    empty_system = [ChatMessage("system", [""]), ChatMessage("user", ["hi"])]
    assert render_chat(empty_system) == "User: hi\n\nAssistant:"


def test_several_images_render_in_place() -> None:
    messages = [ChatMessage("user", [IMG, IMG2, "\nWhich one is brighter? ", IMG, " end  "])]
    assert render_chat(messages) == (
        "User: <image_placeholder><image_placeholder>\nWhich one is brighter? <image_placeholder> end\n\nAssistant:"
    )


def test_special_roles_and_earlier_turns() -> None:
    messages = [ChatMessage("user", ["  q1 "]), ChatMessage("assistant", ["a1"]), ChatMessage("user", ["q2"])]
    assert render_chat(messages, SPECIAL_ROLES) == (
        "<|User|>: q1\n\n<|Assistant|>: a1<｜end▁of▁sentence｜><|User|>: q2\n\n<|Assistant|>:"
    )
    with pytest.raises(ValueError):
        render_chat([ChatMessage("user", ["q"]), ChatMessage("assistant", ["a"])])


def test_generation_prompt(adapter: JanusHFAdapter) -> None:
    assert render_generation_prompt("a red apple") == "<|User|>: a red apple\n\n<|Assistant|>:"
    assert render_generation_prompt("a red apple", PLAIN_ROLES) == "User: a red apple\n\nAssistant:"
    ids = adapter.image_prompt_ids("a red apple")
    tokenizer = adapter.tokenizer
    assert ids[0] == tokenizer.bos_token_id
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<begin_of_image>")
    assert tokenizer.decode(ids[1:]) == "<|User|>: a red apple\n\n<|Assistant|>:<begin_of_image>"


def test_role_arguments_switch_templates() -> None:
    swapped = JanusHFAdapter.from_spec(ModelSpec("janus-tiny", args={"chat_roles": "special", "gen_roles": "plain"}))
    request = _text(0, [IMG, "\nq"])
    assert swapped.render_text_prompt(request) == "<|User|>: <image_placeholder>\nq\n\n<|Assistant|>:"
    assert swapped.render_image_prompt("cat") == "User: cat\n\nAssistant:"
    assert swapped.identity()["chat_roles"] == "special" and swapped.identity()["gen_roles"] == "plain"


# ----------------------------------------------------------------------------- naming & identity


def test_registry_names() -> None:
    for name in ("janus_hf", "janus-tiny", "janus-pro-1b", "janus-pro-7b", "janus-1.3b"):
        assert MODELS.get(name) is JanusHFAdapter
    assert JanusHFAdapter.supports == frozenset({"text", "image"})


def test_tiny_label_reference_and_identity(adapter: JanusHFAdapter) -> None:
    assert adapter.label == "janus-tiny"
    assert adapter.reference_key is None
    identity = adapter.identity()
    json.dumps(identity)
    assert identity["adapter"] == "janus_hf" and identity["model"] == "janus-tiny"
    assert identity["tiny_builder_version"] == BUILDER_VERSION
    assert identity["dtype"] == "float32" and identity["device"] == "cpu"
    assert identity["chat_roles"] == "plain" and identity["gen_roles"] == "special"
    assert len(identity["fingerprint"]["weights"]["model.safetensors"]) == 64  # a sha256 hex digest
    assert adapter.peak_memory_bytes() is None
    assert adapter.processor.use_default_system_prompt is False


def test_local_path_label_and_published_as(tmp_path: Path) -> None:
    folder = tmp_path / "my-janus"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    local = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder)))
    assert local.label == "my-janus" and local.reference_key is None
    assert local.identity()["model"] == str(folder.resolve())
    assert "fingerprint" in local.identity()
    named = JanusHFAdapter.from_spec(ModelSpec("janus-pro-7b", model_path=str(folder), args={"label": "mine"}))
    assert named.label == "mine" and named.reference_key == "janus-pro-7b"
    published = JanusHFAdapter.from_spec(
        ModelSpec("janus_hf", model_path=str(folder), args={"published_as": "janus-pro-1b"})
    )
    assert published.reference_key == "janus-pro-1b"


def test_hub_id_loads_from_local_cache_offline() -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    with hub_cache_copy("janus-eval-test/tiny-cached", commit, ensure_tiny_checkpoint()):
        cached = JanusHFAdapter.from_spec(ModelSpec("janus_hf", args={"model": "janus-eval-test/tiny-cached"}))
        identity = cached.identity()
        assert identity["model"] == "janus-eval-test/tiny-cached" and identity["commit"] == commit
        assert "fingerprint" not in identity and cached.label == "tiny-cached"


# ----------------------------------------------------------------------------- text generation


def test_batched_text_equals_one_at_a_time_with_mixed_images(adapter: JanusHFAdapter) -> None:
    question = "\nIs there a dog in the image?" + YN_SUFFIX
    requests = [
        _text(0, [IMG, question], max_new_tokens=8),
        _text(1, ["A question without any image, rather long to force padding of the others."], max_new_tokens=3),
        _text(2, [IMG, IMG2, "\nCompare the two images."], max_new_tokens=12),
        _text(3, [IMG2, "\nWhat colour?"], max_new_tokens=1),
        _text(4, [IMG2, question], max_new_tokens=8),  # request 0 with the other image
        _text(5, [IMG, "\nWhat is shown in this image?"], max_new_tokens=8),  # request 0 with another question
    ]
    batched = adapter.generate_text(requests)
    alone = [adapter.generate_text([request])[0] for request in requests]
    assert all(isinstance(output.text, str) for output in batched)
    assert [output.text for output in batched] == [output.text for output in alone]
    # Same token budget, so only the prompt can tell these apart: the random model reads both image and text.
    same_budget = [batched[index].text for index in (0, 4, 5)]
    assert len(set(same_budget)) == 3, same_budget


def test_checkpoint_generation_defaults_do_not_change_greedy_text(tmp_path: Path) -> None:
    """transformers fills unset generate() options from the checkpoint's generation_config.json;
    the greedy protocol must not pick up its repetition penalty or n-gram ban."""
    plain, tweaked = tmp_path / "plain", tmp_path / "tweaked"
    shutil.copytree(ensure_tiny_checkpoint(), plain)
    shutil.copytree(ensure_tiny_checkpoint(), tweaked)
    config_path = tweaked / "generation_config.json"
    config = json.loads(config_path.read_text())
    config.update({"repetition_penalty": 3.0, "no_repeat_ngram_size": 1})
    config_path.write_text(json.dumps(config))
    requests = [
        _text(0, [IMG, "\nDescribe the image in detail."], max_new_tokens=16),
        _text(1, ["Tell me a long story about a dog."], max_new_tokens=16),
    ]
    reference = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(plain))).generate_text(requests)
    adapter = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(tweaked)))
    assert adapter.model.generation_config.repetition_penalty == 3.0  # the checkpoint's defaults did load
    assert adapter.generate_text(requests) == reference
    assert adapter.model.generation_config.no_repeat_ngram_size == 1  # and are put back after the call


def test_text_respects_each_max_new_tokens(adapter: JanusHFAdapter) -> None:
    prompt = [IMG, "\nDescribe the image."]
    short, long = adapter.generate_text([_text(0, prompt, max_new_tokens=2), _text(1, prompt, max_new_tokens=10)])
    inputs = adapter.processor(text=[adapter.render_text_prompt(_text(0, prompt))], images=[IMG], return_tensors="pt")
    reference = adapter.model.generate(**inputs, max_new_tokens=2, do_sample=False)
    expected = adapter.tokenizer.decode(reference[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert short.text == expected
    assert len(adapter.tokenizer(short.text, add_special_tokens=False)["input_ids"]) <= 2
    assert long.text != short.text


def test_batch_size_argument_chunks_without_changing_results(adapter: JanusHFAdapter) -> None:
    requests = [_text(i, [IMG, f"\nQuestion number {i}?"], max_new_tokens=4) for i in range(3)]
    chunked = JanusHFAdapter.from_spec(ModelSpec("janus-tiny", args={"batch_size": "2"}))
    assert chunked.generate_text(requests) == adapter.generate_text(requests)


def test_sampled_text_is_seeded_per_request(adapter: JanusHFAdapter) -> None:
    sampled = _text(7, ["Tell me a story."], max_new_tokens=8, temperature=1.0)
    together = adapter.generate_text([_text(0, [IMG, "\nq"]), sampled])[1]
    assert together == adapter.generate_text([sampled])[0]
    assert together != adapter.generate_text([_text(7, ["Tell me a story."], max_new_tokens=8)])[0]


# ----------------------------------------------------------------------------- image generation


def test_images_have_requested_count_mode_and_size(adapter: JanusHFAdapter) -> None:
    (output,) = adapter.generate_images([_image(0, "a red apple", [1, 2, 3])])
    assert len(output.images) == 3
    side = adapter.model.config.vq_config.num_patches * 2 ** (
        len(adapter.model.config.vq_config.channel_multiplier) - 1
    )
    for image in output.images:
        assert image.mode == "RGB" and image.size == (side, side) == (32, 32)


def test_images_are_seeded_and_batch_independent(adapter: JanusHFAdapter) -> None:
    short = _image(0, "a cat", [11, 12])
    long = _image(1, "a photo of two clocks standing on a long wooden bench in the park", [13])
    together = adapter.generate_images([short, long])
    alone_short, alone_long = adapter.generate_images([short])[0], adapter.generate_images([long])[0]
    for got, expected in zip(together[0].images + together[1].images, alone_short.images + alone_long.images):
        assert np.array_equal(_pixels(got), _pixels(expected))
    again = adapter.generate_images([short])[0]
    assert all(np.array_equal(_pixels(a), _pixels(b)) for a, b in zip(again.images, alone_short.images))
    assert not np.array_equal(_pixels(together[0].images[0]), _pixels(together[0].images[1]))

    one_row_at_a_time = JanusHFAdapter.from_spec(ModelSpec("janus-tiny", args={"image_batch_size": "1"}))
    chunked = one_row_at_a_time.generate_images([short, long])
    for got, expected in zip(chunked[0].images + chunked[1].images, together[0].images + together[1].images):
        assert np.array_equal(_pixels(got), _pixels(expected))


@pytest.mark.parametrize("cfg_weight", [1.0, 0.0, 3.5])
def test_any_cfg_weight_works(adapter: JanusHFAdapter, cfg_weight: float) -> None:
    (output,) = adapter.generate_images([_image(0, "a blue bench", [5], cfg_weight=cfg_weight)])
    assert len(output.images) == 1 and output.images[0].size == (32, 32)


def test_cfg_weight_one_is_the_conditional_distribution(adapter: JanusHFAdapter) -> None:
    ids = adapter.image_prompt_ids("a dog")
    request = _image(0, "a dog", [0], cfg_weight=1.0, temperature=0.0)
    tokens = adapter.sample_image_tokens([ImageRow(0, ids, request, 0)])
    # Greedy decoding of the conditional branch alone, step by step.
    model = adapter.model
    with torch.inference_mode():
        embeds = model.get_input_embeddings()(torch.tensor([ids]))
        expected = []
        past = None
        language_model = model.model.language_model
        for _ in range(adapter.num_image_tokens):
            out = language_model(inputs_embeds=embeds, use_cache=True, **cache_kwargs(language_model, past, None))
            past = getattr(out, cache_argument(language_model))
            code = model.model.generation_head(out.last_hidden_state[:, -1]).argmax(-1)
            expected.append(int(code))
            embeds = model.prepare_embeddings_for_image_generation(code.unsqueeze(-1))
    assert tokens[0].tolist() == expected


def test_greedy_image_tokens_match_transformers_generate(adapter: JanusHFAdapter) -> None:
    prompts = ["a red apple", "a photo of two clocks on a long wooden bench"]
    requests = [_image(i, prompt, [0], cfg_weight=5.0, temperature=0.0) for i, prompt in enumerate(prompts)]
    rows = [ImageRow(i, adapter.image_prompt_ids(r.prompt), r, 0) for i, r in enumerate(requests)]
    ours = adapter.sample_image_tokens(rows)
    inputs = adapter.processor(
        text=[adapter.render_image_prompt(p) for p in prompts],
        generation_mode="image",
        padding=True,
        return_tensors="pt",
    )
    reference = adapter.model.generate(**inputs, generation_mode="image", guidance_scale=5.0, do_sample=False)
    assert torch.equal(ours, reference)


@pytest.mark.parametrize("top_k, top_p", [(2, None), (10, None), (None, 0.5), (None, 0.9), (5, 0.8)])
def test_top_k_and_top_p_match_transformers_warpers(top_k: int | None, top_p: float | None) -> None:
    from transformers import LogitsProcessorList, TopKLogitsWarper, TopPLogitsWarper

    logits = torch.randn(6, 64, generator=torch.Generator().manual_seed(0)) * 3
    warpers = LogitsProcessorList(
        ([TopKLogitsWarper(top_k)] if top_k else []) + ([TopPLogitsWarper(top_p)] if top_p else [])
    )
    expected = warpers(torch.zeros(6, 1, dtype=torch.long), logits.clone())
    assert torch.equal(torch.isfinite(filter_logits(logits, top_k, top_p)), torch.isfinite(expected))


def test_top_k_one_equals_greedy(adapter: JanusHFAdapter) -> None:
    greedy = adapter.generate_images([_image(0, "a cat", [1], temperature=0.0)])[0].images[0]
    top1 = adapter.generate_images([_image(0, "a cat", [2], temperature=1.0, top_k=1)])[0].images[0]
    assert np.array_equal(_pixels(greedy), _pixels(top1))


# ----------------------------------------------------------------------------- user errors


@pytest.mark.parametrize(
    "spec, expected",
    [
        (ModelSpec("janus-tiny", dtype="fp8"), "dtype 'fp8'"),
        (ModelSpec("janus-tiny", device="tpu"), "device 'tpu'"),
        (ModelSpec("janus-tiny", device="cuda:0"), "CUDA is not available"),
        (ModelSpec("janus-tiny", args={"bogus": "1"}), "bogus"),
        (ModelSpec("janus-tiny", args={"chat_roles": "fancy"}), "chat_roles"),
        (ModelSpec("janus-tiny", args={"batch_size": "0"}), "batch_size"),
        (ModelSpec("janus-tiny", model_path="/nonexistent/janus"), "not a directory"),
        (ModelSpec("janus-tiny", model_path="/tmp", revision="main"), "--revision"),
        (ModelSpec("janus_hf"), "--model-path"),
    ],
)
def test_bad_specs_are_user_errors(spec: ModelSpec, expected: str) -> None:
    if spec.device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(UserError) as error:
        JanusHFAdapter.from_spec(spec)
    assert expected in str(error.value)


def test_janus_13b_offline_says_how_to_provide_the_weights() -> None:
    with pytest.raises(UserError) as error:
        JanusHFAdapter.from_spec(ModelSpec("janus-1.3b"))
    message = str(error.value)
    assert "hf download deepseek-ai/Janus-1.3B --revision 56c70f4d34ca802c96254aea598b7d8e58e73840" in message
    assert "--model-path" in message


@pytest.mark.parametrize(
    "name, hub_id", [("janus-pro-7b", "deepseek-community/Janus-Pro-7B"), ("janus_hf", "nobody/not-cached")]
)
def test_uncached_hub_id_offline_is_a_user_error(name: str, hub_id: str) -> None:
    args = {"model": hub_id} if name == "janus_hf" else {}
    with pytest.raises(UserError) as error:  # its config.json is already missing: from_spec says so
        JanusHFAdapter.from_spec(ModelSpec(name, args=args)).load()
    message = str(error.value)
    assert hub_id in message and "--model-path" in message and f"hf download {hub_id}" in message
