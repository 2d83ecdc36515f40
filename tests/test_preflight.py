"""An unreachable Hub is detected once and quickly, with one message for everything missing; `janus-eval prefetch`
downloads everything a run needs through the real libraries, from a loopback server that speaks the Hub's API."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from janus_eval.model_adapters.janus_hf import JanusHFAdapter
from janus_eval.model_adapters.janus_tiny import ensure_tiny_checkpoint

from janus_eval.api import ModelSpec
from janus_eval.engine.preflight import Command, command_resources, missing_message, probe
from janus_eval.registry import TASKS
from janus_eval.scorers.tiny_scorers import ensure_tiny_detector
from tests.fake_hub import FakeHub
from tests.helpers import demo_rows, write_parquet

ROOT = Path(__file__).resolve().parent.parent
# GenEval's canonical prompt file, pointed at the loopback server (the real one is on GitHub)
PATCH_GENEVAL = (
    "import os, janus_eval.tasks.geneval as g; from janus_eval.api import RemoteFile; "
    "g.METADATA_FILE = RemoteFile(g.METADATA_FILE.name, os.environ['TEST_GENEVAL_URL'], os.environ['TEST_GENEVAL_SHA']); "
)
RUN_CLI = "import sys; from janus_eval.cli import main; raise SystemExit(main(sys.argv[1:]))"


class RefusingServer:
    """A loopback port that accepts each connection and closes it at once (a broken proxy); counts connections."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.connections = 0
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def _env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """A fresh cache, the Hub at `endpoint`, offline mode NOT set (the preflight has to find out)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf"), JANUS_EVAL_CACHE=str(tmp_path / "cache"))
    env.update(extra)
    return env


def _cli(args: list[str], env: dict[str, str], prelude: str = "", timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", prelude + RUN_CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
    )


def test_unreachable_hub_is_probed_once_and_every_missing_item_is_listed(tmp_path: Path) -> None:
    server = RefusingServer()
    try:
        started = time.perf_counter()
        process = _cli(
            ["--model", "janus-pro-7b", "--tasks", "mme,pope,gqa,geneval", "--output-dir", str(tmp_path / "out")],
            # no probe of GitHub from a test: canonical files are declared unreachable
            _env(tmp_path, server.url, JANUS_EVAL_OFFLINE="1"),
        )
        seconds = time.perf_counter() - started
    finally:
        server.close()
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr and "Retrying" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("janus-eval: error:")]
    assert len(errors) == 1, process.stderr
    message = process.stderr[process.stderr.index("janus-eval: error:") :]
    assert server.connections == 1  # one probe, then offline: no retries, no request per item
    assert f"the Hugging Face Hub at {server.url} is unreachable" in message
    assert "JANUS_EVAL_OFFLINE=1 forbids downloading files" in message
    for expected in (
        "task 'mme': dataset lmms-lab/MME (config default, split test)",
        "task 'pope': dataset lmms-lab/POPE",
        "task 'gqa': dataset lmms-lab/GQA (config testdev_balanced_instructions + testdev_balanced_images",
        "task 'geneval': evaluation_metadata.jsonl",
        "model janus-pro-7b: checkpoint deepseek-community/Janus-Pro-7B",
        "GenEval detector (mask2former): checkpoint facebook/mask2former-swin-small-coco-instance",
        "of timm/vit_large_patch14_clip_224.openai",
        "--data-dir DIR with the files in DIR/mme/",
        "--model-path DIR",
        "`hf download deepseek-community/Janus-Pro-7B`",
        "geneval.detector_weights=DIR",
        "`janus-eval prefetch --model janus-pro-7b --tasks mme,pope,gqa,geneval",
    ):
        assert expected in message, expected
    assert message.count("\n  - ") == 7 and message.startswith("janus-eval: error: 7 things this command needs")
    # before: about 25 s of retries for the first item alone, and only that item reported
    assert seconds < 60, f"{seconds:.1f} s"


def test_probe_answers_within_its_timeout() -> None:
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.perf_counter()
        reason = probe(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        assert reason == "no answer within 0.5 s" and time.perf_counter() - started < 5


def test_resources_are_listed_without_loading_anything(tmp_path: Path) -> None:
    mme, geneval = TASKS.get("mme")(), TASKS.get("geneval")()
    hub = command_resources(Command(ModelSpec("janus-pro-1b", revision="abc"), [mme, geneval], JanusHFAdapter))
    assert [(r.kind, r.id, r.revision) for r in hub] == [
        ("model", "deepseek-community/Janus-Pro-1B", "abc"),
        ("dataset", "lmms-lab/MME", None),
        ("file", geneval.data_source().files[0].url, None),
        ("model", "facebook/mask2former-swin-small-coco-instance", None),
        ("hub_file", "timm/vit_large_patch14_clip_224.openai", None),
    ]
    demo = command_resources(Command(ModelSpec("janus-tiny"), [TASKS.get("geneval")(demo=True)], JanusHFAdapter, "demo"))
    assert demo == []  # janus-tiny, demo rows and the tiny scorers are built locally
    local = command_resources(
        Command(ModelSpec("janus_hf", model_path=str(tmp_path / "ckpt")), [mme], JanusHFAdapter, "hub", tmp_path / "data")
    )
    assert [(r.kind, r.id) for r in local] == [("local", str(tmp_path / "ckpt")), ("local", str(tmp_path / "data" / "mme"))]
    message = missing_message(local, "local paths", ["--model", "janus_hf"])
    assert "does not exist" in message and "prefetch" not in message  # nothing to download


def _gqa_repo(folder: Path) -> Path:
    """GQA's two configs as the hub repository declares them (data_files per config in the README's YAML)."""
    task = TASKS.get("gqa")()
    join = task.data_source().joins[0]
    questions = [{k: v for k, v in row.items() if k != "types"} for row in task.demo_rows()]
    write_parquet(questions, folder / "testdev_balanced_instructions", split="testdev")
    write_parquet(task.demo_join_rows(join), folder / join.config, split="testdev")
    configs = "".join(
        f"- config_name: {name}\n  data_files:\n  - split: testdev\n    path: {name}/data/testdev-*\n"
        for name in ("testdev_balanced_instructions", join.config)
    )
    (folder / "README.md").write_text(f"---\nconfigs:\n{configs}---\n")
    return folder


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[tuple[FakeHub, bytes]]:
    """A loopback Hub with the tiny Janus as Janus-Pro-1B, MME demo rows as lmms-lab/MME, the tiny detector as the
    GenEval detector, a stand-in CLIP file (pickle name only: the safetensors twin is tried first), and GenEval's
    prompt file made from its demo rows."""
    write_parquet(demo_rows("mme"), tmp_path / "repos" / "mme")
    gqa = _gqa_repo(tmp_path / "repos" / "gqa")
    clip = tmp_path / "repos" / "clip"
    clip.mkdir(parents=True)
    (clip / "open_clip_pytorch_model.bin").write_bytes(b"stand-in weights")
    metadata = "".join(json.dumps(row) + "\n" for row in demo_rows("geneval")).encode()
    fake = FakeHub()
    fake.add_repo("model", "deepseek-community/Janus-Pro-1B", ensure_tiny_checkpoint())
    fake.add_repo("dataset", "lmms-lab/MME", tmp_path / "repos" / "mme")
    fake.add_repo("dataset", "lmms-lab/GQA", gqa)
    fake.add_repo("model", "facebook/mask2former-swin-small-coco-instance", ensure_tiny_detector())
    fake.add_repo("model", "timm/vit_large_patch14_clip_224.openai", clip)
    fake.files["/geneval/evaluation_metadata.jsonl"] = metadata
    fake.start()
    try:
        yield fake, metadata
    finally:
        fake.stop()


def test_prefetch_then_the_same_command_runs_offline(hub: tuple[FakeHub, bytes], tmp_path: Path) -> None:
    fake, metadata = hub
    file_env = {"TEST_GENEVAL_URL": f"{fake.url}/geneval/evaluation_metadata.jsonl",
                "TEST_GENEVAL_SHA": hashlib.sha256(metadata).hexdigest()}  # fmt: skip
    env = _env(tmp_path, fake.url, **file_env)
    run = ["--model", "janus-pro-1b", "--tasks", "mme,gqa,geneval", "--output-dir", str(tmp_path / "out"), "--no-progress"]
    process = _cli(["prefetch", *run], env, PATCH_GENEVAL)
    assert process.returncode == 0, process.stderr
    fetched = [line for line in process.stdout.splitlines() if line.startswith("fetched ")]
    assert len(fetched) == 7, process.stdout
    hf_home = str(tmp_path / "hf")
    for purpose, where in (
        ("model janus-pro-1b: checkpoint deepseek-community/Janus-Pro-1B", f"{hf_home}/hub/models--deepseek-community--Janus-Pro-1B/snapshots/"),
        ("task 'mme': dataset lmms-lab/MME (config default, split test)", f"{hf_home}/datasets/lmms-lab___mme/default/"),
        ("dataset lmms-lab/GQA (config testdev_balanced_instructions", f"{hf_home}/datasets/lmms-lab___gqa/testdev_balanced_instructions/"),
        ("dataset lmms-lab/GQA (config testdev_balanced_images", f"{hf_home}/datasets/lmms-lab___gqa/testdev_balanced_images/"),
        ("task 'geneval': evaluation_metadata.jsonl", str(tmp_path / "cache" / "data")),
        ("GenEval detector (mask2former)", f"{hf_home}/hub/models--facebook--mask2former-swin-small-coco-instance/"),
        ("GenEval colour classifier", "open_clip_pytorch_model.bin"),
    ):  # fmt: skip
        line = next((line for line in fetched if purpose in line), None)
        assert line is not None and where in line.split(" -> ")[1], (purpose, process.stdout)
    assert ("GET", "/datasets/lmms-lab/MME/resolve/" + _commit(fake, "dataset", "lmms-lab/MME") + "/data/test-00000-of-00001.parquet") in fake.requests
    assert ("GET", "/geneval/evaluation_metadata.jsonl") in fake.requests

    # the Hub is gone (offline mode not set): the run finds everything in the caches and does not wait
    offline = _env(tmp_path, _closed_port_url(), **file_env)
    limited = [*run[:3], "mme,gqa", *run[4:], "--limit", "2", "--task-option", "mme.max_new_tokens=2",
               "--task-option", "gqa.max_new_tokens=2"]
    process = _cli(limited, offline)
    assert process.returncode == 0, process.stderr
    assert "is unreachable" in process.stderr and "running offline" in process.stderr
    for task in ("mme", "gqa"):
        result = json.loads((tmp_path / "out" / "janus-pro-1b" / f"{task}.json").read_text())
        assert result["counts"]["scored"] == 2 and result["data"]["origin"] == "hub"
    # GenEval's items sit where the run's own look-ups find them offline (same library calls, this cache)
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    hub_cache = tmp_path / "hf" / "hub"
    clip = try_to_load_from_cache("timm/vit_large_patch14_clip_224.openai", "open_clip_pytorch_model.bin", cache_dir=hub_cache)
    assert isinstance(clip, str) and Path(clip).read_bytes() == b"stand-in weights"
    detector = snapshot_download("facebook/mask2former-swin-small-coco-instance", cache_dir=hub_cache, local_files_only=True,
                                 allow_patterns=["*.json", "*.safetensors", "*.bin"], ignore_patterns=["*.bin"])  # fmt: skip
    assert (Path(detector) / "model.safetensors").is_file() and (Path(detector) / "preprocessor_config.json").is_file()
    assert (tmp_path / "cache" / "data" / file_env["TEST_GENEVAL_SHA"][:16] / "evaluation_metadata.jsonl").read_bytes() == metadata


def test_prefetch_on_an_unreachable_hub_says_so(tmp_path: Path) -> None:
    endpoint = _closed_port_url()
    process = _cli(["prefetch", "--model", "janus-pro-1b", "--tasks", "mme"], _env(tmp_path, endpoint))
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert f"prefetch needs the Hugging Face Hub, but {endpoint} is unreachable" in process.stderr


def _closed_port_url() -> str:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _commit(fake: FakeHub, repo_type: str, repo_id: str) -> str:
    return fake.add_repo(repo_type, repo_id, fake.repos[(repo_type, repo_id)])


def test_offline_mode_set_skips_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    from janus_eval.engine import preflight
    from janus_eval.errors import UserError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(preflight, "probe", lambda *args, **kwargs: pytest.fail("probed although offline mode is set"))
    command = Command(ModelSpec("janus-pro-1b"), [TASKS.get("pope")()], JanusHFAdapter, argv=["--model", "janus-pro-1b"])
    with pytest.raises(UserError) as error:
        preflight.check_available(command)
    message = str(error.value)
    assert message.startswith("2 things this command needs are not available here (HF_HUB_OFFLINE=1):")
    assert "lmms-lab/POPE" in message and "deepseek-community/Janus-Pro-1B" in message


def test_url_and_local_items_are_fetched_or_checked(tmp_path: Path) -> None:
    from janus_eval.api import Resource
    from janus_eval.engine.preflight import fetch_resource, is_available
    from janus_eval.errors import UserError

    fake = FakeHub()
    fake.files["/mmdet/checkpoint.pth"] = b"a checkpoint"
    fake.start()
    try:  # e.g. mmdet's checkpoint, which mmcv keeps in torch.hub's folder
        target = tmp_path / "hub" / "checkpoints" / "checkpoint.pth"
        item = Resource("url", f"{fake.url}/mmdet/checkpoint.pth", "GenEval detector (mmdet)", files=(str(target),))
        assert not is_available(item)
        assert fetch_resource(item) == str(target) and target.read_bytes() == b"a checkpoint"
        assert is_available(item)
    finally:
        fake.stop()
    local = Resource("local", str(tmp_path / "nowhere"), "model janus_hf")
    assert not is_available(local)
    with pytest.raises(UserError, match="does not exist"):
        fetch_resource(local)


def test_uncached_canonical_file_is_missing_only_when_its_server_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import janus_eval.tasks.geneval as geneval

    from janus_eval.api import RemoteFile
    from janus_eval.engine.preflight import check_available
    from janus_eval.errors import UserError

    def command(url: str) -> Command:
        monkeypatch.setattr(geneval, "METADATA_FILE", RemoteFile("evaluation_metadata.jsonl", url, "0" * 64))
        task = geneval.GenEvalTask(geneval.GenEvalOptions(detector="tiny", clip_model="tiny"))  # no scorer weights
        return Command(ModelSpec("janus-tiny"), [task], JanusHFAdapter, argv=["--model", "janus-tiny", "--tasks", "geneval"])

    monkeypatch.delenv("JANUS_EVAL_OFFLINE", raising=False)
    server = RefusingServer()
    try:
        with pytest.raises(UserError) as error:
            check_available(command(f"{server.url}/prompts/evaluation_metadata.jsonl"))
    finally:
        server.close()
    message = str(error.value)
    assert message.startswith(f"1 thing this command needs is not available here ({server.url} is unreachable")
    assert "evaluation_metadata.jsonl" in message and "--data-dir DIR with DIR/geneval/evaluation_metadata.jsonl" in message
    assert server.connections == 1
    fake = FakeHub().start()
    try:  # the server answers: the run downloads the file as before
        check_available(command(f"{fake.url}/prompts/evaluation_metadata.jsonl"))
    finally:
        fake.stop()
