"""One run at a time per output folder, model label and task: real processes, a SIGKILLed holder, torchrun."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from janus_eval.api import ModelSpec
from janus_eval.engine.distributed import DistContext
from janus_eval.engine.locks import Holder, TaskLock, lock_path, task_locks
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from janus_eval.errors import UserError
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--model", "janus-tiny", "--tasks", "mme", "--data", "demo", "--no-progress",
        "--task-option", "mme.max_new_tokens=2"]  # fmt: skip
HOLDER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from janus_eval.engine.distributed import DistContext
from janus_eval.engine.locks import task_locks
with task_locks(Path(sys.argv[2]), "janus-tiny", ["mme"], DistContext(), ["janus-eval", "--the-holder"]):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of janus-tiny / mme in `tmp_path` until it is killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ROOT), str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        yield process
    finally:
        process.kill()
        process.wait(timeout=60)


def test_a_second_run_is_refused_before_it_touches_a_record_and_a_killed_holder_never_blocks(
    tmp_path: Path, holder: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "janus-tiny"
    records = model_dir / "mme.samples.jsonl"
    records.write_bytes(b"")  # an earlier run's records, which the refused run must leave alone
    os.utime(records, ns=(1_000_000_000, 1_000_000_000))
    code, out, err = run_cli([*ARGS, "--limit", "2", "--output-dir", str(tmp_path)], capsys)
    assert code == 2
    assert err.count("janus-eval: error:") == 1 and "Traceback" not in err
    assert "another janus-eval run is using" in err and "records of task mme" in err
    assert f"process {holder.pid} on host {socket.gethostname()}" in err
    assert "running since" in err and "command: janus-eval --the-holder" in err
    assert records.stat().st_mtime_ns == 1_000_000_000 and not (model_dir / "mme.json").exists()

    holder.send_signal(signal.SIGKILL)  # the kernel drops its flock: the lock file stays, the lock does not
    holder.wait(timeout=60)
    assert lock_path(model_dir, "mme").exists()
    code, out, err = run_cli([*ARGS, "--limit", "2", "--output-dir", str(tmp_path)], capsys)
    assert code == 0, err
    assert "[2/2 scored, 0 failed, 0 reused]" in out


def test_a_run_holds_its_locks_while_it_runs_and_lets_go_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    real = adapter.generate_text
    seen: list[Holder | None] = []

    def probing(requests: Any) -> Any:
        probe = TaskLock(tmp_path / "janus-tiny", "pope")
        seen.append(probe.acquire(Holder.of_this_process(["probe"])))
        probe.release()
        return real(requests)

    monkeypatch.setattr(adapter, "generate_text", probing)
    config = RunConfig(
        model=ModelSpec(name="janus-tiny"), tasks=["mme", "pope"], task_options={"mme": {"max_new_tokens": "2"},
        "pope": {"max_new_tokens": "2"}}, data_mode="demo", limit=1, output_dir=tmp_path, show_progress=False,
        command=["janus-eval", "--the-run"],
    )  # fmt: skip
    evaluate(config, adapter=adapter)
    assert len(seen) == 2 and all(h is not None and h.pid == os.getpid() for h in seen)  # held from the first task
    assert seen[0] is not None and seen[0].command == "janus-eval --the-run"
    after = TaskLock(tmp_path / "janus-tiny", "pope")
    assert after.acquire(Holder.of_this_process(["probe"])) is None
    after.release()


def test_all_locks_or_none(tmp_path: Path) -> None:
    """A run refused for one task holds none of the others' locks afterwards."""
    other = TaskLock(tmp_path / "m", "pope")
    assert other.acquire(Holder.of_this_process(["first"])) is None
    with pytest.raises(UserError, match="task pope are being written by process"):
        with task_locks(tmp_path, "m", ["mme", "pope"], DistContext(), ["second"]):
            pass
    mme = TaskLock(tmp_path / "m", "mme")
    assert mme.acquire(Holder.of_this_process(["third"])) is None
    mme.release()
    other.release()


def test_every_rank_of_a_second_torchrun_job_stops_cleanly(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    job = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(ROOT / "run_eval.py"), *ARGS, "--limit", "4", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert job.returncode != 0
    message = f"another janus-eval run is using {tmp_path / 'janus-tiny'}"
    assert (job.stdout + job.stderr).count(message) == 2, job.stderr  # rank 0 and rank 1, neither hangs
    assert f"process {holder.pid}" in job.stderr
    assert not list((tmp_path / "janus-tiny").glob("mme.samples*"))
