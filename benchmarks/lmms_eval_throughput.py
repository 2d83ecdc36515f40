#!/usr/bin/env python
"""lmms-eval with `--model janus`: our batched adapter against batch size 1 on the same requests.

Runs lmms-eval's own evaluator and MME/POPE task definitions over local parquet (our demo rows, repeated) with
the same model instance twice, batched and at batch size 1, after a warm-up run, and prints the wall-clock
ratio of the whole evaluation and of the model calls alone; checks that every logged answer is the same.
Needs lmms-eval (`pip install --no-deps "lmms-eval>=0.7.3,<0.8"` and the `lmms-lean` extra, or the `lmms` extra).

    python benchmarks/lmms_eval_throughput.py
    python benchmarks/lmms_eval_throughput.py --batch-size 16 --repeat 8 --interface chat
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.lmms_eval_local import write_local_tasks  # noqa: E402

TASKS = ["mme_local", "pope_local"]


def evaluate(model: Any, include: Path, limit: int | None = None) -> tuple[float, float, dict[str, list[str]]]:
    """(wall seconds of the evaluation, seconds inside the model, task -> logged answers in doc order)."""
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager

    inside = 0.0
    generate = type(model).generate_until

    def timed(self: Any, requests: Any) -> Any:
        nonlocal inside
        start = time.perf_counter()
        try:
            return generate(self, requests)
        finally:
            inside += time.perf_counter() - start

    model.generate_until = timed.__get__(model)
    start = time.perf_counter()
    results = simple_evaluate(
        model=model, tasks=TASKS, task_manager=TaskManager("ERROR", include_path=str(include)), log_samples=True,
        limit=limit, verbosity="ERROR",
    )  # fmt: skip
    wall = time.perf_counter() - start
    del model.generate_until
    answers = {
        task: [sample["filtered_resps"] for sample in sorted(samples, key=lambda s: s["doc_id"])]
        for task, samples in results["samples"].items()
    }
    return wall, inside, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", default="janus-tiny", help="our alias, a hub id or a local folder")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=4, help="copies of the demo rows (MME 28, POPE 12 each)")
    parser.add_argument("--interface", choices=("simple", "chat"), default="simple")
    parser.add_argument("--chat-template", choices=("checkpoint", "deepseek"), default="deepseek")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from lmms_eval.models import get_model

    with tempfile.TemporaryDirectory(prefix="lmms-bench-") as folder:
        os.environ.setdefault("JANUS_EVAL_CACHE", str(Path(folder) / "cache"))
        _, include = write_local_tasks(Path(folder), repeat=args.repeat)
        model_class = get_model("janus", force_simple=args.interface == "simple")
        model = model_class(pretrained=args.pretrained, chat_template=args.chat_template, device=args.device)
        evaluate(model, include, limit=2)  # warm-up: model weights, datasets' cache, lmms-eval's task index
        runs = {}
        for batch_size in (args.batch_size, 1):
            model.batch_size_per_call = batch_size
            runs[batch_size] = evaluate(model, include)
        (wall_b, inside_b, answers_b), (wall_1, inside_1, answers_1) = runs[args.batch_size], runs[1]
        requests = sum(len(answers) for answers in answers_b.values())
        same = answers_b == answers_1
        print(f"lmms-eval {', '.join(TASKS)}: {requests} requests, model {args.pretrained}, {args.interface} interface")
        print(f"batch size {args.batch_size}: evaluation {wall_b:.2f} s, model calls {inside_b:.2f} s")
        print(f"batch size 1: evaluation {wall_1:.2f} s, model calls {inside_1:.2f} s")
        print(f"speed-up: evaluation {wall_1 / wall_b:.2f}x, model calls {inside_1 / inside_b:.2f}x")
        print(f"identical answers: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
