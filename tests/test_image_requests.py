"""Image requests through the runner: saved PNGs in GenEval's layout, records, resume and replay."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from janus_eval.api import (
    DataSource,
    ImageOutput,
    ImageRequest,
    Metric,
    ModelSpec,
    Output,
    Sample,
    Task,
    image_seeds,
)
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate
from janus_eval.registry import TASKS
from tests.helpers import read_jsonl

PROMPTS = ["a red cube", "a blue ball on a table", "three cats"]


class MeanMetric(Metric):
    """Mean of the per-sample `redness` score."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        self.total += score["redness"]
        self.count += 1

    def merge(self, other: Metric) -> None:
        assert isinstance(other, MeanMetric)
        self.total += other.total
        self.count += other.count

    def compute(self) -> dict[str, float]:
        return {"redness": self.total / self.count}


class RednessTask(Task):
    """A minimal text-to-image task: two images per prompt, scored by their mean red channel."""

    name = "redness_t2i"
    request_kind = "image"

    @property
    def headline(self) -> str:
        return "redness"

    def data_source(self) -> DataSource:
        return DataSource(hf_id="janus-eval/none", split="test", columns=("prompt",))

    def demo_rows(self) -> list[dict[str, Any]]:
        return [{"prompt": prompt} for prompt in PROMPTS]

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        return [Sample(id=row["prompt"], index=i, target=None, row=row) for i, row in enumerate(rows)]

    def build_request(self, sample: Sample) -> ImageRequest:
        prompt = sample.row["prompt"]
        return ImageRequest(self.name, sample.id, sample.index, prompt, seeds=image_seeds(self.seed, prompt, 2))

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        assert isinstance(output, ImageOutput)
        return {"redness": float(np.mean([np.asarray(image)[..., 0].mean() for image in output.images]))}

    def new_metric(self) -> Metric:
        return MeanMetric()

    def protocol_card(self) -> dict[str, Any]:
        return {"images_per_prompt": 2}


@pytest.fixture(scope="module")
def registered() -> Iterator[None]:
    TASKS.register(RednessTask.name, RednessTask)
    yield
    del TASKS._items[RednessTask.name]


TINY = ModelSpec(name="janus-tiny")


def _config(output_dir: Path, seed: int = 0, model: ModelSpec = TINY) -> RunConfig:
    return RunConfig(
        model=model, tasks=[RednessTask.name], data_mode="demo", batch_size=2, output_dir=output_dir,
        seed=seed, show_progress=False,
    )


def test_images_are_saved_in_geneval_layout_and_replayed(tmp_path: Path, registered: None) -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    (result,) = evaluate(_config(tmp_path), adapter=adapter)
    model_dir = tmp_path / "janus-tiny"
    records = {r["id"]: r for r in read_jsonl(model_dir / "redness_t2i.samples.jsonl")}
    assert records["three cats"]["output"] == [
        "redness_t2i_images/00002/samples/00000.png",
        "redness_t2i_images/00002/samples/00001.png",
    ]
    image = Image.open(model_dir / records["three cats"]["output"][0])
    assert image.mode == "RGB" and image.format == "PNG"
    assert records["three cats"]["request"]["seeds"] == image_seeds(0, "three cats", 2)

    (again,) = evaluate(_config(tmp_path), adapter=adapter)
    assert again.counts.reused == 3 and again.metrics == result.metrics

    replay = ModelSpec(name="predictions", args={"path": str(model_dir / "{task}.samples.jsonl")})
    (replayed,) = evaluate(_config(tmp_path, model=replay))
    assert replayed.metrics == result.metrics

    (reseeded,) = evaluate(_config(tmp_path / "seed1", seed=1), adapter=adapter)
    assert reseeded.counts.reused == 0
    other = read_jsonl(tmp_path / "seed1" / "janus-tiny" / "redness_t2i.samples.jsonl")
    pixels = [np.asarray(Image.open(tmp_path / "seed1" / "janus-tiny" / r["output"][0])) for r in other]
    originals = [np.asarray(Image.open(model_dir / records[r["id"]]["output"][0])) for r in other]
    assert any(not np.array_equal(a, b) for a, b in zip(pixels, originals))
