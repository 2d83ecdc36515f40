"""DPG-Bench: 1,065 dense prompts; each 2x2 grid of generated images is scored by a VQA model answering the
prompt's yes/no questions, with the official rules of TencentQQGYLab/ELLA `dpg_bench/compute_dpg_bench.py`.

Images are saved as the official layout expects (`<dir>/<item_id>.png`, one 2x2 grid of tiles per prompt), so the
official script can score the same folder; changing a scoring option scores the saved grids again without
generating them again, and the VQA answers are cached, so no question is asked twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import Field

from janus_eval.api import (
    FileSource,
    ImageOutput,
    ImageRequest,
    Output,
    RemoteFile,
    Sample,
    SampleError,
    SampleScore,
    Task,
    TaskOptions,
)
from janus_eval.data.image_grid import crop_tiles, make_grid
from janus_eval.errors import UserError
from janus_eval.prompts.image_requests import ImageGenerationOptions, cfg_weight_card, image_request
from janus_eval.registry import register_task
from janus_eval.rules.dpg_bench import (
    L1_CATEGORIES,
    DpgRules,
    ItemQuestions,
    QuestionRow,
    item_questions,
    read_question_rows,
    score_image,
)
from janus_eval.rules.dpg_summary import DpgMetric
from janus_eval.scorers.device import scorer_device
from janus_eval.scorers.judge.client import endpoint_of
from janus_eval.scorers.judge_vqa import JUDGE_VQA_DEVIATION, judge_vqa_card

ELLA_COMMIT = "3c228f1dc6c4d3cad0a47493816151a419f14db3"
ELLA_BASE = f"https://raw.githubusercontent.com/TencentQQGYLab/ELLA/{ELLA_COMMIT}/dpg_bench"
# dpg_bench.csv is over 4 MiB; no copy was at hand to compute its sha256, so it is verified by the git blob id
# that ELLA's tree at ELLA_COMMIT names it by (`git hash-object dpg_bench.csv`)
CSV_FILE = RemoteFile(
    name="dpg_bench.csv", url=f"{ELLA_BASE}/dpg_bench.csv", git_blob="98457fc9901943f51ff9a30367250fc292533bed"
)
PROMPT_MANIFEST = Path(__file__).with_name("dpg_bench_prompts.json")
ITEM_ID = re.compile(r"[A-Za-z0-9_-]+")
PUBLISHED_COLUMNS: dict[str, dict[str, float]] = {
    "janus-1.3b": {"global": 82.33, "entity": 87.38, "attribute": 87.70, "relation": 85.46, "other": 86.41, "overall": 79.68},
    "janusflow-1.3b": {"global": 87.03, "entity": 87.31, "attribute": 87.39, "relation": 89.79, "other": 88.10, "overall": 80.09},
    "janus-pro-1b": {"global": 87.58, "entity": 88.63, "attribute": 88.17, "relation": 88.98, "other": 88.30, "overall": 82.63},
    "janus-pro-7b": {"global": 86.90, "entity": 88.90, "attribute": 89.40, "relation": 89.32, "other": 89.48, "overall": 84.19},
}  # fmt: skip


@lru_cache(maxsize=1)
def prompt_files() -> tuple[RemoteFile, ...]:
    """The 1,065 prompt files `prompts/<item_id>.txt` at their canonical URLs, with their sha256 (from the manifest
    shipped beside this module, computed from ELLA's files at ELLA_COMMIT)."""
    manifest = json.loads(PROMPT_MANIFEST.read_text(encoding="utf-8"))
    if manifest["commit"] != ELLA_COMMIT:
        raise RuntimeError(f"{PROMPT_MANIFEST.name} is for ELLA {manifest['commit']}, not {ELLA_COMMIT}")
    return tuple(
        RemoteFile(name=f"prompts/{item}.txt", url=f"{ELLA_BASE}/prompts/{item}.txt", sha256=digest)
        for item, digest in sorted(manifest["sha256"].items())
    )


class DpgBenchOptions(ImageGenerationOptions):
    """DPG-Bench options: generation (cfg_weight, temperature, tiles per grid), the VQA scorer, then the scoring
    variants (defaults: the official rules)."""

    images_per_prompt: int = Field(default=4, ge=1, le=4, description="tiles per grid (official: 4, a 2x2 grid)")
    vqa_model: Literal["auto", "mplug", "blip", "tiny", "judge"] = Field(
        default="auto",
        description="VQA backend: mplug (official, needs modelscope), blip (transformers, not comparable), tiny "
        "(random, tests), judge (the --judge-model vision endpoint, not comparable); auto = mplug, or tiny on the "
        "built-in demo rows",
    )
    vqa_weights: str | None = Field(default=None, description="VQA weights: hub id or local folder")
    vqa_batch_size: int = Field(
        default=16, ge=1, description="(tile, question) pairs per VQA call (judge: a batch's pairs, --judge-concurrency at once)"
    )
    scorer_device: str = Field(default="auto", description="device of the VQA model (auto: the local GPU)")
    dependency_rule: Literal["official", "dsg"] = Field(
        default="official",
        description="official: zeroes cascade in place in CSV order; dsg: parents' unmodified answers decide",
    )
    categories: Literal["official", "all_tiles"] = Field(
        default="official",
        description="official: last tile's raw answers, no dependency rule; all_tiles: every tile, dependency rule",
    )
    skip_first_row: bool = Field(default=True, description="skip the CSV's first data row, as the official script does")

    def rules(self) -> DpgRules:
        return DpgRules(dependency=self.dependency_rule, categories=self.categories, skip_first_row=self.skip_first_row)


def _row_view(row: QuestionRow) -> dict[str, Any]:
    return {"row": row.row, "item_id": row.item_id, "proposition_id": row.proposition_id,
            "dependency": list(row.dependency), "tuple": row.tuple, "question": row.question}  # fmt: skip


def _question_row(view: Mapping[str, Any]) -> QuestionRow:
    return QuestionRow(int(view["row"]), str(view["item_id"]), int(view["proposition_id"]),
                       tuple(int(d) for d in view["dependency"]), str(view["tuple"]), str(view["question"]))  # fmt: skip


class DpgScore(SampleScore):
    """One prompt's 2x2 grid as the official rules score it: its image score (None when the official script would
    drop the image, or when the generation failed), why it would be dropped, each tile's answers and scores, and
    the (L2 category, question score) pairs of the category columns. Its value is the image score."""

    item_id: str
    failed: bool = False
    score: float | None = None
    dropped: str | None = None
    tiles: list[dict[str, Any]] = []
    categories: list[list[Any]] = []
    has_scale: ClassVar[bool] = True

    @property
    def value(self) -> float | None:
        return self.score


@register_task
class DpgBenchTask(Task):
    """DPG-Bench with the official VQA scoring rules; one 2x2 grid `<item_id>.png` per prompt."""

    name = "dpg_bench"
    version = 1
    request_kind = "image"
    description = "DPG-Bench dense prompts: VQA yes/no questions per tile of a 2x2 grid; headline overall (percent)"
    Options: ClassVar[type[TaskOptions]] = DpgBenchOptions
    Score: ClassVar[type[SampleScore]] = DpgScore
    published: ClassVar[dict[str, float]] = {key: columns["overall"] for key, columns in PUBLISHED_COLUMNS.items()}
    published_source = (
        "DPG-Bench Overall: Janus-Pro Tab. 5 (arXiv 2501.17811; Janus, Janus-Pro-1B/-7B), JanusFlow Tab. 3 "
        "(arXiv 2411.07975, the 384 model); the papers' sampling settings were never published"
    )
    comparable_options = frozenset({"vqa_model", "vqa_weights", "vqa_batch_size", "scorer_device"})

    options: DpgBenchOptions

    def __init__(self, options: TaskOptions | None = None, seed: int = 0, demo: bool = False) -> None:
        super().__init__(options, seed=seed, demo=demo)
        self._vqa: Any = None
        self._items: dict[str, ItemQuestions | None] = {}

    @property
    def vqa_name(self) -> str:
        """The VQA backend in use (`auto` resolved: tiny on demo rows, else the official mPLUG)."""
        if self.options.vqa_model == "auto":
            return "tiny" if self.demo else "mplug"
        return self.options.vqa_model

    @property
    def headline(self) -> str:
        return "overall"

    def data_source(self) -> FileSource:
        return FileSource(files=(CSV_FILE, *prompt_files()), columns=("item_id", "prompt", "questions"))

    def rows_from_files(self, paths: Mapping[str, Path]) -> list[dict[str, Any]]:
        """One row per prompt file (item id order), with the CSV rows of its item (CSV order)."""
        by_item: dict[str, list[dict[str, Any]]] = {}
        for row in read_question_rows(paths[CSV_FILE.name]):
            by_item.setdefault(row.item_id, []).append(_row_view(row))
        rows = []
        for name, path in paths.items():
            if name == CSV_FILE.name:
                continue
            item = Path(name).stem
            # two of the official files carry a leading space or a trailing newline
            rows.append({"item_id": item, "prompt": path.read_text(encoding="utf-8").strip(),
                         "questions": by_item.get(item, [])})  # fmt: skip
        return sorted(rows, key=lambda row: row["item_id"])

    def published_numbers(self) -> dict[str, float]:
        """Only the official mPLUG measures what the papers measured, and only under the official rules."""
        if self.vqa_name != "mplug":
            return {}
        return dict(self.published)

    # ------------------------------------------------------------------------- samples and requests

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """One sample per prompt; its id is the item id (the image's file name), its target the item's questions
        as the official script keeps them under the options (None: the script finds none)."""
        samples = []
        skip = self.options.skip_first_row
        for index, row in enumerate(rows):
            item_id = str(row["item_id"])
            item = item_questions([_question_row(view) for view in row["questions"]], skip_first_row=skip)
            self._items[item_id] = item
            target = None if item is None else {
                "questions": {str(q): text for q, text in item.questions.items()},
                "dependency": {str(q): list(parents) for q, parents in item.dependency.items()},
                "tuples": {str(q): text for q, text in item.tuples.items()},
            }  # fmt: skip
            samples.append(Sample(id=item_id, index=index, target=target,
                                  meta={"questions": 0 if item is None else len(item.questions)}, row=row))  # fmt: skip
        return samples

    def build_request(self, sample: Sample) -> ImageRequest:
        if not ITEM_ID.fullmatch(sample.id):
            raise SampleError(f"item id {sample.id!r} cannot name an image file (letters, digits, '_', '-')")
        return image_request(self.name, sample, self.seed, self.options)

    def image_generation_key(self) -> dict[str, Any]:
        """Only these options change the images; the scoring options rescore the saved grids."""
        return self.options.generation_key()

    def image_files(self, sample: Sample, images: Sequence[Image.Image]) -> dict[str, Image.Image]:
        """The official layout: one file `<item_id>.png` (the README: the image's file name is the prompt's), a
        2x2 grid of the tiles in crop order (a single image as it is)."""
        return {f"{sample.id}.png": images[0] if len(images) == 1 else make_grid(images)}

    # ------------------------------------------------------------------------- scoring

    def vqa(self) -> Any:
        """The VQA scorer behind its answer cache, built on first use (UserError when it cannot be had)."""
        if self._vqa is None:
            from janus_eval.scorers.vqa import build_vqa

            if self.options.vqa_model == "auto" and self.demo and self.options.vqa_weights is not None:
                raise UserError(
                    "on the built-in demo rows dpg_bench.vqa_model=auto uses the tiny random VQA model; set "
                    "--task-option dpg_bench.vqa_model=mplug (or blip) to use dpg_bench.vqa_weights"
                )
            device = scorer_device(self.options.scorer_device)
            self._vqa = build_vqa(
                self.vqa_name, self.options.vqa_weights, device, self.options.vqa_batch_size, self.judge_settings
            )
        return self._vqa

    def tiles(self, output: ImageOutput) -> list[Image.Image]:
        """The tiles the official script crops from the saved file: freshly generated images go through the same
        grid first, and a grid read back from disk is cropped."""
        count = self.options.images_per_prompt
        images = output.images
        if len(images) == count:
            return [images[0].convert("RGB")] if count == 1 else crop_tiles(make_grid(images), count)
        if len(images) == 1:
            return crop_tiles(images[0].convert("RGB"), count)
        raise ValueError(f"expected {count} images or one grid, got {len(images)} images")

    def _item(self, sample: Sample) -> ItemQuestions | None:
        if sample.id not in self._items:
            rows = [_question_row(view) for view in sample.row.get("questions", [])]
            self._items[sample.id] = item_questions(rows, skip_first_row=self.options.skip_first_row)
        return self._items[sample.id]

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        return self.score_batch([sample], [output])[0]

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        """The VQA answers every question on every tile of the batch in one go (cached), then the official rules
        per grid. Score: item_id, failed, score (the image score, None when dropped), dropped (why the official
        script would drop the image), tiles [{answers, raw, scores, score}] and categories [[L2, score]]; a
        backend that reduces its replies (judge) adds each tile's `replies` and the sample's usage (`judge`)."""
        rules = self.options.rules()
        plans: list[tuple[ItemQuestions, list[Image.Image]] | None] = []
        pairs: list[tuple[Image.Image, str]] = []
        for sample, output in zip(samples, outputs):
            item = self._item(sample)
            if output is None or item is None:
                plans.append(None)
                continue
            if not isinstance(output, ImageOutput):
                raise TypeError(f"{self.name} scores image outputs, got {type(output).__name__}")
            tiles = self.tiles(output)
            plans.append((item, tiles))
            pairs.extend((tile, question) for tile in tiles for question in item.questions.values())
        vqa = self.vqa()
        answers = iter(vqa.answer(pairs) if pairs else [])
        reduces = vqa.backend.reduction is not None
        scores = []
        for sample, output, plan in zip(samples, outputs, plans):
            if output is None:
                scores.append({"item_id": sample.id, "failed": True, "score": None, "dropped": None, "tiles": [],
                               "categories": []})  # fmt: skip
                continue
            item = plan[0] if plan is not None else None
            found = [{qid: next(answers) for qid in item.questions} for _ in plan[1]] if plan else []
            tile_answers = [{qid: one.answer for qid, one in given.items()} for given in found]
            scored = score_image(item, tile_answers, rules)
            tiles = []
            for number, given in enumerate(tile_answers):
                tile: dict[str, Any] = {"answers": {str(q): a for q, a in given.items()}}
                if reduces:
                    tile["replies"] = {str(q): one.reply for q, one in found[number].items()}
                if number < len(scored.tiles):
                    done = scored.tiles[number]
                    tile.update(raw={str(q): v for q, v in done.raw.items()},
                                scores={str(q): v for q, v in done.scores.items()}, score=done.score)  # fmt: skip
                tiles.append(tile)
            scores.append({"item_id": sample.id, "failed": False, "score": scored.score, "dropped": scored.dropped,
                           "tiles": tiles, "categories": [list(pair) for pair in scored.categories]})  # fmt: skip
            usage = vqa.backend.sample_usage([one for given in found for one in given.values()])
            if usage is not None:
                scores[-1]["judge"] = usage
        return scores

    def new_metric(self) -> DpgMetric:
        return DpgMetric()

    def scorer_info(self) -> dict[str, Any]:
        return {"vqa": self.vqa().describe(), "rules": self.options.rules().model_dump()}

    def scoring_usage(self, scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What the VQA answers behind the recorded scores cost (the judge backend's requests, tokens, price)."""
        return self.vqa().backend.usage_summary([s["judge"] for s in scores if isinstance(s.get("judge"), Mapping)])

    def result_notes(self, metrics: Mapping[str, float | None]) -> list[str]:
        """Which numbers the official script would print, and how far the run is from the published protocol."""
        notes = []
        dropped = int(metrics.get("dropped_images") or 0)
        if dropped:
            notes.append(
                f"{dropped} image(s) are left out of every mean, as the official script drops them ('Failed "
                "filename': an item without questions, or a question whose parent is missing, e.g. after the "
                "first-row skip); see `dropped` in the samples file"
            )
        failed = int(metrics.get("failed_generations") or 0)
        if failed:
            notes.append(f"{failed} failed generation(s) have no grid and are left out of every mean")
        if self.vqa_name == "judge" and self.judge_settings is not None:
            notes.append(
                f"scored with {self.judge_settings.model!r} at {endpoint_of(self.judge_settings)} (an OpenAI-compatible "
                "vision endpoint), its replies reduced to their first word, not with the official mPLUG-large: not "
                "comparable with the published DPG-Bench numbers"
            )
        elif self.vqa_name != "mplug":
            notes.append(
                f"scored with the {self.vqa_name!r} VQA model, not the official mPLUG-large: not comparable with "
                "the published DPG-Bench numbers"
            )
        options = self.options
        if options.dependency_rule != "official":
            notes.append("overall uses DSG's dependency rule (unmodified parent answers), not the official cascade")
        if options.categories != "official":
            notes.append("category columns pool every tile after the dependency rule, not the official last raw tile")
        if not options.skip_first_row:
            notes.append("the CSV's first data row is kept (the official script skips it)")
        if options.images_per_prompt != 4:
            notes.append(f"{options.images_per_prompt} tile(s) per grid; the published protocol uses 4 (a 2x2 grid)")
        return notes

    # ------------------------------------------------------------------------- protocol card

    def protocol_card(self) -> dict[str, Any]:
        options = self.options
        card = {
            "task": self.name,
            "dataset": {
                "csv": {"name": CSV_FILE.name, "url": CSV_FILE.url, "git_blob": CSV_FILE.git_blob},
                "prompts": f"{len(prompt_files())} files {ELLA_BASE}/prompts/<item_id>.txt, each sha256-verified",
                "notes": "TencentQQGYLab/ELLA dpg_bench at " + ELLA_COMMIT + "; prompt = file text without "
                "surrounding whitespace",
            },
            "generation": {
                "images_per_prompt": options.images_per_prompt,
                "cfg_weight": cfg_weight_card(options.cfg_weight),
                "temperature": options.temperature,
                "seeds": "per image: sha256(base seed, prompt, image index) -> 63-bit seed (--seed sets the base)",
                "layout": "<task>_images/<item_id>.png: one 2x2 grid of the model's tiles (Janus: 768x768 of 384-px "
                "tiles), top-left, top-right, bottom-left, bottom-right; the official dist_eval.sh scores it with "
                "RESOLUTION = the tile size and PIC_NUM = images_per_prompt",
            },
            "scoring": {
                "vqa_model": self.vqa_name,
                "vqa_weights": options.vqa_weights,
                "rules": options.rules().model_dump(),
                "rule_module": "janus_eval.rules.dpg_bench (compute_dpg_bench.py of ELLA " + ELLA_COMMIT[:7] + ")",
                "yes": "a question scores 1 only when the answer is exactly 'yes'",
                "tile": "mean over the item's questions after the dependency rule",
                "image": "mean over its tiles",
            },
            "metrics": {
                "overall": "mean image score x 100 (the official 'DPG-Bench score'; headline)",
                **{l1: f"pooled (image, question) scores of the {l1} L2 categories x 100" for l1 in L1_CATEGORIES},
                "l2/<category>": "pooled (image, question) scores of one L2 category (tuple text before '(') x 100",
            },
            "official_quirks": [
                "the dependency rule zeroes a question whose parent scored 0 in place, in CSV order: a zero cascades "
                "to later rows only, so a child listed before its zeroed parent keeps its score "
                "(dependency_rule=dsg: parents' unmodified answers, DSG's calc_vqa_score)",
                "category columns use the last tile's raw answers without the dependency rule, so they are not on "
                "Overall's footing and sit above it (categories=all_tiles: every tile, dependency rule)",
                "prepare_dpg_data skips the CSV's first data row; a question depending on it raises KeyError and the "
                "image is dropped from every mean (skip_first_row=false keeps the row)",
                "images whose item has no questions, or whose scoring raises, are dropped silently by the official "
                "script; here they are counted (dropped_images) and noted",
                "a parent list is read up to its first parent that scored 0, so a missing parent after it raises "
                "nothing (official)",
                "an item whose CSV rows are not contiguous keeps only its last run of rows (official grouping)",
                "the official script looks items up by the image's file stem (text); pandas reads a CSV whose item "
                "ids are all numbers as integers, which no stem matches: not reproduced (the official CSV mixes "
                "numeric and named ids, so its column is text)",
                "with several processes the official script gathers category scores while iterating a set whose "
                "order differs per process (string hashing), which can mix categories across ranks; this harness "
                "computes the single-process result",
                "the results .txt files the official script writes into the image folder, and any other file "
                "there, are tried as images and fail ('Failed filename'); janus-eval's marker file "
                "`.janus-eval-images.json` in the folder fails the same harmless way",
            ],
            "deviations": [
                "the papers' sampling settings (CFG, temperature, seeds) are unpublished; defaults follow Janus' "
                "generation_inference.py (CFG 5, temperature 1) and DPG-Bench's README (4 images per prompt)",
                "the VQA answers are cached per (tile digest, question, scorer identity): the same deterministic "
                "answers, asked once",
                "a failed generation is excluded and noted (the official script would find no file)",
            ],
            "published_columns": PUBLISHED_COLUMNS,
            "options": options.model_dump(),
        }
        if self.vqa_name == "judge":
            card["scoring"]["vqa_endpoint"] = judge_vqa_card(self.judge_settings)
            card["deviations"].append(JUDGE_VQA_DEVIATION)
        return card

    def demo_rows(self) -> list[dict[str, Any]]:
        """Four items with dependency chains in the CSV schema; the first CSV row belongs to `demo_street`, whose
        children then lose their parent under the official first-row skip."""
        by_item: dict[str, list[dict[str, Any]]] = {}
        for position, (item, qid, parents, tuple_text, question) in enumerate(_DEMO_QUESTIONS):
            view = {"row": position, "item_id": item, "proposition_id": qid, "dependency": list(parents),
                    "tuple": tuple_text, "question": question}  # fmt: skip
            by_item.setdefault(item, []).append(view)
        return [{"item_id": item, "prompt": prompt, "questions": by_item[item]} for item, prompt in _DEMO_PROMPTS]


_DEMO_PROMPTS: tuple[tuple[str, str], ...] = (
    ("demo_cat", "A ginger cat sleeps on a wooden table beside a blue ceramic mug, under warm morning light."),
    ("demo_garden", "Two red tulips stand in a small clay pot on a sunny windowsill, a white curtain behind them."),
    ("demo_sign", "A green street sign reading 'MAIN ST' hangs above a black lamp post on a foggy evening."),
    ("demo_street", "A yellow taxi waits at a crosswalk while a man in a grey coat crosses in front of it."),
)
_DEMO_QUESTIONS: tuple[tuple[str, int, tuple[int, ...], str, str], ...] = (
    ("demo_street", 1, (0,), "entity - whole (taxi)", "Is there a taxi?"),
    ("demo_street", 2, (0,), "entity - whole (man)", "Is there a man?"),
    ("demo_street", 3, (1,), "attribute - color (taxi, yellow)", "Is the taxi yellow?"),
    ("demo_street", 4, (1, 2), "relation - spatial (man, taxi, in front of)", "Is the man in front of the taxi?"),
    ("demo_cat", 1, (0,), "entity - whole (cat)", "Is there a cat?"),
    ("demo_cat", 2, (0,), "entity - whole (table)", "Is there a table?"),
    ("demo_cat", 3, (1,), "attribute - color (cat, ginger)", "Is the cat ginger?"),
    ("demo_cat", 4, (1,), "entity - state (cat, sleep)", "Is the cat sleeping?"),
    ("demo_cat", 5, (1, 2), "relation - spatial (cat, table, on)", "Is the cat on the table?"),
    ("demo_cat", 6, (0,), "global (morning light)", "Is the light warm morning light?"),
    ("demo_garden", 3, (2,), "attribute - color (tulips, red)", "Are the tulips red?"),
    ("demo_garden", 1, (0,), "entity - whole (pot)", "Is there a pot?"),
    ("demo_garden", 2, (1,), "entity - whole (tulips)", "Are there tulips?"),
    ("demo_garden", 4, (0,), "other - count (tulips, ==2)", "Are there two tulips?"),
    ("demo_sign", 1, (0,), "entity - whole (sign)", "Is there a sign?"),
    ("demo_sign", 2, (1,), "other - text (sign, MAIN ST)", "Does the sign read 'MAIN ST'?"),
    ("demo_sign", 3, (1,), "attribute - color (sign, green)", "Is the sign green?"),
)  # fmt: skip
