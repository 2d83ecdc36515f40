"""JanusFlow checkpoints in DeepSeek's layout: config schema, weight names mapped onto our modules, clear errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from janus_eval.model_adapters.janusflow import JanusFlowAdapter
from janus_eval.model_adapters.janusflow_config import parse_janusflow_config
from janus_eval.model_adapters.janusflow_tiny import TINY_VAE_FOLDER, ensure_tiny_checkpoint

from janus_eval.api import ModelSpec
from janus_eval.errors import UserError
from tests.janusflow_checkpoints import tiny_original, write_checkpoint


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder, modules, tensors = tiny_original(tmp_path_factory.mktemp("janusflow") / "original")
    adapter = _adapter(folder)
    adapter.load()
    return {"folder": folder, "modules": modules, "tensors": tensors, "adapter": adapter}


def _adapter(folder: Path, **args: str) -> JanusFlowAdapter:
    return JanusFlowAdapter.from_spec(
        ModelSpec("janusflow", model_path=str(folder), args={"vae": str(folder / TINY_VAE_FOLDER), **args})
    )


def _config() -> dict[str, Any]:
    return json.loads((ensure_tiny_checkpoint() / "config.json").read_text())


def test_every_original_tensor_lands_where_deepseeks_code_uses_it(original: dict[str, Any]) -> None:
    model, modules = original["adapter"].model, original["modules"]
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # SigLIP: fused qkv split, position embedding squeezed, attention-pooling head dropped
        tower = modules["vision_und_enc_model.vision_tower"]
        assert torch.allclose(model.vision_tower(pixels).last_hidden_state, tower.forward_features(pixels), atol=1e-5)
        features = modules["vision_und_enc_aligner"](tower.forward_features(pixels))
        assert torch.allclose(model.image_features(pixels), features, atol=1e-5)
        ids = torch.tensor([[0, 5, 17, 40, 3]])
        assert torch.equal(model.language_model(ids).logits, modules["language_model"](ids).logits)
        assert torch.equal(model.und_begin_embedding, original["tensors"]["beg_of_und_embed"])
        # the flow parts: same tensors under our names
        for ours, theirs in (("gen_encoder", "vision_gen_enc_model"), ("gen_decoder", "vision_gen_dec_model"),
                             ("gen_enc_aligner", "vision_gen_enc_aligner"), ("gen_dec_aligner", "vision_gen_dec_aligner"),
                             ("gen_dec_aligner_norm", "vision_gen_dec_aligner_norm")):  # fmt: skip
            mine = getattr(model, ours).state_dict()
            assert mine.keys() == modules[theirs].state_dict().keys()
            assert all(torch.equal(mine[name], tensor) for name, tensor in modules[theirs].state_dict().items())


def test_the_tiny_model_is_written_in_the_same_layout_and_reads_back(original: dict[str, Any]) -> None:
    from safetensors import safe_open

    with safe_open(str(ensure_tiny_checkpoint() / "model.safetensors"), framework="pt") as handle:
        names = set(handle.keys())
    assert names - {n for n in original["tensors"] if ".attn_pool." not in n} == set()
    assert {n for n in original["tensors"] if ".attn_pool." not in n} - names == set()
    assert "vision_und_enc_model.vision_tower.blocks.0.attn.qkv.weight" in names and "beg_of_und_embed" in names


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.update({"vision_gen_enc_model.extra.weight": torch.zeros(2)}), "unexpected key 'vision_gen_enc_model.extra.weight'"),
        (lambda t: t.pop("vision_gen_dec_aligner.bias"), "missing weight 'vision_gen_dec_aligner.bias'"),
        (lambda t: t.update({"beg_of_und_embed": torch.zeros(1, 7)}), "'beg_of_und_embed' has shape (1, 7) but config.json implies (1, 64)"),
        (lambda t: t.update({"language_model.model.layers.0.mlp.up_proj.weight": torch.zeros(3, 64)}), "up_proj.weight' has shape (3, 64)"),
    ],
    ids=["left-over", "missing", "shape", "llm-shape"],
)
def test_weights_that_do_not_fit_are_named(original: dict[str, Any], tmp_path: Path, change: Any, message: str) -> None:
    tensors = dict(original["tensors"])
    change(tensors)
    folder = write_checkpoint(tmp_path / "broken", _config(), tensors)
    with pytest.raises(UserError, match="JanusFlow|weight") as caught:
        _adapter(folder).load()
    assert message in str(caught.value)


def _edit(path: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(_config())
    *parents, key = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    if value is None:
        node.pop(key)
    else:
        node[key] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("vision_gen_dec_config", None, "no 'vision_gen_dec_config' section"),
        ("vision_gen_enc_config.params.hidden_size", 48, "vision_gen_enc_config.params.hidden_size is 48 but language_config hidden_size is 64"),
        ("vision_gen_dec_config.params.out_channels", 3, "out_channels is 3 but vision_gen_enc_config.params.input_channels is 4"),
        ("vision_gen_dec_config.params.block_out_channels", [16], "block_out_channels[-1] is 16"),
        ("vision_gen_enc_config.cls", "VQ-16", "vision_gen_enc_config.cls is 'VQ-16'"),
        ("vision_gen_enc_config.params.stride", 0, "stride must be a positive integer"),
        ("vision_und_enc_config.params", {"model_name": "siglip_tiny", "image_size": 32}, "not a known SigLIP preset"),
    ],
)
def test_configs_that_cannot_be_built_are_refused_with_the_key(path: str, value: Any, message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_janusflow_config(_edit(path, value), "test")
    assert message in str(caught.value)


def test_janusflows_own_siglip_preset_and_derived_widths() -> None:
    config = _edit("vision_und_enc_config.params", {"model_name": "siglip_large_patch16_256", "image_size": 256, "select_layer": -1})
    arch = parse_janusflow_config(config, "test")
    assert (arch.vision.width, arch.vision.layers, arch.num_image_tokens, arch.image_size) == (1024, 24, 256, 256)
    from janus_eval.model_adapters.janusflow_model import JanusFlowModel

    with torch.device("meta"):
        model = JanusFlowModel(parse_janusflow_config(_config(), "test"))
    # aligner and norm widths come from the config (DeepSeek hard-codes 1024 -> 2048, 768 -> 2048, 2048 -> 768)
    assert tuple(model.und_aligner.weight.shape) == (64, 32)
    assert tuple(model.gen_enc_aligner.weight.shape) == (64, 32)
    assert tuple(model.gen_dec_aligner.weight.shape) == (32, 64)
    assert tuple(model.gen_dec_aligner_norm.weight.shape) == (64,)


def test_a_janus_checkpoint_is_not_taken_for_janusflow_and_back(tmp_path: Path) -> None:
    from janus_eval.model_adapters.janus_original_config import parse_original_config

    with pytest.raises(UserError, match="use --model janusflow"):
        parse_original_config(_config(), "flow")
    janus = {"model_type": "multi_modality", "language_config": {}, "gen_vision_config": {}}
    with pytest.raises(UserError, match="not a JanusFlow checkpoint .a Janus checkpoint\\? use janus_hf"):
        parse_janusflow_config(janus, "janus")
