"""DeepSeek's original-format Janus checkpoints, converted in memory: same model, same outputs, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_loading import JANUS_13B_REVISION
from janus_eval.model_adapters.janus_original import CONVERSION_VERSION
from janus_eval.model_adapters.janus_original_config import janus_config, parse_original_config
from janus_eval.model_adapters.janus_sampling import ImageRow
from PIL import Image

from janus_eval.api import ChatMessage, ImageRequest, ModelSpec, TextRequest
from janus_eval.errors import UserError
from tests.helpers import read_json, run_cli
from tests.original_checkpoints import (
    original_modules,
    save_transformers_format,
    tiny_janus,
    write_original,
    write_original_from_modules,
)

IMG = Image.new("RGB", (40, 24), (200, 30, 30))
LAYOUTS = [
    pytest.param({"safetensors": True, "shards": 1}, id="safetensors"),
    pytest.param({"safetensors": False, "shards": 1}, id="bin"),
    pytest.param({"safetensors": True, "shards": 3}, id="safetensors-sharded"),
    pytest.param({"safetensors": False, "shards": 2}, id="bin-sharded"),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny transformers-format Janus: the model, its processor, and its folder."""
    model, processor = tiny_janus()
    folder = save_transformers_format(model, processor, tmp_path_factory.mktemp("transformers") / "tiny")
    return {"model": model, "processor": processor, "folder": folder}


@pytest.fixture(scope="module")
def native(reference: dict[str, Any]) -> JanusHFAdapter:
    return JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(reference["folder"])))


@pytest.fixture(scope="module")
def original_dir(tmp_path_factory: pytest.TempPathFactory, reference: dict[str, Any]) -> Path:
    return write_original(tmp_path_factory.mktemp("original") / "tiny-original", reference["model"], reference["processor"])


def _copy(original_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(original_dir, tmp_path / "copy"))


def _text_requests() -> list[TextRequest]:
    return [
        TextRequest("t", "a", 0, [ChatMessage("user", [IMG, "\nIs there a dog in the image?"])], 8),
        TextRequest("t", "b", 1, [ChatMessage("user", ["Tell me a story about a red apple."])], 8),
    ]


def _image_tokens(adapter: JanusHFAdapter) -> torch.Tensor:
    prompts = ["a red apple", "a photo of two clocks"]
    requests = [ImageRequest("g", f"p{i}", i, prompt, [0], cfg_weight=5.0, temperature=0.0) for i, prompt in enumerate(prompts)]
    rows = [ImageRow(i, adapter.image_prompt_ids(r.prompt), r, 0) for i, r in enumerate(requests)]
    return adapter.sample_image_tokens(rows)


def _logits(adapter: JanusHFAdapter) -> torch.Tensor:
    request = _text_requests()[0]
    inputs = adapter.processor(
        text=[adapter.render_text_prompt(request)], images=[adapter.preprocess_image(IMG)], return_tensors="pt"
    )
    with torch.no_grad():
        return adapter.model(**inputs).logits


# ----------------------------------------------------------------------------- sizes from presets


# The schema of deepseek-ai/Janus-Pro-7B's config.json: sizes left to the presets and to LlamaConfig's defaults.
JANUS_PRO_7B_CONFIG: dict[str, Any] = {
    "model_type": "multi_modality",
    "aligner_config": {"cls": "MlpProjector", "params": {"depth": 2, "input_dim": 1024, "n_embed": 4096, "projector_type": "mlp_gelu"}},
    "gen_aligner_config": {"cls": "MlpProjector", "params": {"depth": 2, "input_dim": 8, "n_embed": 4096, "projector_type": "mlp_gelu"}},
    "gen_head_config": {"cls": "vision_head", "params": {"image_token_embed": 4096, "image_token_size": 16384, "n_embed": 4096}},
    "gen_vision_config": {"cls": "VQ-16", "params": {"image_token_size": 16384, "n_embed": 8}},
    "language_config": {"_attn_implementation_autoset": True, "max_position_embeddings": 16384, "model_type": "llama",
                        "num_hidden_layers": 30, "torch_dtype": "bfloat16", "vocab_size": 102400},
    "vision_config": {"cls": "CLIPVisionTower", "params": {"image_size": 384, "model_name": "siglip_large_patch16_384",
                                                            "select_feature": "same", "select_layer": -1}},
}


