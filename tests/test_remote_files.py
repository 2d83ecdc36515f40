"""Benchmark files from canonical URLs: download over HTTP (loopback), cache, verify, override, offline."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from janus_eval.api import FileSource, Metric, Output, RemoteFile, Sample, Task
from janus_eval.data.loading import load_task_data
from janus_eval.data.remote_files import cached_path, fetch
from janus_eval.errors import UserError

PROMPTS = b'{"prompt": "a photo of a bench"}\n{"prompt": "a photo of two clocks"}\n'


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server over a folder holding prompts.jsonl; yields (base URL, requested paths)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "prompts.jsonl").write_bytes(PROMPTS)
    requested: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requested
    finally:
        httpd.shutdown()
        httpd.server_close()


def _file(base: str, sha256: str | None = None) -> RemoteFile:
    return RemoteFile("prompts.jsonl", f"{base}/prompts.jsonl", sha256 or hashlib.sha256(PROMPTS).hexdigest())


def test_download_is_verified_and_cached(server: tuple[str, list[str]], tmp_path: Path) -> None:
    base, requested = server
    file = _file(base)
    path = fetch(file, cache_dir=tmp_path / "cache")
    assert path == cached_path(file, tmp_path / "cache") and path.read_bytes() == PROMPTS
    assert fetch(file, cache_dir=tmp_path / "cache") == path
    assert requested == ["/prompts.jsonl"]  # the second call was served from the cache


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server: tuple[str, list[str]], tmp_path: Path) -> None:
    file = _file(server[0], sha256="0" * 64)
    with pytest.raises(UserError, match="expected 0000"):
        fetch(file, cache_dir=tmp_path / "cache")
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_unreachable_and_offline_say_where_to_put_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _file("http://127.0.0.1:9")  # discard port: nothing listens there
    with pytest.raises(UserError, match="cannot download .*--data-dir"):
        fetch(file, cache_dir=tmp_path)
    monkeypatch.setenv("JANUS_EVAL_OFFLINE", "1")
    with pytest.raises(UserError, match="JANUS_EVAL_OFFLINE=1"):
        fetch(file, cache_dir=tmp_path)


def test_local_copy_is_verified_too(tmp_path: Path) -> None:
    file = _file("http://127.0.0.1:9")
    (tmp_path / "prompts.jsonl").write_bytes(PROMPTS)
    assert fetch(file, local_dir=tmp_path) == tmp_path / "prompts.jsonl"
    (tmp_path / "prompts.jsonl").write_bytes(PROMPTS + b"\n")
    with pytest.raises(UserError, match="has sha256"):
        fetch(file, local_dir=tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        fetch(file, local_dir=tmp_path / "elsewhere")


class _PromptFileTask(Task):
    """A file-sourced task: one row per JSON line."""

    name = "prompt_file"
    request_kind = "image"

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    headline = "n"  # type: ignore[assignment]

    def data_source(self) -> FileSource:
        return FileSource(files=(_file(self.base),), columns=("prompt",))

    def rows_from_files(self, paths: Mapping[str, Path]) -> list[dict[str, Any]]:
        return [json.loads(line) for line in paths["prompts.jsonl"].read_text().splitlines()]

    def demo_rows(self) -> list[dict[str, Any]]:
        return [{"prompt": "demo"}]

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        return [Sample(str(i), i, None, row=row) for i, row in enumerate(rows)]

    def build_request(self, sample: Sample) -> Any:
        raise NotImplementedError

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        return {}

    def new_metric(self) -> Metric:
        raise NotImplementedError

    def protocol_card(self) -> dict[str, Any]:
        return {}


def test_file_source_rows_from_url_and_from_data_dir(server: tuple[str, list[str]], tmp_path: Path) -> None:
    task = _PromptFileTask(server[0])
    data = load_task_data(task, "hub")
    assert [row["prompt"] for row in data.rows] == ["a photo of a bench", "a photo of two clocks"]
    assert data.origin == "url" and server[0] in data.location
    (tmp_path / "prompt_file").mkdir()
    (tmp_path / "prompt_file" / "prompts.jsonl").write_bytes(PROMPTS)
    local = load_task_data(_PromptFileTask("http://127.0.0.1:9"), "hub", tmp_path)
    assert local.origin == "local" and local.fingerprint == data.fingerprint
