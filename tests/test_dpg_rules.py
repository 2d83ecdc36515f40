"""DPG-Bench's official scoring rules on hand-worked items (janus_eval.rules.dpg_bench, dpg_summary)."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from janus_eval.errors import UserError
from janus_eval.rules.dpg_bench import (
    CSV_COLUMNS,
    DpgRules,
    ItemQuestions,
    QuestionRow,
    category_l1,
    category_l2,
    group_questions,
    item_questions,
    read_question_rows,
    score_image,
    score_tile,
)
from janus_eval.rules.dpg_summary import DpgMetric

OFFICIAL = DpgRules()


def _item(*questions: tuple[int, tuple[int, ...], str], item_id: str = "x", start: int = 1) -> ItemQuestions:
    """An item from (proposition id, parents, tuple) in CSV order, its rows starting at data row `start`."""
    rows = [QuestionRow(start + n, item_id, qid, parents, tuple_text, f"q{qid}?")
            for n, (qid, parents, tuple_text) in enumerate(questions)]  # fmt: skip
    item = item_questions(rows)
    assert item is not None
    return item


def test_only_the_exact_string_yes_scores() -> None:
    item = _item(*[(qid, (0,), "entity - whole (a)") for qid in range(1, 6)])
    tile = score_tile(item, {1: "yes", 2: "Yes", 3: "yes.", 4: " yes", 5: "no"})
    assert tile.raw == {1: 1.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0} and tile.score == pytest.approx(0.2)


def test_csv_order_lets_a_child_escape_the_official_cascade() -> None:
    # CSV order: 3 (child of 2), 1, 2 (child of 1), 4 (child of 2); proposition 1 answered no
    item = _item((3, (2,), "attribute - color (b)"), (1, (0,), "entity - whole (a)"), (2, (1,), "entity - whole (b)"),
                 (4, (2,), "relation - spatial (b, a)"))  # fmt: skip
    answers = {1: "no", 2: "yes", 3: "yes", 4: "yes"}
    official = score_tile(item, answers, "official")
    # 3 is read while 2 still holds its raw 1 and keeps it; 2 is zeroed by 1; 4 sees the zeroed 2
    assert official.scores == {3: 1.0, 1: 0.0, 2: 0.0, 4: 0.0} and official.score == 0.25
    # DSG reads the unmodified answers: 4's parent 2 said yes
    dsg = score_tile(item, answers, "dsg")
    assert dsg.scores == {3: 1.0, 1: 0.0, 2: 0.0, 4: 1.0} and dsg.score == 0.5
    assert official.raw == dsg.raw == {3: 1.0, 1: 0.0, 2: 1.0, 4: 1.0}


def test_a_missing_parent_drops_the_image_unless_an_earlier_parent_said_no() -> None:
    item = _item((2, (0,), "entity - whole (b)"), (3, (2, 1), "relation - spatial (b, a)"))  # 1 does not exist
    dropped = score_image(item, [{2: "yes", 3: "yes"}], OFFICIAL)
    assert dropped.score is None and dropped.categories == [] and "proposition 1" in (dropped.dropped or "")
    # the parent list stops at its first parent that scored 0, before reaching the missing one (official)
    kept = score_image(item, [{2: "no", 3: "yes"}], OFFICIAL)
    assert kept.dropped is None and kept.score == 0.0
    # a later tile can raise too: the whole image is dropped
    assert score_image(item, [{2: "no", 3: "yes"}, {2: "yes", 3: "yes"}], OFFICIAL).score is None


def test_the_first_row_skip_and_its_option() -> None:
    rows = [QuestionRow(0, "a", 1, (0,), "entity - whole (cat)", "Is there a cat?"),
            QuestionRow(1, "a", 2, (1,), "attribute - color (cat, red)", "Is the cat red?"),
            QuestionRow(2, "b", 1, (0,), "entity - whole (dog)", "Is there a dog?")]  # fmt: skip
    skipped = item_questions(rows[:2])
    assert skipped is not None and list(skipped.questions) == [2]
    image = score_image(skipped, [{2: "yes"}] * 4, OFFICIAL)
    assert image.score is None and "depends on proposition 1" in (image.dropped or "")  # official KeyError
    kept = item_questions(rows[:2], skip_first_row=False)
    assert kept is not None and list(kept.questions) == [1, 2]
    assert score_image(kept, [{1: "yes", 2: "yes"}] * 4, DpgRules(skip_first_row=False)).score == 1.0
    assert item_questions(rows[:1]) is None  # nothing left: the official lookup finds no questions
    assert score_image(None, [], OFFICIAL).dropped == "no questions for this item in the CSV"
    assert group_questions(rows)["a"].questions == skipped.questions


def test_categories_use_the_last_tile_raw_or_every_tile_with_the_dependency_rule() -> None:
    item = _item((1, (0,), "entity - whole (cat)"), (2, (1,), "attribute - color (cat, red)"))
    tiles = [{1: "yes", 2: "yes"}, {1: "no", 2: "yes"}]
    official = score_image(item, tiles, OFFICIAL)
    assert official.score == 0.5  # tiles 1.0 and 0.0 (2 zeroed by its parent)
    assert official.categories == [("entity - whole", 0.0), ("attribute - color", 1.0)]  # last tile, raw
    pooled = score_image(item, tiles, DpgRules(categories="all_tiles"))
    assert pooled.categories == [("entity - whole", 1.0), ("attribute - color", 1.0),
                                 ("entity - whole", 0.0), ("attribute - color", 0.0)]  # fmt: skip
    metric, other = DpgMetric(), DpgMetric()
    metric.add({"score": official.score, "categories": official.categories})
    other.add({"score": None, "dropped": "KeyError"})
    other.add({"failed": True})
    metric.merge(other)
    result = metric.compute()
    assert (result["overall"], result["entity"], result["attribute"], result["global"]) == (50.0, 0.0, 100.0, None)
    assert result["l2/attribute - color"] == 100.0
    assert (result["scored_images"], result["dropped_images"], result["failed_generations"]) == (1, 1, 1)


def test_category_names_follow_the_official_splits() -> None:
    assert category_l2("entity - whole (cat)") == "entity - whole" and category_l1("entity - whole") == "entity"
    assert category_l2("global (morning light)") == "global" and category_l1("global") == "global"
    assert category_l1(category_l2("other - text (sign, 'A-B')")) == "other"


def test_one_items_rows_group_as_the_official_loop_groups_the_whole_csv() -> None:
    generator = random.Random(7)
    for _ in range(200):
        rows = []
        for position in range(generator.randint(1, 12)):
            item = generator.choice("abc")
            rows.append(QuestionRow(position, item, generator.randint(1, 4), (0,), "entity - whole (x)", f"q{position}"))
        for skip in (True, False):
            whole = group_questions(rows, skip_first_row=skip)
            for item in "abc":
                alone = item_questions([row for row in rows if row.item_id == item], skip_first_row=skip)
                assert (alone.questions, alone.dependency) == (whole[item].questions, whole[item].dependency) \
                    if alone is not None else item not in whole  # fmt: skip


def test_a_non_contiguous_item_keeps_its_last_run() -> None:
    rows = [QuestionRow(1, "a", 1, (0,), "t (x)", "first"), QuestionRow(2, "b", 1, (0,), "t (x)", "other"),
            QuestionRow(3, "a", 2, (0,), "t (x)", "second")]  # fmt: skip
    item = item_questions([rows[0], rows[2]])
    assert item is not None and item.questions == {2: "second"}


def _csv(path: Path, rows: list[dict[str, object]]) -> Path:
    pd.DataFrame(rows, columns=list(CSV_COLUMNS)).to_csv(path, index=False)
    return path


def test_the_csv_is_read_as_the_official_script_reads_it(tmp_path: Path) -> None:
    base = {"text": "a prompt", "keywords": "", "category_broad": "entity", "category_detailed": "whole"}
    rows = [{**base, "item_id": "12", "proposition_id": 1, "dependency": "0", "tuple": "entity - whole (a)",
             "question_natural_language": "Is there a?"},
            {**base, "item_id": "12", "proposition_id": 2, "dependency": "1,3", "tuple": "relation - spatial (a, b)",
             "question_natural_language": "Is a, left of b?"}]  # fmt: skip
    read = read_question_rows(_csv(tmp_path / "dpg.csv", rows))
    assert [(r.row, r.item_id, r.proposition_id, r.dependency) for r in read] == [(0, "12", 1, (0,)), (1, "12", 2, (1, 3))]
    assert read[1].question == "Is a, left of b?"
    with pytest.raises(UserError, match="data row 1: proposition_id and dependency"):
        read_question_rows(_csv(tmp_path / "bad.csv", [{**rows[0], "dependency": "one"}]))
    (tmp_path / "short.csv").write_text("item_id,tuple\nx,y\n")
    with pytest.raises(UserError, match="lacks the DPG-Bench column"):
        read_question_rows(tmp_path / "short.csv")