def test_named_presets_give_the_sizes_of_the_real_checkpoints() -> None:
    from transformers import JanusVisionConfig, JanusVQVAEConfig

    arch = parse_original_config(JANUS_PRO_7B_CONFIG, "Janus-Pro-7B")
    config = janus_config(arch, image_token_id=100581, bos_token_id=100000, eos_token_id=100001, pad_token_id=100015)
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers, config.text_config.num_attention_heads) == (4096, 30, 32)
    assert config.tie_word_embeddings is False and config.text_config.tie_word_embeddings is False
    vision, defaults = config.vision_config, JanusVisionConfig()  # transformers' defaults are SigLIP-L/16 at 384 px
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size", "image_size", "mlp_ratio", "depth"):
        assert getattr(vision, key) == getattr(defaults, key), key
    assert vision.num_image_tokens == 576 and vision.projection_dim == 4096
    vq, vq_defaults = config.vq_config, JanusVQVAEConfig()  # ... and VQ-16
    for key in ("embed_dim", "num_embeddings", "latent_channels", "base_channels", "num_res_blocks"):
        assert getattr(vq, key) == getattr(vq_defaults, key), key
    assert list(vq.channel_multiplier) == [1, 1, 2, 2, 4] and vq.num_patches == 24  # 24 x 16 = 384 px images
    assert (vq.projection_dim, vq.image_token_embed_dim, vq.num_hidden_layers) == (4096, 4096, 2)


def test_select_layer_and_explicit_sizes() -> None:
    config = json.loads(json.dumps(JANUS_PRO_7B_CONFIG))
    del config["vision_config"]["params"]["select_layer"]  # CLIPVisionTower's default -2 drops the last block
    assert parse_original_config(config, "x").vision.layers == 23
    config["vision_config"]["params"]["select_layer"] = 6
    assert parse_original_config(config, "x").vision.layers == 6
    config["vision_config"]["params"]["siglip_cfg"] = {"width": 512, "heads": 8}
    config["aligner_config"]["params"]["input_dim"] = 512
    config["gen_vision_config"]["params"]["vq_cfg"] = {"ch": 64, "ch_mult": [1, 2]}
    arch = parse_original_config(config, "x")
    assert (arch.vision.width, arch.vision.heads, arch.vision.patch_size) == (512, 8, 16)  # explicit values win
    assert (arch.vq.ch, arch.vq.ch_mult, arch.vq.z_channels) == (64, (1, 2), 256)


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("layout", LAYOUTS)
def test_round_trip_gives_the_same_model(
    layout: dict[str, Any], reference: dict[str, Any], native: JanusHFAdapter, tmp_path: Path
) -> None:
    """transformers format -> original layout (inverse mapping) -> in-memory conversion: identical weights and logits."""
    folder = write_original(tmp_path / "original", reference["model"], reference["processor"], **layout)
    names = sorted(path.name for path in folder.iterdir())
    assert "config.json" in names and not any(name.startswith("model.safetensors") and not layout["safetensors"] for name in names)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "multi_modality"
    converted = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder)))
    expected = reference["model"].state_dict()
    got = converted.model.state_dict()
    assert set(got) == set(expected)
    assert all(torch.equal(got[name], expected[name]) for name in expected)
    assert converted.model.lm_head.weight.data_ptr() != converted.model.model.language_model.embed_tokens.weight.data_ptr()
    assert torch.equal(_logits(converted), _logits(native))


