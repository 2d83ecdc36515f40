"""DPG-Bench's official scoring rules, reusable without any model.

A reproduction of `dpg_bench/compute_dpg_bench.py` of TencentQQGYLab/ELLA at 3c228f1: how `prepare_dpg_data`
groups the questions of `dpg_bench.csv`, how `compute_dpg_one_sample` scores the tiles of a 2x2 grid, and
which (category, score) pairs `main` pools. The official behaviour is the default; the named options
(`DpgRules`) switch off its inconsistencies one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from janus_eval.errors import UserError

CSV_COLUMNS = (
    "item_id", "text", "keywords", "proposition_id", "dependency", "category_broad", "category_detailed", "tuple",
    "question_natural_language",
)  # fmt: skip
# The L1 categories the papers' columns show (Global, Entity, Attribute, Relation, Other), in that order.
L1_CATEGORIES = ("global", "entity", "attribute", "relation", "other")
# the official script's only yes: `float(answer == 'yes')`, an exact, case-sensitive match
YES = "yes"


class DpgRules(BaseModel):
    """The scoring variants; the defaults are the official script's behaviour.

    dependency: `official` zeroes a question whose parent scored 0 in place, in CSV order, so a zero cascades to
        later children only; `dsg` checks the parents' unmodified answers (DSG's own `calc_vqa_score`).
    categories: `official` pools the last tile's raw answers, without the dependency rule; `all_tiles` pools
        every tile's scores after the dependency rule (the footing of Overall).
    skip_first_row: the official `prepare_dpg_data` skips the CSV's first data row (`if i == 0: continue`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dependency: Literal["official", "dsg"] = "official"
    categories: Literal["official", "all_tiles"] = "official"
    skip_first_row: bool = True


# ----------------------------------------------------------------------------- questions


@dataclass(frozen=True)
class QuestionRow:
    """One data row of dpg_bench.csv: a question about an item, with its 0-based position among the data rows."""

    row: int
    item_id: str
    proposition_id: int
    dependency: tuple[int, ...]
    tuple: str
    question: str


def parse_dependency(value: str) -> tuple[int, ...]:
    """The parent proposition ids of a `dependency` cell (`"1,2"` -> (1, 2); `"0"` = no parent), as the official
    `int(d.strip())` over `split(',')` reads them; ValueError for anything else."""
    return tuple(int(part.strip()) for part in str(value).split(","))


@dataclass
class ItemQuestions:
    """An item's questions as the official script keeps them: per proposition id, in CSV order."""

    item_id: str
    questions: dict[int, str] = field(default_factory=dict)
    dependency: dict[int, tuple[int, ...]] = field(default_factory=dict)
    tuples: dict[int, str] = field(default_factory=dict)

    def add(self, row: QuestionRow) -> None:
        # a repeated proposition id keeps its first position and takes the later row's values (dict update)
        self.questions[row.proposition_id] = row.question
        self.dependency[row.proposition_id] = row.dependency
        self.tuples[row.proposition_id] = row.tuple


def group_questions(rows: Iterable[QuestionRow], skip_first_row: bool = True) -> dict[str, ItemQuestions]:
    """Every item's questions, read as the official `prepare_dpg_data` reads the CSV's rows in order.

    Official quirks kept: the first data row is skipped (`skip_first_row`); a row starts a fresh entry for its
    item whenever the row before it (among those read) belongs to another item, so an item whose rows are not
    contiguous keeps only its last run of rows.
    """
    grouped: dict[str, ItemQuestions] = {}
    previous: str | None = None
    for row in rows:
        if skip_first_row and row.row == 0:
            continue
        if row.item_id != previous:
            grouped[row.item_id] = ItemQuestions(row.item_id)
        grouped[row.item_id].add(row)
        previous = row.item_id
    return grouped


def item_questions(rows: Sequence[QuestionRow], skip_first_row: bool = True) -> ItemQuestions | None:
    """One item's questions from its own rows (in CSV order), equal to `group_questions` over the whole CSV.

    A gap in the rows' positions means another item's rows came between them, which restarts the item's entry
    in the official loop; None when no row is left (the official lookup then finds nothing).
    """
    kept = [row for row in rows if not (skip_first_row and row.row == 0)]
    if not kept:
        return None
    start = len(kept) - 1
    while start > 0 and kept[start - 1].row == kept[start].row - 1:
        start -= 1
    entry = ItemQuestions(kept[0].item_id)
    for row in kept[start:]:
        entry.add(row)
    return entry


