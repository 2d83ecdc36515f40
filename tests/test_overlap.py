"""Finishing a batch (scoring, images, records) overlaps the next batch's generation; failures still surface."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from janus_eval.model_adapters.janus_hf import JanusHFAdapter

from janus_eval.api import ImageOutput, ImageRequest, ModelSpec, Output, Sample
from janus_eval.engine.overlap import BatchFinisher
from janus_eval.engine.runner import RunConfig, evaluate
from janus_eval.registry import TASKS
from tests.helpers import read_jsonl
from tests.test_image_requests import RednessTask


def test_jobs_run_in_order_and_a_failure_reaches_the_caller() -> None:
    done: list[int] = []
    with BatchFinisher() as finisher:
        for number in range(5):
            finisher.submit(done.append, number)
    assert done == [0, 1, 2, 3, 4]

    def fail() -> None:
        raise ValueError("scorer broke")

    with pytest.raises(ValueError, match="scorer broke"):
        with BatchFinisher() as finisher:
            finisher.submit(fail)
            finisher.submit(done.append, 99)  # dropped after the failure
    assert 99 not in done
    # an error of the block itself wins, after the submitted jobs have run
    with pytest.raises(KeyError):
        with BatchFinisher() as finisher:
            finisher.submit(done.append, 7)
            raise KeyError("generation broke")
    assert done[-1] == 7


def test_no_job_runs_after_a_failure_surfaced() -> None:
    """A job queued behind a failing one never runs, also once the failure was raised to the caller
    (the budget of --max-failed stops the run at the sample that exceeded it, not one later)."""
    for _ in range(200):
        ran: list[int] = []
        release = threading.Event()

        def fail_when_released(release: threading.Event) -> None:
            release.wait()
            raise ValueError("over budget")

        with pytest.raises(ValueError, match="over budget"):
            with BatchFinisher() as finisher:
                finisher.submit(fail_when_released, release)
                finisher.submit(ran.append, 1)  # queued while the first job runs
                release.set()
                while True:
                    finisher.submit(ran.append, 2)  # raises once the failure is known
        assert ran == []  # every job here was queued behind the failing one


class SignallingAdapter(JanusHFAdapter):
    """janus-tiny, announcing the start of each image generation call."""

    calls: int = 0
    second_call = threading.Event()

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[ImageOutput]:
        type(self).calls += 1
        if type(self).calls == 2:
            type(self).second_call.set()
        return super().generate_images(requests)


class WaitingTask(RednessTask):
    """Scores a batch only once the next batch's generation has begun (a finish that does not overlap stalls)."""

    name = "redness_overlap"
    waited: list[bool] = []

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        if not self.waited:
            self.waited.append(SignallingAdapter.second_call.wait(timeout=60))
        return super().score_batch(samples, outputs)


@pytest.fixture()
def registered() -> Iterator[None]:
    TASKS.register(WaitingTask.name, WaitingTask)
    yield
    del TASKS._items[WaitingTask.name]


def test_scoring_a_batch_overlaps_the_next_generation(tmp_path: Path, registered: None) -> None:
    adapter = SignallingAdapter.from_spec(ModelSpec("janus-tiny"))
    config = RunConfig(
        model=ModelSpec("janus-tiny"), tasks=[WaitingTask.name], data_mode="demo", batch_size=1,
        output_dir=tmp_path, show_progress=False,
    )  # fmt: skip
    (result,) = evaluate(config, adapter=adapter)
    assert WaitingTask.waited == [True]  # the first batch was scored while the second was generating
    assert result.counts.generated == 3 and result.counts.failed == 0
    records = read_jsonl(tmp_path / "janus-tiny" / f"{WaitingTask.name}.samples.jsonl")
    assert [r["id"] for r in records] == ["a blue ball on a table", "a red cube", "three cats"]  # batch order kept