def test_round_trip_gives_the_same_greedy_text_and_image_tokens(original_dir: Path, native: JanusHFAdapter) -> None:
    converted = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(original_dir)))
    requests = _text_requests()
    assert converted.generate_text(requests) == native.generate_text(requests)
    assert torch.equal(_image_tokens(converted), _image_tokens(native))
    assert converted.render_text_prompt(requests[0]) == native.render_text_prompt(requests[0])
    assert converted.num_image_tokens == native.num_image_tokens == 16
    assert converted.processor.num_image_tokens == 16  # the checkpoint's, not transformers' default of 576


def test_converted_processor_matches_the_checkpoint_files(original_dir: Path, native: JanusHFAdapter) -> None:
    converted = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(original_dir)))
    tokenizer, expected = converted.processor.tokenizer, native.processor.tokenizer
    text = "User: <image_placeholder>\nWhat colour? <|User|> <begin_of_image>"
    assert tokenizer(text)["input_ids"] == expected(text)["input_ids"]
    for name in ("image_token", "boi_token", "eoi_token", "pad_token", "bos_token", "eos_token"):
        assert getattr(tokenizer, name) == getattr(expected, name)
    image_processor = converted.processor.image_processor
    assert image_processor.size["height"] == 32 and tuple(image_processor.background_color) == (127, 127, 127)
    assert converted.model.generation_config.generation_kwargs == {"boi_token_id": tokenizer.convert_tokens_to_ids("<begin_of_image>")}


# ----------------------------------------------------------------------------- against DeepSeek-style modules


@pytest.mark.parametrize("layout", [LAYOUTS[0], LAYOUTS[3]])
def test_original_weights_behave_as_deepseeks_modules(layout: dict[str, Any], reference: dict[str, Any], tmp_path: Path) -> None:
    """An original checkpoint written from DeepSeek-style modules (timm's ViT, Llama, MlpProjector, vision_head):
    each converted part computes what the original part computes."""
    pytest.importorskip("timm")
    modules = original_modules(reference["model"])
    folder = write_original_from_modules(tmp_path / "original", reference["model"], reference["processor"], modules, **layout)
    assert any("attn_pool" in name for name in modules["vision_model.vision_tower"].state_dict())  # dropped on load
    model = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder))).model
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 3, 32, 32, generator=generator)
    with torch.no_grad():
        features = model.model.vision_model(pixels).last_hidden_state
        torch.testing.assert_close(features, modules["vision_model.vision_tower"].forward_features(pixels))
        torch.testing.assert_close(model.model.aligner(features), modules["aligner"](features))
        ids = torch.randint(0, model.config.text_config.vocab_size, (2, 7), generator=generator)
        torch.testing.assert_close(model(input_ids=ids).logits, modules["language_model"](input_ids=ids).logits)
        hidden = torch.randn(3, model.config.text_config.hidden_size, generator=generator)
        torch.testing.assert_close(model.model.generation_head(hidden), modules["gen_head"](hidden))
        codes = torch.tensor([[0, 5, 63]])
        torch.testing.assert_close(
            model.prepare_embeddings_for_image_generation(codes), modules["gen_aligner"](modules["gen_embed"](codes))
        )


# ----------------------------------------------------------------------------- identity and records


def test_identity_records_the_source_format_and_conversion(original_dir: Path, native: JanusHFAdapter, tmp_path: Path) -> None:
    converted = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(original_dir)))
    identity = converted.identity()
    assert identity["source_format"] == "deepseek-original" and identity["conversion_version"] == CONVERSION_VERSION
    assert native.identity()["source_format"] == "transformers" and "conversion_version" not in native.identity()
    # Same weights, same folder name, different formats: never the same identity (so never the same records).
    same_name = Path(shutil.copytree(native.source.location, tmp_path / original_dir.name))
    assert JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(same_name))).identity() != identity
    card = converted.protocol_card()
    assert card["image_do_normalize"] is True and card["provenance"]["source_format"] == "deepseek-original"


