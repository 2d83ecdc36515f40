"""janus-tiny: a deterministic, cached, loadable tiny Janus checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from janus_eval.model_adapters import janus_tiny
from janus_eval.model_adapters.janus_tiny import (
    BOI_TOKEN,
    IMAGE_TOKEN,
    NUM_IMAGE_TOKENS,
    TINY_DIR_NAME,
    ensure_tiny_checkpoint,
)


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_building_twice_gives_identical_files(tmp_path: Path) -> None:
    first = ensure_tiny_checkpoint(tmp_path / "a")
    second = ensure_tiny_checkpoint(tmp_path / "b")
    assert first.name == second.name == TINY_DIR_NAME
    assert first.parent == tmp_path / "a" / "models"
    files = _files(first)
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "processor_config.json",
    } <= set(files)
    assert files == _files(second)
    assert [p.name for p in first.parent.iterdir()] == [TINY_DIR_NAME]  # no staging folder left behind
    assert first.stat().st_mode & 0o777 == 0o755  # shareable, not mkdtemp's 0o700
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in first.iterdir())


def test_cached_checkpoint_is_reused(tmp_path: Path) -> None:
    path = ensure_tiny_checkpoint(tmp_path)
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_checkpoint(tmp_path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp


def test_checkpoint_loads_with_the_standard_classes(tmp_path: Path) -> None:
    from transformers import AutoProcessor, JanusForConditionalGeneration, JanusProcessor

    path = ensure_tiny_checkpoint(tmp_path)
    processor = AutoProcessor.from_pretrained(path)
    model = JanusForConditionalGeneration.from_pretrained(path)
    assert isinstance(processor, JanusProcessor)
    assert processor.use_default_system_prompt is False
    assert processor.num_image_tokens == NUM_IMAGE_TOKENS == model.config.vision_config.num_image_tokens
    tokenizer = processor.tokenizer
    assert tokenizer.padding_side == "left"
    assert (tokenizer.image_token, tokenizer.boi_token) == (IMAGE_TOKEN, BOI_TOKEN)
    assert tokenizer("hi")["input_ids"][0] == tokenizer.bos_token_id
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert model.generation_config.generation_kwargs["boi_token_id"] == tokenizer.convert_tokens_to_ids(BOI_TOKEN)


def test_losing_a_build_race_keeps_the_winner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_build = janus_tiny.build_tiny_checkpoint

    def build_while_another_process_finishes_first(out_dir: Path) -> None:
        real_build(out_dir)
        winner = janus_tiny.tiny_checkpoint_dir(tmp_path)
        real_build(winner)
        (winner / "winner").write_text("")

    monkeypatch.setattr(janus_tiny, "build_tiny_checkpoint", build_while_another_process_finishes_first)
    path = ensure_tiny_checkpoint(tmp_path)
    assert (path / "winner").exists()
    assert [p.name for p in path.parent.iterdir()] == [TINY_DIR_NAME]
