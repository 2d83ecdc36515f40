"""The JanusFlow adapter on janusflow-tiny: batching never changes an output, settings are recorded, errors are clear."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from janus_eval.model_adapters.janusflow import JanusFlowAdapter
from janus_eval.model_adapters.janusflow_loading import PINNED_REVISIONS, SDXL_VAE, SDXL_VAE_REVISION
from janus_eval.model_adapters.janusflow_tiny import TINY_VAE_FOLDER, ensure_tiny_checkpoint
from PIL import Image

from janus_eval.api import ChatMessage, ImageRequest, ModelSpec, TextRequest
from janus_eval.errors import UserError
from janus_eval.registry import MODELS
from tests.helpers import hub_cache_copy, read_json, run_cli

IMG = Image.new("RGB", (40, 24), (200, 30, 30))
IMG2 = Image.new("RGB", (20, 30), (20, 180, 60))


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """The tiny model's ops are too small to gain from threads; on a shared machine they only lose time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def adapter() -> JanusFlowAdapter:
    return JanusFlowAdapter.from_spec(ModelSpec("janusflow-tiny"))


def _text(index: int, content: list[Any], max_new_tokens: int = 6) -> TextRequest:
    return TextRequest("t", f"s{index}", index, [ChatMessage("user", content)], max_new_tokens)


def _image(index: int, prompt: str, seeds: list[int], cfg_weight: float = 2.0) -> ImageRequest:
    return ImageRequest("g", f"p{index}", index, prompt, seeds, cfg_weight=cfg_weight)


def _pixels(output: Any) -> list[np.ndarray]:
    return [np.asarray(image) for image in output.images]


# ----------------------------------------------------------------------------- names, identity, hub


def test_names_pins_and_identity_need_no_weights(adapter: JanusFlowAdapter) -> None:
    for name in ("janusflow", "janusflow-tiny", "janusflow-1.3b"):
        assert MODELS.get(name) is JanusFlowAdapter
    assert re.fullmatch("[0-9a-f]{40}", SDXL_VAE_REVISION) and "janusflow-1.3b" not in PINNED_REVISIONS  # (no verified pin)
    fresh = JanusFlowAdapter.from_spec(ModelSpec("janusflow-tiny"))
    identity, card = fresh.identity(), fresh.protocol_card()
    json.dumps([identity, card])
    assert fresh._model is None  # keys and cards are known before anything loads
    assert fresh.label == "janusflow-tiny" and fresh.reference_key is None
    assert identity["sampler"]["cfg_weight"] == "the task's cfg_weight, else 2" and identity["sampler"]["steps"] == 30
    assert identity["sampler"]["latent"] == [4, 16, 16] and identity["vae"]["model"] == "janusflow-tiny/vae"
    assert card["generation"]["cfg"] == "v = w*v_cond - (w-1)*v_uncond"
    assert card["generation"]["request_settings_ignored"] == ["temperature", "top_k", "top_p"]
    assert card["understanding"]["template"] == "User: {question}\n\nAssistant:"


def test_the_hub_alias_loads_from_the_cache_offline_and_records_its_commit(tmp_path: Path) -> None:
    tiny = ensure_tiny_checkpoint()
    checkpoint = Path(shutil.copytree(tiny, tmp_path / "hub", ignore=shutil.ignore_patterns(TINY_VAE_FOLDER)))
    main = "0123456789abcdef" * 2 + "01234567"  # what `main` resolves to in this cache
    fast = {"steps": "2"}
    with hub_cache_copy("deepseek-ai/JanusFlow-1.3B", main, checkpoint), \
            hub_cache_copy(SDXL_VAE, SDXL_VAE_REVISION, tiny / TINY_VAE_FOLDER):  # fmt: skip
        assert [(r.id, r.revision) for r in JanusFlowAdapter.resources(ModelSpec("janusflow-1.3b"))] == [
            ("deepseek-ai/JanusFlow-1.3B", None),
            (SDXL_VAE, SDXL_VAE_REVISION),
        ]
        hub = JanusFlowAdapter.from_spec(ModelSpec("janusflow-1.3b", args=fast))
        identity = hub.identity()
        assert identity["model"] == "deepseek-ai/JanusFlow-1.3B" and identity["commit"] == main
        assert identity["vae"]["model"] == SDXL_VAE and identity["vae"]["commit"] == SDXL_VAE_REVISION
        assert hub.label == "janusflow-1.3b" and hub.reference_key == "janusflow-1.3b"
        assert hub.protocol_card()["provenance"]["commit"] == main
        images = hub.generate_images([_image(0, "a red apple", [3])])[0].images
    local = JanusFlowAdapter.from_spec(ModelSpec("janusflow-tiny", args=fast)).generate_images([_image(0, "a red apple", [3])])
    assert np.array_equal(np.asarray(images[0]), _pixels(local[0])[0])  # the same weights through the hub path


