"""What identifies a Janus model run: the local-checkpoint fingerprint, its hash cache, revisions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_loading import folder_fingerprint
from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint

from janus_eval.api import ModelSpec
from janus_eval.data import hashing
from janus_eval.errors import UserError


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> JanusHFAdapter:
    """janus-tiny loaded from a private copy that the tests may edit (identity() re-reads the folder)."""
    folder = tmp_path_factory.mktemp("identity") / "checkpoint"
    shutil.copytree(ensure_tiny_checkpoint(), folder)
    return JanusHFAdapter.from_spec(ModelSpec("janus_hf", model_path=str(folder)))


@pytest.fixture()
def hash_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private janus-eval cache root; returns the path of its file-hash cache."""
    monkeypatch.setenv("JANUS_EVAL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "file-hashes.json"


def _folder(adapter: JanusHFAdapter) -> Path:
    return Path(adapter.source.location)


# ----------------------------------------------------------------------------- the fingerprint


def test_fingerprint_covers_every_file(adapter: JanusHFAdapter) -> None:
    folder = _folder(adapter)
    fingerprint = adapter.identity()["fingerprint"]
    assert fingerprint == folder_fingerprint(folder)
    assert set(fingerprint["weights"]) == {"model.safetensors"}
    assert fingerprint["weights"]["model.safetensors"] == hashing.file_sha256(folder / "model.safetensors")
    others = [path for path in folder.iterdir() if path.name != "model.safetensors"]
    assert fingerprint["files_sha256"] == hashing.hash_files(others, folder)


@pytest.mark.parametrize(
    "name",
    [
        "processor_config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "generation_config.json",
        "chat_template.jinja",
    ],
)
def test_changed_or_added_side_files_change_the_identity(adapter: JanusHFAdapter, name: str) -> None:
    path = _folder(adapter) / name
    before = adapter.identity()
    original = path.read_bytes() if path.exists() else None
    try:
        if name.endswith(".json") and original is not None:
            content = json.loads(original)
            content["do_normalize"] = not content.get("do_normalize", True)  # Janus-1.3B's pitfall
            path.write_text(json.dumps(content))
        else:
            path.write_text('{"do_normalize": false}' if name.endswith(".json") else "{{ messages }}")
        assert adapter.identity() != before
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_bytes(original)
    assert adapter.identity() == before


def test_new_weights_of_the_same_size_change_the_identity(adapter: JanusHFAdapter) -> None:
    from safetensors.torch import load_file, save_file

    path = _folder(adapter) / "model.safetensors"
    before = adapter.identity()
    original = path.read_bytes()
    tensors = load_file(path)
    name = next(key for key, value in tensors.items() if value.is_floating_point() and value.numel() > 1)
    tensors[name] = tensors[name] + torch.ones_like(tensors[name])
    try:
        save_file(tensors, path, metadata={"format": "pt"})
        assert path.stat().st_size == len(original)
        assert adapter.identity()["fingerprint"]["weights"] != before["fingerprint"]["weights"]
    finally:
        path.write_bytes(original)
    assert adapter.identity() == before


# ----------------------------------------------------------------------------- the weight-hash cache


def test_weight_hashes_are_cached_per_file_version(
    tmp_path: Path, hash_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[Path] = []
    real_digest = hashing.file_sha256

    def counting_digest(path: Path) -> str:
        hashed.append(path)
        return real_digest(path)

    monkeypatch.setattr(hashing, "file_sha256", counting_digest)
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 1000)
    first = hashing.cached_file_sha256(path)
    assert first == real_digest(path) and len(hashed) == 1
    entries = json.loads(hash_cache.read_text())
    assert [entry["sha256"] for entry in entries.values()] == [first]
    assert str(path.resolve()) in json.dumps(entries)

    assert hashing.cached_file_sha256(path) == first
    assert len(hashed) == 1  # unchanged file: answered from the cache

    path.write_bytes(b"b" * 1000)  # same size, new mtime
    second = hashing.cached_file_sha256(path)
    assert second == real_digest(path) != first and len(hashed) == 2
    assert hashing.cached_file_sha256(path) == second and len(hashed) == 2
    assert list(hash_cache.parent.iterdir()) == [hash_cache]  # no temporary files left behind


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"x": 3}', ""])
def test_a_corrupt_hash_cache_is_ignored_and_repaired(tmp_path: Path, hash_cache: Path, content: str) -> None:
    hash_cache.parent.mkdir(parents=True)
    hash_cache.write_text(content)
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    assert hashing.cached_file_sha256(path) == hashing.file_sha256(path)
    assert hashing.cached_file_sha256(path) == hashing.file_sha256(path)
    assert isinstance(json.loads(hash_cache.read_text()), dict)


def test_an_unwritable_hash_cache_still_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("JANUS_EVAL_CACHE", str(blocker))
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    assert hashing.cached_file_sha256(path) == hashing.file_sha256(path)


def test_fingerprint_hashes_weights_through_the_cache(
    adapter: JanusHFAdapter, hash_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter.identity()
    assert str((_folder(adapter) / "model.safetensors").resolve()) in json.dumps(json.loads(hash_cache.read_text()))
    monkeypatch.setattr(hashing, "file_sha256", lambda path: pytest.fail(f"{path} was hashed again"))
    adapter.identity()


# ----------------------------------------------------------------------------- revisions


def test_revision_with_janus_tiny_is_a_user_error() -> None:
    with pytest.raises(UserError) as error:
        JanusHFAdapter.from_spec(ModelSpec("janus-tiny", revision="v2"))
    assert "--revision 'v2'" in str(error.value) and "janus-tiny" in str(error.value)