def read_question_rows(path: Path) -> list[QuestionRow]:
    """The data rows of a dpg_bench.csv, read with pandas as the official script reads it.

    Raises:
        UserError: a column is missing or a cell cannot be read the way the official script reads it.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise UserError(f"cannot read {path} as a CSV file: {exc}") from None
    missing = [column for column in CSV_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks the DPG-Bench column(s) {', '.join(missing)} (expected {', '.join(CSV_COLUMNS)})")
    rows = []
    for position, line in enumerate(frame.itertuples(index=False)):
        where = f"{path}: data row {position + 1}"
        try:
            proposition, dependency = int(line.proposition_id), parse_dependency(line.dependency)
        except (TypeError, ValueError):
            raise UserError(f"{where}: proposition_id and dependency must be integers ('1', '1,2')") from None
        if not isinstance(line.tuple, str) or not isinstance(line.question_natural_language, str):
            raise UserError(f"{where}: tuple and question_natural_language must be text")
        rows.append(QuestionRow(position, str(line.item_id), proposition, dependency, line.tuple,
                                line.question_natural_language))  # fmt: skip
    return rows


def category_l2(tuple_text: str) -> str:
    """The detailed (L2) category of a question: its tuple up to the first '(' (`entity - whole (cat)` ->
    `entity - whole`), as the official `split('(')[0].strip()`."""
    return tuple_text.split("(")[0].strip()


def category_l1(l2: str) -> str:
    """The broad (L1) category of an L2 category (`entity - whole` -> `entity`), as the official
    `split('-')[0].strip()`."""
    return l2.split("-")[0].strip()


# ----------------------------------------------------------------------------- scoring


class MissingParent(Exception):
    """A question depends on a proposition the item does not have (the official script's KeyError)."""

    def __init__(self, qid: int, parent: int) -> None:
        super().__init__(f"question {qid} depends on proposition {parent}, which the item does not have")
        self.qid = qid
        self.parent = parent


@dataclass
class TileScore:
    """One tile: the VQA answers, their raw yes-scores, the scores after the dependency rule, and their mean."""

    answers: dict[int, str]
    raw: dict[int, float]
    scores: dict[int, float]
    score: float


@dataclass
class ImageScore:
    """One grid: its tiles, its score (the mean of the tile scores), the (L2 category, score) pairs its
    questions add to the category means, and why the official script would drop it (None: it is scored)."""

    tiles: list[TileScore]
    score: float | None
    categories: list[tuple[str, float]]
    dropped: str | None = None


def score_tile(item: ItemQuestions, answers: Mapping[int, str], dependency: str = "official") -> TileScore:
    """Scores one tile's answers (`answers[qid]` for every question of the item).

    Raises:
        MissingParent: a parent that is checked is not among the item's questions (the official KeyError; only
            raised when reached: a parent list stops at its first parent that scored 0).
    """
    raw = {qid: float(answers[qid] == YES) for qid in item.questions}
    scores = dict(raw)
    # official: the loop reads and zeroes the same dict, so a zero cascades in iteration (CSV) order only;
    # DSG's calc_vqa_score reads the unmodified scores instead
    checked = scores if dependency == "official" else raw
    for qid, parents in item.dependency.items():
        for parent in parents:
            if parent == 0:
                continue
            if parent not in checked:
                raise MissingParent(qid, parent)
            if checked[parent] == 0:
                scores[qid] = 0.0
                break
    return TileScore(dict(answers), raw, scores, sum(scores.values()) / len(scores))


def score_image(item: ItemQuestions | None, tile_answers: Sequence[Mapping[int, str]], rules: DpgRules) -> ImageScore:
    """Scores a grid's tiles (answers per tile, in tile order) as `compute_dpg_one_sample` and `main` do."""
    if item is None or not item.questions:
        # official: question_dict.get(key) is None, `value['qid2tuple']` raises TypeError -> "Failed filename"
        return ImageScore([], None, [], dropped="no questions for this item in the CSV")
    if not tile_answers:
        raise ValueError("an image has at least one tile")
    tiles: list[TileScore] = []
    for answers in tile_answers:
        try:
            tiles.append(score_tile(item, answers, rules.dependency))
        except MissingParent as missing:
            # official: the KeyError leaves compute_dpg_one_sample; main prints "Failed filename" and skips the
            # image, which then counts in no mean at all
            return ImageScore(tiles, None, [], dropped=str(missing))
    score = sum(tile.score for tile in tiles) / len(tiles)
    if rules.categories == "official":
        # official: compute_dpg_one_sample returns qid2scores_orig of the last tile (raw, no dependency rule)
        last = tiles[-1].raw
        pairs = [(category_l2(item.tuples[qid]), last[qid]) for qid in item.tuples]
    else:
        pairs = [(category_l2(item.tuples[qid]), tile.scores[qid]) for tile in tiles for qid in item.tuples]
    return ImageScore(tiles, score, pairs)