@pytest.mark.parametrize(("value", "expected"), [("checkpoint", True), ("false", False), ("true", True)])
def test_do_normalize_option(original_dir: Path, value: str, expected: bool) -> None:
    adapter = JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(original_dir), args={"do_normalize": value}))
    assert adapter.processor.image_processor.do_normalize is expected
    assert adapter.identity()["image_do_normalize"] is expected
    pixels = adapter.processor(text=["<image_placeholder>"], images=[adapter.preprocess_image(IMG)], return_tensors="pt")["pixel_values"]
    assert bool(pixels.min() < 0) is expected  # normalised pixels reach [-1, 1], plain rescaling stays in [0, 1]


# ----------------------------------------------------------------------------- training checkpoints


def test_training_checkpoint_takes_its_processor_from_a_base_model(
    original_dir: Path, native: JanusHFAdapter, tmp_path: Path
) -> None:
    training = tmp_path / "step-1000"
    training.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(original_dir / name, training / name)
    with pytest.raises(UserError) as error:
        JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(training))).load()
    assert "processor_from=deepseek-ai/Janus-Pro-7B" in str(error.value) and "tokenizer.json" in str(error.value)

    adapter = JanusHFAdapter.from_spec(
        ModelSpec("janus_hf", model_path=str(training), args={"processor_from": str(original_dir)})
    )
    assert adapter.identity()["processor_from"]["location"] == str(original_dir.resolve())
    assert len(adapter.identity()["processor_from"]["files_sha256"]) == 64
    assert adapter.generate_text(_text_requests()) == native.generate_text(_text_requests())


def test_processor_from_is_refused_for_transformers_checkpoints(native: JanusHFAdapter, original_dir: Path) -> None:
    with pytest.raises(UserError) as error:
        JanusHFAdapter.from_spec(
            ModelSpec("janus_hf", model_path=native.source.location, args={"processor_from": str(original_dir)})
        )
    assert "processor_from only applies" in str(error.value)


# ----------------------------------------------------------------------------- janus-1.3b from the hub cache


def test_janus_13b_loads_the_pinned_revision_from_the_cache(original_dir: Path) -> None:
    from huggingface_hub.constants import HF_HUB_CACHE

    repo = Path(HF_HUB_CACHE) / "models--deepseek-ai--Janus-1.3B"
    snapshot = repo / "snapshots" / JANUS_13B_REVISION
    shutil.copytree(original_dir, snapshot)
    try:
        adapter = JanusHFAdapter.from_spec(ModelSpec("janus-1.3b"))
        identity = adapter.identity()
        assert identity["model"] == "deepseek-ai/Janus-1.3B" and identity["commit"] == JANUS_13B_REVISION
        assert identity["revision"] == JANUS_13B_REVISION and identity["source_format"] == "deepseek-original"
        # The cached preprocessor config says true; janus-1.3b defaults to the paper era's false.
        assert json.loads((snapshot / "preprocessor_config.json").read_text())["do_normalize"] is True
        assert identity["image_do_normalize"] is False and adapter.processor.image_processor.do_normalize is False
        card = adapter.protocol_card()
        assert card["image_do_normalize"] is False and card["provenance"]["revision"] == JANUS_13B_REVISION
        assert adapter.label == "janus-1.3b" and adapter.reference_key == "janus-1.3b"
    finally:
        shutil.rmtree(repo)


# ----------------------------------------------------------------------------- bad input


def _break(folder: Path, change: str) -> None:
    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"
    tensors = load_file(weights)
    if change == "missing":
        del tensors["language_model.model.layers.1.mlp.up_proj.weight"]
    elif change == "unexpected":
        tensors["vision_model.vision_tower.blocks.0.attn.extra.weight"] = torch.zeros(2)
    elif change == "shape":
        tensors["gen_embed.weight"] = torch.zeros(63, 8)
    save_file(tensors, weights)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("missing", "missing weight 'language_model.model.layers.1.mlp.up_proj.weight'"),
        ("unexpected", "unexpected key 'vision_model.vision_tower.blocks.0.attn.extra.weight'"),
        ("shape", "'gen_embed.weight' has shape (63, 8) but config.json implies (64, 8)"),
    ],
)
def test_weights_that_do_not_match_are_user_errors(original_dir: Path, tmp_path: Path, change: str, expected: str) -> None:
    folder = _copy(original_dir, tmp_path)
    _break(folder, change)
    with pytest.raises(UserError) as error:  # the weights are read when the model loads
        JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder))).load()
    assert expected in str(error.value)