def test_local_folders_and_bad_arguments(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(ensure_tiny_checkpoint(), tmp_path / "my-flow"))
    local = JanusFlowAdapter.from_spec(ModelSpec("janusflow", model_path=str(folder), args={"vae": str(folder / "vae")}))
    assert local.label == "my-flow" and "fingerprint" in local.identity() and "fingerprint" in local.identity()["vae"]
    assert [r.kind for r in JanusFlowAdapter.resources(local.spec)] == ["local", "local"]
    bad = {
        "cfg_weight=strong": ({"cfg_weight": "strong"}, "cfg_weight='strong' is not a number"),
        "cfg_weight=-1": ({"cfg_weight": "-1"}, "cfg_weight must be a finite number >= 0"),
        "steps=0": ({"steps": "0"}, "steps must be a positive integer"),
        "unknown": ({"temperature": "1"}, "unknown argument(s) for model 'janusflow': temperature"),
        "vae name": ({"vae": "sdxl"}, "vae='sdxl' is neither a folder nor a Hugging Face Hub id"),
        "vae folder": ({"vae": str(tmp_path)}, "has no config.json: not a diffusers AutoencoderKL folder"),
    }
    for label, (args, message) in bad.items():
        with pytest.raises(UserError) as caught:
            JanusFlowAdapter.from_spec(ModelSpec("janusflow", model_path=str(folder), args={"vae": str(folder / "vae"), **args}))
        assert message in str(caught.value), label
    with pytest.raises(UserError, match="needs a checkpoint: pass --model-path DIR"):
        JanusFlowAdapter.from_spec(ModelSpec("janusflow"))
    wide = json.loads((folder / "vae" / "config.json").read_text())
    wide["latent_channels"] = 8
    (folder / "vae" / "config.json").write_text(json.dumps(wide))
    with pytest.raises(UserError, match="the VAE makes 8-channel latents but .*input_channels is 4"):
        JanusFlowAdapter.from_spec(ModelSpec("janusflow", model_path=str(folder), args={"vae": str(folder / "vae")}))


# ----------------------------------------------------------------------------- understanding


def test_greedy_text_is_the_same_at_batch_size_1_and_8(adapter: JanusFlowAdapter) -> None:
    question = "\nIs there a dog in the image? Answer the question using a single word or phrase."
    requests = [
        _text(0, [IMG, question], 8),
        _text(1, ["A question without any image, long enough to make the others padded."], 3),
        _text(2, [IMG, IMG2, "\nCompare the two images."], 10),
        _text(3, [IMG2, "\nWhat colour?"], 1),
        _text(4, [IMG2, question], 8),
        _text(5, [IMG, "\nWhat is shown in this image?"], 8),
        _text(6, ["User says hi."], 5),
        _text(7, [IMG, question], 0),
    ]
    batched = adapter.generate_text(requests)
    alone = [adapter.generate_text([request])[0] for request in requests]
    assert [output.text for output in batched] == [output.text for output in alone]
    assert batched[7].text == "" and len({batched[i].text for i in (0, 4, 5)}) == 3  # prompt and image both count


def test_greedy_text_is_the_argmax_chain_of_the_understanding_embeddings(adapter: JanusFlowAdapter) -> None:
    request = _text(0, [IMG, "\nDescribe the image."], 6)
    processor, model = adapter.processor, adapter.model
    ids = processor.understanding_ids(adapter.render_text_prompt(request))
    assert adapter.render_text_prompt(request) == "User: <image_placeholder>\nDescribe the image.\n\nAssistant:"
    image_at = ids.index(processor.ids.image)
    assert ids[image_at - 1] == processor.ids.begin and ids[image_at + 16] == processor.ids.end  # 16 image features
    embeddings = model.understanding_embeddings(torch.tensor([ids]), processor.pixel_values([IMG]), processor.ids.image, processor.ids.begin)
    generated: list[int] = []
    with torch.no_grad():
        for _ in range(6):
            logits = model.language_model(inputs_embeds=embeddings).logits[0, -1]
            token = int(logits.argmax())
            if token == processor.ids.eos:
                break
            generated.append(token)
            step = model.language_model.get_input_embeddings()(torch.tensor([[token]]))
            embeddings = torch.cat([embeddings, step], dim=1)
    assert adapter.generate_text([request])[0].text == processor.tokenizer.decode(generated, skip_special_tokens=True)


# ----------------------------------------------------------------------------- generation


def test_images_are_the_same_at_batch_size_1_and_4(adapter: JanusFlowAdapter) -> None:
    requests = [_image(0, "a photo of two clocks on a wall", [11, 12]), _image(1, "a red apple", [13, 14])]
    adapter.steps, adapter.image_batch_size = 6, None  # (fewer steps than the paper's 30 keep the test fast)
    batched = adapter.generate_images(requests)  # one flow batch of 4 images (8 rows with the unconditional ones)
    adapter.image_batch_size = 1
    try:
        alone = adapter.generate_images(requests)
    finally:
        adapter.steps, adapter.image_batch_size = 30, None
    pixels = [image for output in batched for image in _pixels(output)]
    differences = np.stack([np.abs(a.astype(int) - b.astype(int)) for a, b in zip(pixels, [p for o in alone for p in _pixels(o)])])
    # Same noise and prompt per image whatever the batch; the arithmetic agrees to float32 rounding (CPU kernels sum in
    # another order for another batch shape), which can move a rare value by one grey level, never more.
    assert differences.max() <= 1 and (differences == 0).mean() >= 0.999
    assert pixels[0].shape == (32, 32, 3) and pixels[0].dtype == np.uint8
    assert len({p.tobytes() for p in pixels}) == 4  # every seed and prompt makes its own image
    prompts = [adapter.image_prompt_ids(r.prompt) for r in requests for _ in r.seeds]
    seeds = [seed for r in requests for seed in r.seeds]
    together = adapter.sample_latents(prompts, seeds, [2.0] * 4, steps=5)
    one_by_one = torch.cat([adapter.sample_latents([p], [s], [2.0], steps=5) for p, s in zip(prompts, seeds)])
    assert torch.allclose(together, one_by_one, atol=1e-5)


