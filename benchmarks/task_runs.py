"""Whole-task runs for the harness and resume benchmarks: GenEval on its demo prompts, and a minimal image task.

`geneval` is the real task (official layout, records, tiny offline detector and CLIP on the demo rows);
`t2i-minimal` has the same requests and image saving but a trivial score, so that its overhead is the
engine's alone (records, PNG files, resume bookkeeping, result files).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import janus_shapes  # noqa: E402,F401  (sets up sys.path and offline mode first)
import numpy as np  # noqa: E402
from janus_eval.tasks.geneval import GenEvalTask  # noqa: E402

from janus_eval.api import ImageOutput, Metric, Output, Sample, SampleScore  # noqa: E402
from janus_eval.engine.runner import RunConfig, build_tasks, chunks, evaluate  # noqa: E402
from janus_eval.registry import TASKS  # noqa: E402

TASK_CHOICES = ("geneval", "t2i-minimal")


class _MeanMetric(Metric):
    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        self.total += float(score["brightness"])
        self.count += 1

    def merge(self, other: Metric) -> None:
        assert isinstance(other, _MeanMetric)
        self.total, self.count = self.total + other.total, self.count + other.count

    def compute(self) -> dict[str, float | None]:
        return {"brightness": self.total / self.count if self.count else None}


class BrightnessScore(SampleScore):
    """A sample's mean brightness of its images (0 without images)."""

    brightness: float


class MinimalImageTask(GenEvalTask):
    """GenEval's prompts, requests and image folder, scored by mean brightness (no scorer models)."""

    name = "t2i-minimal"
    published: Any = {}
    Score = BrightnessScore

    @property
    def headline(self) -> str:
        return "brightness"

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        return [self.score(sample, output) for sample, output in zip(samples, outputs)]

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        images = output.images if isinstance(output, ImageOutput) else []
        return {"brightness": float(np.mean([np.asarray(image).mean() for image in images])) if images else 0.0}

    def new_metric(self) -> Metric:
        return _MeanMetric()

    def scorer_info(self) -> dict[str, Any]:
        return {"score": "mean brightness"}

    def resampling_stratum(self, sample: Sample) -> str:
        return ""


def register_minimal_task() -> None:
    if MinimalImageTask.name not in TASKS._items:
        TASKS.register(MinimalImageTask.name, MinimalImageTask)


def run_config(task: str, output_dir: Path, prompts: int, images_per_prompt: int, batch_size: int) -> RunConfig:
    register_minimal_task()
    return RunConfig(
        model=janus_shapes.ModelSpec("janus_hf"),
        tasks=[task],
        task_options={task: {"images_per_prompt": images_per_prompt}},
        data_mode="demo",
        limit=prompts,
        batch_size=batch_size,
        output_dir=output_dir,
        show_progress=False,
    )


def bare_adapter_calls(config: RunConfig, adapter: Any) -> int:
    """The adapter calls a run of `config` makes (same requests, same batches), without the harness; returns images."""
    from janus_eval.data.loading import load_task_data

    (task,) = build_tasks(config)
    data = load_task_data(task, config.data_mode, config.data_dir)
    samples = task.samples(data.rows)[: config.limit]
    requests = sorted((task.build_request(sample) for sample in samples), key=lambda r: r.length_hint, reverse=True)
    images = 0
    for batch in chunks(requests, config.batch_size):
        images += sum(len(output.images) for output in adapter.generate_images(list(batch)))
    return images


def run_task(config: RunConfig, adapter: Any) -> Any:
    (result,) = evaluate(config, adapter=adapter)
    return result


def task_parser(description: str, batch_size: int = 2) -> argparse.ArgumentParser:
    """The command line of the whole-task benchmarks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=janus_shapes.SHAPES, default="tiny")
    parser.add_argument("--tasks", default=",".join(TASK_CHOICES), help="geneval and/or t2i-minimal")
    parser.add_argument("--prompts", type=int, default=4, help="GenEval demo prompts (at most 12)")
    parser.add_argument("--images-per-prompt", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=batch_size, help="prompts per adapter call (--batch-size)")
    parser.add_argument("--repeats", type=int, default=2, help="harness: alternating repeats, best of each kept")
    return parser


def over_tasks(args: argparse.Namespace, measure: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """`measure(task, adapter, args, scratch)` for every task of `--tasks`, on one adapter of `--shape`."""
    adapter = janus_shapes.build_adapter(args.shape, args.device)
    print(janus_shapes.describe(adapter, args.shape))
    with tempfile.TemporaryDirectory(prefix="janus-bench-") as scratch:
        rows = [measure(task, adapter, args, Path(scratch)) for task in args.tasks.split(",")]
    return {"shape": args.shape, "device": args.device, "batch_size": args.batch_size, "tasks": rows}


def print_rows(title: str, row_format: str, results: dict[str, Any]) -> None:
    """The table of a whole-task benchmark: one formatted line per task."""
    print(f"{title}, {results['shape']} on {results['device']}, batch size {results['batch_size']}")
    for row in results["tasks"]:
        print(row_format.format(**row))


def script_main(module: Any, argv: list[str] | None = None) -> int:
    """A whole-task benchmark's entry point (the module defines `measure`, `TITLE`, `ROW` and its docstring)."""
    args = task_parser(module.__doc__.splitlines()[0]).parse_args(argv)
    print_rows(module.TITLE, module.ROW, over_tasks(args, module.measure))
    return 0
