"""`janus-eval dpg-import RESULTS.txt`: our DPG-Bench summary from the output of the official `compute_dpg_bench.py`.

The results file holds one line per scored image (`<path>, <tile scores...>, <image score>`) and the printed
summary (L1 and L2 category scores, `DPG-Bench score`). We recompute Overall from the image lines, set it beside
the printed numbers in the papers' columns, and list the items the run has no line for (the images the script
dropped). With `--details` (the `_detail.txt` beside it, one answer per line) and `--csv` (dpg_bench.csv), every
number is recomputed from the recorded answers by `janus_eval.rules.dpg_bench`, under the official rules or a
named variant, so the two implementations can be compared answer for answer.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from janus_eval.data.hashing import file_sha256
from janus_eval.errors import UserError
from janus_eval.rules.dpg_bench import L1_CATEGORIES, DpgRules, item_questions, read_question_rows, score_image
from janus_eval.rules.dpg_summary import DpgMetric

IMPORT_SCHEMA = "janus-eval.dpg-import/1"
COLUMNS = (*L1_CATEGORIES, "overall")
SUMMARY_SECTIONS = {"L1 category scores:": "l1", "L2 category scores:": "l2"}
DETAIL_LINE = re.compile(r"^(?P<path>.*?), \((?P<box>\d+, \d+, \d+, \d+)\), (?P<rest>.*)$")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="janus-eval dpg-import",
        description="Summarise the results file of DPG-Bench's official compute_dpg_bench.py.",
    )
    parser.add_argument("results", type=Path, help="the official dpg-bench_<time>_results.txt")
    parser.add_argument("--details", type=Path, help="its _detail.txt (the answers), to rescore with our rules")
    parser.add_argument("--csv", type=Path, help="dpg_bench.csv (needed with --details)")
    parser.add_argument("--dependency-rule", choices=["official", "dsg"], default="official")
    parser.add_argument("--categories", choices=["official", "all_tiles"], default="official")
    parser.add_argument("--keep-first-row", action="store_true", help="do not skip the CSV's first data row")
    parser.add_argument("--output", type=Path, help="also write the summary as JSON to this file")
    return parser


def read_results(path: Path) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """(image path -> [tile scores..., image score], printed summary {l1, l2, overall, model}) of a results file.

    Raises:
        UserError: the file cannot be read or a line is neither an image line nor part of the summary.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    images: dict[str, list[float]] = {}
    printed: dict[str, Any] = {"l1": {}, "l2": {}, "overall": None, "model": None}
    section: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("Model: "):
            printed["model"], section = line[len("Model: "):], None
        elif line in SUMMARY_SECTIONS:
            section = SUMMARY_SECTIONS[line]
        elif line.startswith("\t") and section is not None:
            name, _, value = line.strip().rpartition(": ")
            printed[section][name] = _number(value, path, number)
        elif line.startswith("DPG-Bench score: "):
            printed["overall"] = _number(line[len("DPG-Bench score: "):], path, number)
        elif line.startswith(("Image path: ", "Save results to: ")):
            section = None
        else:
            parts = line.rsplit(", ")
            values = []
            while len(parts) > 1 and _is_number(parts[-1]):
                values.insert(0, float(parts.pop()))
            if len(values) < 2:
                raise UserError(f"{path}:{number}: neither an image line (<path>, <tile scores>, <score>) nor summary")
            images[", ".join(parts)] = values
    return images, printed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str, path: Path, number: int) -> float:
    if not _is_number(text):
        raise UserError(f"{path}:{number}: {text!r} is not a number")
    return float(text)


def item_id_of(image_path: str) -> str:
    """The official key of an image: its file name up to the first '.'."""
    return Path(image_path).name.split(".")[0]


def read_details(path: Path) -> dict[str, dict[str, list[str]]]:
    """image path -> crop box -> answers in the order they were asked (the item's question order)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    answers: dict[str, dict[str, list[str]]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        match = DETAIL_LINE.match(line)
        if match is None or ", " not in match["rest"]:
            raise UserError(f"{path}:{number}: not a detail line (<path>, (<crop box>), <question>, <answer>)")
        answer = match["rest"].rsplit(", ", 1)[1]
        answers.setdefault(match["path"], {}).setdefault(match["box"], []).append(answer)
    return answers


def rescore(details: dict[str, dict[str, list[str]]], csv: Path, rules: DpgRules) -> tuple[DpgMetric, list[str]]:
    """Every image of the detail file scored again from its answers; also the images our rules drop."""
    by_item: dict[str, list[Any]] = {}
    for row in read_question_rows(csv):
        by_item.setdefault(row.item_id, []).append(row)
    metric, dropped = DpgMetric(), []
    for image_path, tiles in sorted(details.items()):
        item = item_questions(by_item.get(item_id_of(image_path), []), skip_first_row=rules.skip_first_row)
        if item is None:
            dropped.append(item_id_of(image_path))
            metric.add({"score": None})
            continue
        qids = list(item.questions)
        tile_answers = []
        for box, given in tiles.items():
            if len(given) != len(qids):
                raise UserError(
                    f"{image_path} tile ({box}) has {len(given)} answers, its item {len(qids)} questions under "
                    "these rules (the first-row option must match the run's)"
                )
            tile_answers.append(dict(zip(qids, given)))
        scored = score_image(item, tile_answers, rules)
        if scored.dropped is not None:
            dropped.append(item_id_of(image_path))
        metric.add({"score": scored.score, "categories": scored.categories})
    return metric, dropped


def main(argv: Sequence[str]) -> int:
    """Prints (and optionally writes) the summary; returns the exit code (UserError is handled by the caller)."""
    args = build_parser().parse_args(list(argv))
    images, printed = read_results(args.results)
    if not images:
        raise UserError(f"{args.results} holds no scored image line")
    scores = [values[-1] for values in images.values()]
    recomputed = 100.0 * math.fsum(scores) / len(scores)
    columns = {**{l1: printed["l1"].get(l1) for l1 in L1_CATEGORIES}, "overall": printed["overall"]}
    summary: dict[str, Any] = {
        "schema_version": IMPORT_SCHEMA,
        "source": {"path": str(args.results.resolve()), "sha256": file_sha256(args.results)},
        "images": len(images),
        "official": {"columns": columns, "l2": printed["l2"], "model": printed["model"]},
        "overall_from_image_lines": recomputed,
    }
    print(f"{len(images)} scored images in {args.results}")
    print("| source | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    print("| official summary | " + " | ".join(_fmt(columns[c]) for c in COLUMNS) + " |")
    print(f"| from the image lines | {' | '.join('' for _ in L1_CATEGORIES)} | {recomputed:.2f} |")
    if args.details is not None:
        if args.csv is None:
            raise UserError("--details needs --csv (the dpg_bench.csv the run used) to know each answer's question")
        rules = DpgRules(dependency=args.dependency_rule, categories=args.categories, skip_first_row=not args.keep_first_row)
        metric, dropped = rescore(read_details(args.details), args.csv, rules)
        ours = metric.compute()
        summary["rescored"] = {"rules": rules.model_dump(), "metrics": ours, "dropped_items": dropped,
                               "details_sha256": file_sha256(args.details)}  # fmt: skip
        print("| rescored by janus-eval | " + " | ".join(_fmt(ours[c]) for c in COLUMNS) + " |")
        if dropped:
            print(f"\nnote: {len(dropped)} image(s) dropped under these rules (first: {dropped[0]})")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