def test_generation_prompt_and_unconditional_rows(adapter: JanusFlowAdapter) -> None:
    ids = adapter.image_prompt_ids("a red apple")
    tokenizer = adapter.processor.tokenizer
    assert ids[0] == adapter.processor.ids.bos and adapter.processor.ids.generation not in ids
    assert tokenizer.decode(ids[1:]) == "User: a red apple\n\nAssistant:"  # the generation tag is dropped
    from janus_eval.model_adapters.janusflow_generation import PromptBatch

    batch = PromptBatch(adapter.model, [ids, ids[:4]], adapter.processor.ids.pad)
    # conditional rows see their prompt; unconditional ones only BOS; left padding hides nothing else
    assert batch.prompt_mask.tolist() == [[1] * len(ids), [0] * (len(ids) - 4) + [1] * 4,
                                          [1] + [0] * (len(ids) - 1), [0] * (len(ids) - 4) + [1, 0, 0, 0]]  # fmt: skip
    assert batch.next_position.tolist() == [len(ids), 4, len(ids), 4]


def test_guidance_weight_and_steps_change_images_and_are_recorded(adapter: JanusFlowAdapter, caplog: pytest.LogCaptureFixture) -> None:
    prompt, seeds = adapter.image_prompt_ids("a red apple"), [5]
    reference = adapter.sample_latents([prompt], seeds, [2.0], steps=4)
    assert not torch.equal(adapter.sample_latents([prompt], seeds, [1.0], steps=4), reference)
    assert not torch.equal(adapter.sample_latents([prompt], seeds, [2.0], steps=3), reference)
    assert torch.equal(adapter.sample_latents([prompt], seeds, [2.0], steps=0), adapter.sample_latents([prompt], seeds, [7.0], steps=0))
    # unset everywhere: the paper's w = 2; a task's weight is used; the adapter's own overrides it, said once
    assert adapter.guidance_weight(ImageRequest("g", "p", 0, "x", [1])) == 2.0
    assert adapter.guidance_weight(_image(0, "x", [1], cfg_weight=5.0)) == 5.0
    assert adapter.identity()["sampler"]["cfg_weight"] == "the task's cfg_weight, else 2"
    assert adapter.protocol_card()["generation"]["request_settings_used"] == ["seeds", "cfg_weight (when set)"]
    fixed = JanusFlowAdapter.from_spec(ModelSpec("janusflow-tiny", args={"cfg_weight": "3", "steps": "12"}))
    with caplog.at_level(logging.WARNING):
        assert fixed.guidance_weight(_image(0, "x", [1], cfg_weight=5.0)) == 3.0
        assert fixed.guidance_weight(ImageRequest("g", "p", 0, "x", [1])) == 3.0
    assert caplog.text.count("asks for cfg_weight 5; --model-args cfg_weight=3 overrides it") == 1
    assert fixed.identity()["sampler"]["cfg_weight"] == 3.0
    assert fixed.identity()["sampler"]["steps"] == 12
    assert fixed.protocol_card()["generation"]["request_settings_ignored"][0] == "cfg_weight"
    assert fixed.identity() != adapter.identity()


def test_demo_run_of_understanding_and_geneval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["--model", "janusflow-tiny", "--model-args", "steps=3", "--tasks", "mme,geneval", "--data", "demo", "--limit", "1",
         "--output-dir", str(tmp_path)],
        capsys,
    )
    assert code == 0, err
    result = read_json(tmp_path / "janusflow-tiny" / "geneval.json")
    assert result["protocol"]["model"]["generation"]["steps"] == 3  # (the paper's 30 by default; 3 keep the test fast)
    assert result["model_identity"]["adapter"] == "janusflow"
    assert result["protocol"]["model"]["prompt"]["template"] == "User: {prompt}\n\nAssistant:"
    mme_prompt = read_json(tmp_path / "janusflow-tiny" / "mme.json")["protocol"]["model"]["prompt"]
    assert mme_prompt["template"] == "User: {text}\n\nAssistant:" and mme_prompt["roles"] == ["User", "Assistant"]
    images = sorted((tmp_path / "janusflow-tiny" / "geneval_images").glob("*/samples/*.png"))
    assert len(images) == 4 and Image.open(images[0]).size == (32, 32)
    assert read_json(tmp_path / "janusflow-tiny" / "mme.json")["counts"]["scored"] == 1
