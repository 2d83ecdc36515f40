"""A broken or half-downloaded checkpoint ends in one message naming the file and what is wrong (exit 2)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint

from janus_eval.api import ModelSpec
from janus_eval.data.checkpoint_files import check_checkpoint_folder
from janus_eval.errors import UserError
from tests.helpers import hub_cache_copy, run_cli


def _truncate(folder: Path) -> None:
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # a download cut off half way


def _edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _set_text(key: str, value: object) -> Callable[[Path], None]:
    return _edit_config(lambda config: config["text_config"].__setitem__(key, value))


CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "truncated weights": (_truncate, ["model.safetensors is truncated", "1,101,942 bytes", "download or copy it again"]),
    "empty weights": (lambda f: (f / "model.safetensors").write_bytes(b""), ["model.safetensors holds 0 bytes"]),
    "wrong type in config": (
        _set_text("hidden_size", "sixty-four"),
        ["config.json does not describe a valid model", "'hidden_size' expected int, got str"],
    ),
    "cut-off config": (
        lambda f: (f / "config.json").write_text('{"model_type": "janus", '),
        ["config.json is not valid JSON", "line 1, column 25"],
    ),
    "cut-off tokenizer": (lambda f: (f / "tokenizer.json").write_text('{"version": '), ["tokenizer.json is not valid JSON"]),
    "cut-off generation config": (  # transformers would silently fall back to defaults
        lambda f: (f / "generation_config.json").write_text("{"),
        ["generation_config.json is not valid JSON"],
    ),
    "no tokenizer": (lambda f: (f / "tokenizer.json").unlink(), ["has no tokenizer file", "tokenizer.json"]),
    "no image processor": (lambda f: (f / "processor_config.json").unlink(), ["has no image processor file"]),
    "weights of other shapes": (
        _set_text("intermediate_size", 96),
        ["do not fit the model its config.json describes", "6 tensor(s) of another shape", "weights (128, 64), config (96, 64)"],
    ),
    # transformers would initialise the missing layer at random and run: a silent wrong score
    "weights lacking tensors": (_set_text("num_hidden_layers", 3), ["9 tensor(s) missing from the weights", "layers.2."]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_checkpoint_is_one_clear_message(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    damage, expected = CASES[case]
    damage(folder)
    code, _, err = run_cli(
        ["--model", "janus_hf", "--model-path", str(folder), "--tasks", "mme", "--data", "demo", "--limit", "1",
         "--no-progress", "--output-dir", str(tmp_path / "out")],
        capsys,
    )  # fmt: skip
    assert code == 2, err
    assert "Traceback" not in err and "LOAD REPORT" not in err
    lines = [line for line in err.splitlines() if line.startswith("janus-eval: error:")]
    assert len(lines) == 1, err
    assert str(folder) in lines[0]
    for part in expected:
        assert part in lines[0], lines[0]


def test_safetensors_with_trailing_bytes_and_missing_shard(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    check_checkpoint_folder(folder)  # the intact checkpoint passes
    with (folder / "model.safetensors").open("ab") as handle:
        handle.write(b"\0" * 10)
    with pytest.raises(UserError, match="has trailing bytes"):
        check_checkpoint_folder(folder)
    (folder / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(UserError, match="lacks the weight shard"):
        check_checkpoint_folder(folder)


def test_damaged_checkpoint_in_the_hub_cache_is_named_too() -> None:
    commit = "89abcdef0123456789abcdef0123456789abcdef"
    with hub_cache_copy("janus-eval-test/tiny-damaged", commit, ensure_tiny_checkpoint()) as snapshot:
        _truncate(snapshot)
        with pytest.raises(UserError) as error:  # the weights are read when the model loads
            JanusHFAdapter.from_spec(ModelSpec("janus_hf", args={"model": "janus-eval-test/tiny-damaged"})).load()
    assert f"{snapshot}/model.safetensors is truncated" in str(error.value)
