"""Scoring again without generating again: a changed scoring option reuses the recorded outputs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest
from janus_eval.tasks.mme import MmeOptions, MmeTask
from PIL import Image

from janus_eval.api import ImageOutput, ModelSpec, Output, Sample, TaskOptions, TextOutput
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from janus_eval.registry import TASKS
from tests.helpers import read_jsonl
from tests.test_image_requests import RednessTask


class ChannelOptions(TaskOptions):
    channel: Literal["red", "green"] = "red"


class ChannelTask(RednessTask):
    """RednessTask whose score reads the channel its option names (a scoring-only option)."""

    name = "channel_t2i"
    Options: ClassVar[type[TaskOptions]] = ChannelOptions
    calls: ClassVar[list[int]] = []

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        assert isinstance(output, ImageOutput)
        plane = 0 if self.options.channel == "red" else 1  # type: ignore[attr-defined]
        return {"redness": float(np.mean([np.asarray(image)[..., plane].mean() for image in output.images]))}

    def score_batch(self, samples: Any, outputs: Any) -> list[dict[str, Any]]:
        ChannelTask.calls.append(len(samples))
        return super().score_batch(samples, outputs)

    def protocol_card(self) -> dict[str, Any]:
        return {"images_per_prompt": 2, "options": self.options.model_dump()}

    def image_generation_key(self) -> dict[str, Any]:
        return {}  # `channel` only changes the scoring


@pytest.fixture(scope="module")
def adapter() -> Any:
    return build_adapter(ModelSpec(name="janus-tiny"))


@pytest.fixture()
def channel_task() -> Iterator[None]:
    TASKS.register(ChannelTask.name, ChannelTask)
    yield
    del TASKS._items[ChannelTask.name]


def _config(output_dir: Path, task: str, options: Mapping[str, Any], **extra: Any) -> RunConfig:
    return RunConfig(
        model=ModelSpec(name="janus-tiny"), tasks=[task], task_options={task: dict(options)}, data_mode="demo",
        batch_size=4, output_dir=output_dir, show_progress=False, **extra,
    )


def test_changed_extraction_rescores_recorded_text(tmp_path: Path, adapter: Any) -> None:
    (first,) = evaluate(_config(tmp_path, "mme", {"max_new_tokens": 4}), adapter=adapter)
    path = tmp_path / "janus-tiny" / "mme.samples.jsonl"
    outputs = {r["id"]: r["output"] for r in read_jsonl(path)}

    (second,) = evaluate(_config(tmp_path, "mme", {"max_new_tokens": 4, "extraction": "lmms_eval"}), adapter=adapter)
    assert (second.counts.generated, second.counts.rescored, second.counts.reused) == (0, 28, 0)
    assert second.manifest.config_hash != first.manifest.config_hash
    records = read_jsonl(path)
    assert {r["id"]: r["output"] for r in records} == outputs
    task = MmeTask(MmeOptions(max_new_tokens=4, extraction="lmms_eval"))
    samples = {s.id: s for s in task.samples(task.demo_rows())}
    for r in records:  # every score is the new rule applied to the old output
        assert r["rescored"] and r["score"] == task.score(samples[r["id"]], TextOutput(r["output"]))

    # a change of what the model is asked (the generation budget) is generated again
    (third,) = evaluate(_config(tmp_path, "mme", {"max_new_tokens": 3}), adapter=adapter)
    assert (third.counts.generated, third.counts.rescored) == (28, 0)

    # --no-resume reuses nothing
    (fourth,) = evaluate(_config(tmp_path, "mme", {"max_new_tokens": 4}, resume=False), adapter=adapter)
    assert (fourth.counts.generated, fourth.counts.rescored) == (28, 0)


def test_changed_scoring_option_rescores_saved_images_in_batches(tmp_path: Path, adapter: Any, channel_task: None) -> None:
    (red,) = evaluate(_config(tmp_path, ChannelTask.name, {"channel": "red"}), adapter=adapter)
    model_dir = tmp_path / "janus-tiny"
    records = read_jsonl(model_dir / "channel_t2i.samples.jsonl")
    assert all(len(r["output_sha256"]) == 2 for r in records)

    ChannelTask.calls.clear()
    (green,) = evaluate(_config(tmp_path, ChannelTask.name, {"channel": "green"}), adapter=adapter)
    assert (green.counts.generated, green.counts.rescored) == (0, 3)
    assert ChannelTask.calls == [3]  # one scoring batch for the three samples
    expected = np.mean(
        [np.mean([np.asarray(Image.open(model_dir / p))[..., 1].mean() for p in r["output"]]) for r in records]
    )
    assert green.metrics["redness"] == pytest.approx(expected)
    assert green.metrics != red.metrics

    # an image overwritten since is not trusted: that sample is generated again, the others rescored
    tampered = model_dir / records[0]["output"][0]
    Image.new("RGB", Image.open(tampered).size, "white").save(tampered)
    (again,) = evaluate(_config(tmp_path, ChannelTask.name, {"channel": "red"}), adapter=adapter)
    assert (again.counts.generated, again.counts.rescored) == (1, 2)
    assert again.metrics == red.metrics


def test_images_folder_holds_one_generation_configuration(tmp_path: Path, adapter: Any, channel_task: None) -> None:
    """The folder is scored as a whole by GenEval's evaluator: another seed's images are moved aside, and back."""
    model_dir = tmp_path / "janus-tiny"
    images = model_dir / "channel_t2i_images"
    (first,) = evaluate(_config(tmp_path, ChannelTask.name, {}), adapter=adapter)
    assert first.images_dir == "janus-tiny/channel_t2i_images"
    seed0 = {p.relative_to(images): p.read_bytes() for p in images.rglob("*.png")}
    (second,) = evaluate(_config(tmp_path, ChannelTask.name, {}, seed=1), adapter=adapter)
    assert second.counts.generated == 3
    aside = [p for p in model_dir.iterdir() if p.name.startswith("channel_t2i_images.")]
    assert len(aside) == 1 and {p.relative_to(aside[0]): p.read_bytes() for p in aside[0].rglob("*.png")} == seed0
    assert {p.relative_to(images) for p in images.rglob("*.png")} == set(seed0)  # same layout, new images
    # back to seed 0: its images come back and its outputs are reused, not generated again
    (third,) = evaluate(_config(tmp_path, ChannelTask.name, {"channel": "green"}), adapter=adapter)
    assert (third.counts.generated, third.counts.rescored) == (0, 3)
    assert {p.relative_to(images): p.read_bytes() for p in images.rglob("*.png")} == seed0