def _edit_config(folder: Path, edit: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c.update(model_type="llava"), "model_type 'llava', not a Janus checkpoint"),
        (lambda c: c.pop("gen_head_config"), "no 'gen_head_config' section"),
        (lambda c: c.update(vision_gen_enc_config={}), "JanusFlow"),
        (lambda c: c["aligner_config"]["params"].update(n_embed=32), "aligner_config.params.n_embed is 32"),
        (lambda c: c["vision_config"]["params"].update(model_name="siglip_tiny"), "not a known SigLIP preset"),
        (lambda c: c["gen_vision_config"]["params"]["vq_cfg"].update(codebook_l2_norm=False), "codebook_l2_norm"),
    ],
)
def test_configs_that_cannot_convert_are_user_errors(original_dir: Path, tmp_path: Path, edit: Any, expected: str) -> None:
    folder = _copy(original_dir, tmp_path)
    _edit_config(folder, edit)
    if expected == "not a known SigLIP preset":
        _edit_config(folder, lambda c: c["vision_config"]["params"]["siglip_cfg"].pop("width"))
    with pytest.raises(UserError) as error:  # the weights are read when the model loads
        JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder))).load()
    assert expected in str(error.value)


def test_a_transformers_checkpoint_with_missing_weights_is_a_user_error(native: JanusHFAdapter, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = Path(shutil.copytree(native.source.location, tmp_path / "broken"))
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.generation_head.proj_out.weight"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(UserError) as error:  # the weights are read when the model loads
        JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder))).load()
    assert "1 tensor(s) missing from the weights (e.g. model.generation_head.proj_out.weight)" in str(error.value)


# ----------------------------------------------------------------------------- the command line


def test_cli_runs_mme_and_geneval_on_an_original_folder(
    original_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model", "janus_hf", "--model-path", str(original_dir), "--tasks", "mme,geneval", "--data", "demo",
            "--output-dir", str(tmp_path), "--no-progress", "--limit", "4",
            "--task-option", "mme.max_new_tokens=4", "--task-option", "geneval.images_per_prompt=2"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    for task in ("mme", "geneval"):
        result = read_json(tmp_path / "tiny-original" / f"{task}.json")
        assert result["counts"]["failed"] == 0 and result["counts"]["scored"] == 4
        assert result["model_identity"]["source_format"] == "deepseek-original"
        assert result["protocol"]["model"]["provenance"]["source_format"] == "deepseek-original"
    assert len(list((tmp_path / "tiny-original" / "geneval_images" / "00000" / "samples").iterdir())) == 2


def test_cli_names_the_missing_weight(original_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(original_dir, tmp_path)
    _break(folder, "missing")
    code, _, err = run_cli(["--model", "janus_hf", "--model-path", str(folder), "--tasks", "mme", "--data", "demo",
                            "--output-dir", str(tmp_path / "out"), "--no-progress"], capsys)
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("janus-eval: error:")]
    assert len(lines) == 1 and "missing weight 'language_model.model.layers.1.mlp.up_proj.weight'" in lines[0]


def test_cli_janus_13b_offline_says_how_to_provide_the_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["--model", "janus-1.3b", "--data", "demo", "--tasks", "mme", "--output-dir", str(tmp_path),
                            "--no-progress"], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"hf download deepseek-ai/Janus-1.3B --revision {JANUS_13B_REVISION}" in err and "--model-path DIR" in err
