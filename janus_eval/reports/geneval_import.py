"""`janus-eval geneval-import RESULTS.jsonl`: our GenEval summary from a results file of the official evaluator.

Teams that already ran djghosh13/geneval's `evaluate_images.py` (for instance with the mmdet checkpoint on
a GPU box) get the same columns as a janus-eval run: the six task scores, overall, and the share of
correct images and prompts, plus the official script's own summary text for a side-by-side check.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from janus_eval.data.file_writes import OUTPUT_FILE_REMEDY, write_atomically
from janus_eval.data.hashing import file_sha256
from janus_eval.errors import UserError
from janus_eval.rules.geneval import TASK_TAGS
from janus_eval.rules.geneval_summary import (
    official_summary_table,
    read_official_results,
    render_official_summary,
    summarise,
)

IMPORT_SCHEMA = "janus-eval.geneval-import/1"
COLUMNS: tuple[str, ...] = (*TASK_TAGS, "overall", "correct_images", "correct_prompts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="janus-eval geneval-import",
        description="Summarise a results file written by GenEval's official evaluate_images.py.",
    )
    parser.add_argument("results", type=Path, help="the official evaluator's --outfile (JSON lines)")
    parser.add_argument("--output", type=Path, help="also write the summary as JSON to this file")
    return parser


def main(argv: Sequence[str]) -> int:
    """Prints (and optionally writes) the summary; returns the exit code (UserError is handled by the caller)."""
    args = build_parser().parse_args(list(argv))
    verdicts = read_official_results(args.results)
    if not verdicts:
        raise UserError(f"{args.results} holds no scored image")
    unknown = sorted({v.tag for v in verdicts} - set(TASK_TAGS))
    if unknown:
        raise UserError(f"{args.results}: unknown GenEval tag(s) {', '.join(unknown)} (expected {', '.join(TASK_TAGS)})")
    scores = summarise(verdicts)
    table = official_summary_table(verdicts)
    print(render_official_summary(table))
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    print("| " + " | ".join("n/a" if scores[c] is None else f"{scores[c]:.4f}" for c in COLUMNS) + " |")
    missing = [tag for tag in TASK_TAGS if scores[tag] is None]
    if missing:
        print(f"\nnote: no images of {', '.join(missing)}: overall is the mean of the tasks present only")
    if args.output is not None:
        summary = {
            "schema_version": IMPORT_SCHEMA,
            "source": {"path": str(args.results.resolve()), "sha256": file_sha256(args.results)},
            "metrics": scores,
            "official_summary": table,
        }
        write_atomically(args.output, json.dumps(summary, indent=2) + "\n", "the GenEval summary", OUTPUT_FILE_REMEDY)
    return 0
