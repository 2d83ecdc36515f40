"""MMMU: official and lmms-eval answer parsing, open-answer matching, prompts and image layout, metrics, data."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from janus_eval.tasks.mme import MmeOptions
from janus_eval.tasks.mmmu import IMAGE_COLUMNS, MmmuMetric, MmmuOptions, MmmuTask
from PIL import Image
from pydantic import ValidationError

from janus_eval.api import ModelSpec, SampleError, TextOutput
from janus_eval.data.image_io import encode_png
from janus_eval.data.loading import load_task_data
from janus_eval.engine.runner import RunConfig, evaluate
from janus_eval.errors import UserError
from janus_eval.rules.mmmu import (
    DISCIPLINES,
    eval_open,
    parse_gold,
    parse_multi_choice,
    parse_open_response,
    score_response,
    subject_of,
)
from tests.helpers import read_json, read_jsonl, write_parquet

MCQ_END = "\n\nAnswer with the option's letter from the given choices directly."
COLOURS = ("red", "green", "blue")
RGB = {"red": (255, 0, 0), "green": (0, 128, 0), "blue": (0, 0, 255)}


def make_row(
    sample_id: str = "validation_Art_1",
    question: str = "What is shown in <image 1>?",
    options: str = "['a cat', 'a dog']",
    answer: str = "A",
    question_type: str = "multiple-choice",
    images: tuple[str | None, ...] = ("red",),
) -> dict[str, Any]:
    """A row in the lmms-lab/MMMU schema with solid-colour images (None = empty column)."""
    pictures = [encode_png(Image.new("RGB", (8, 8), colour)) if colour else None for colour in images]
    pictures += [None] * (len(IMAGE_COLUMNS) - len(pictures))
    return {
        "id": sample_id,
        "question": question,
        "options": options,
        "explanation": "",
        **dict(zip(IMAGE_COLUMNS, pictures)),
        "img_type": "['Diagrams']",
        "answer": answer,
        "topic_difficulty": "Easy",
        "question_type": question_type,
        "subfield": "Drawing",
    }


def content_of(task: MmmuTask, row: dict[str, Any]) -> list[Any]:
    """The user turn with images shown by colour name."""
    request = task.build_request(task.samples([row])[0])
    assert len(request.messages) == 1 and request.messages[0].role == "user"
    names = {rgb: name for name, rgb in RGB.items()}
    return [names[p.getpixel((0, 0))] if isinstance(p, Image.Image) else p for p in request.messages[0].content]


def choice(response: str, options: list[str], variant: Any = "official") -> tuple[str | None, tuple[str, ...], str]:
    parsed = parse_multi_choice(response, options, random.Random(0), variant)
    assert not parsed.random_fallback
    return parsed.pred, parsed.candidates, parsed.rule


FOUR = ["cat", "dog", "bird", "fish"]


# ----------------------------------------------------------------------------- multiple choice, official rules


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("(B)", ("B", ("B",), "parenthesised")),
        ("The answer is (C).", ("C", ("C",), "parenthesised")),
        ("B.", ("B", ("B",), "spaced_letter")),  # edge '.' stripped, then padded: " B "
        (" B ", ("B", ("B",), "spaced_letter")),
        ("'D'", ("D", ("D",), "spaced_letter")),
        ("I am quite sure that it is a dog", ("B", ("B",), "option_text")),  # 8 words, no letter
    ],
)
def test_official_choice_passes(response: str, expected: tuple[str, tuple[str, ...], str]) -> None:
    assert choice(response, FOUR) == expected


def test_brackets_win_over_bare_letters_and_the_last_candidate_wins() -> None:
    assert choice("(A) looks right but (C) is right", FOUR) == ("C", ("A", "C"), "parenthesised")
    assert choice("(C) is wrong, (A) is right", FOUR) == ("A", ("A", "C"), "parenthesised")
    assert choice("Not (A), maybe B", FOUR) == ("A", ("A",), "parenthesised")  # B never looked at
    assert choice("A or B", FOUR) == ("B", ("A", "B"), "spaced_letter")


def test_option_text_needs_more_than_five_words() -> None:
    assert choice("It is clearly a big dog", FOUR)[0] == "B"  # 6 words
    assert parse_multi_choice("It is clearly a dog", FOUR, random.Random(0)).random_fallback  # 5 words


def test_a_letter_in_an_option_text_is_read_as_that_letter() -> None:
    # official order: bare letters before option texts, so "Vitamin C" (option B) reads as C (Iron)
    options = ["Vitamin A", "Vitamin C", "Iron"]
    assert choice("Scurvy comes from a lack of Vitamin C", options) == ("C", ("C",), "spaced_letter")
    # with no such letter, the option text decides: "Plan C" is option B (only A and B exist)
    assert choice("The best of all is going with Plan C", ["Plan B", "Plan C"]) == ("B", ("B",), "option_text")


def test_option_texts_rank_by_where_they_start_last() -> None:
    # "red" occurs last inside "dark red", after the start of "dark red": A wins over the longer B
    assert choice("The colour of the shape is dark red", ["red", "dark red", "blue"]) == ("A", ("A", "B"), "option_text")


def test_per_sample_fallback_draws_a_seeded_random_letter() -> None:
    task = MmmuTask(MmmuOptions(random_fallback="per_sample"))
    samples = task.samples([make_row(f"validation_Art_{n}", options="['w', 'x', 'y', 'z']") for n in range(1, 31)])
    scores = [task.score(sample, TextOutput("I cannot tell.")) for sample in samples]
    assert all(s["random_fallback"] and s["rule"] == "random" and s["candidates"] == [] for s in scores)
    assert {s["pred"] for s in scores} <= {"A", "B", "C", "D"}
    assert len({s["pred"] for s in scores}) > 1  # drawn per sample, not one letter for all
    # the same sample gets the same letter in another task instance, whatever the scoring order
    again = [MmmuTask(task.options).score(sample, TextOutput("I cannot tell.")) for sample in reversed(samples)]
    assert [s["pred"] for s in reversed(again)] == [s["pred"] for s in scores]
    assert sum(s["correct"] for s in scores) == sum(s["pred"] == "A" for s in scores)
    metric = task.new_metric()
    for sample, score in zip(samples, scores):
        metric.update(sample, score)
    assert metric.compute()["random_fallbacks"] == 30


def _official_evaluator_letters(rows: list[dict[str, Any]], responses: dict[str, str]) -> dict[str, str]:
    """What MMMU's own scripts pick: random.seed(42) once, then subjects in CAT_SHORT2LONG order, each subject's
    questions in dataset order, parse_multi_choice_response drawing from Python's global stream."""
    from janus_eval.rules.mmmu import OFFICIAL_SUBJECT_ORDER

    state = random.getstate()
    try:
        random.seed(42)
        picked = {}
        for subject in OFFICIAL_SUBJECT_ORDER:
            for row in rows:
                if subject_of(row["id"]) == subject:
                    options = json.loads(row["options"].replace("'", '"'))
                    picked[row["id"]] = parse_multi_choice(responses[row["id"]], options, random).pred  # type: ignore[arg-type]
        return picked
    finally:
        random.setstate(state)


def _stream_rows() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Questions of four subjects interleaved (dataset order is not subject order), 2 to 5 options, about
    half of the answers unparsable."""
    generator = random.Random(7)
    rows, responses = [], {}
    for number in range(1, 13):
        for subject in ("Physics", "Art", "Math", "Accounting"):
            count = generator.choice([2, 3, 4, 5])
            options = "[" + ", ".join(f"'option {k}'" for k in range(count)) + "]"
            sample_id = f"validation_{subject}_{number}"
            rows.append(make_row(sample_id, options=options, answer="ABCDE"[generator.randrange(count)]))
            responses[sample_id] = "I cannot tell." if generator.random() < 0.5 else "(B)"
    return rows, responses


def test_stream_fallback_reproduces_the_official_evaluators_letters() -> None:
    task = MmmuTask()
    rows, responses = _stream_rows()
    samples = task.samples(rows)
    scores = [task.score(sample, TextOutput(responses[sample.id])) for sample in samples]
    fallen = [score for score in scores if score["random_fallback"]]
    assert fallen and all(score["pred"] is None and score["stream_fallback"]["seed"] == 42 for score in fallen)
    metric = task.new_metric()
    for sample, score in zip(samples, scores):
        metric.update(sample, score)
    official = _official_evaluator_letters(rows, responses)
    from janus_eval.rules.mmmu import draw_stream

    drawn = draw_stream(metric.pending)
    by_order = {(item.order[1]): letter for item, letter, _ in drawn}
    assert {samples[index].id: letter for index, letter in by_order.items()} == {
        sample_id: letter for sample_id, letter in official.items() if responses[sample_id] != "(B)"
    }
    right = sum(official[row["id"]] == row["answer"] for row in rows)
    result = metric.compute()
    assert result["accuracy"] == pytest.approx(100 * right / len(rows))
    assert result["random_fallbacks"] == result["random_fallbacks_drawn_at_aggregation"] == len(fallen)
    per_sample = MmmuTask(MmmuOptions(random_fallback="per_sample"))
    letters = [per_sample.score(sample, TextOutput(responses[sample.id]))["pred"] for sample in samples]
    assert letters != [official[sample.id] for sample in samples]  # the named option is another stream


def test_stream_fallback_does_not_depend_on_shards_or_scoring_order() -> None:
    task = MmmuTask()
    rows, responses = _stream_rows()
    samples = task.samples(rows)
    scored = {sample.id: task.score(sample, TextOutput(responses[sample.id])) for sample in samples}
    whole = task.new_metric()
    for sample in samples:
        whole.update(sample, scored[sample.id])
    shards = []
    for rank in range(3):  # rank-strided shards, each scored in reverse, merged in another order
        shard = task.new_metric()
        for sample in reversed(samples[rank::3]):
            shard.update(sample, scored[sample.id])
        shards.append(shard)
    merged = task.new_metric()
    for shard in (shards[2], shards[0], shards[1]):
        merged.merge(shard)
    assert merged.compute() == whole.compute()


# ----------------------------------------------------------------------------- multiple choice, lmms-eval variant


def test_lmms_eval_variant_differs_from_the_official_rules() -> None:
    # "X." pass: official finds no " B " in " B.\nThe figure shows it " (5 words) and guesses
    assert parse_multi_choice("B.\nThe figure shows it", FOUR, random.Random(0)).random_fallback
    assert choice("B.\nThe figure shows it", FOUR, "lmms_eval") == ("B", ("B",), "letter_period")
    # "X " without a leading space matches the end of a word
    assert parse_multi_choice("PCB is used", FOUR, random.Random(0)).random_fallback
    assert choice("PCB is used", FOUR, "lmms_eval") == ("B", ("B",), "letter_space")
    # candidates of the "X " pass are still ranked by " X ": none occurs, so the first letter wins
    assert choice("PCB ABC", FOUR, "lmms_eval") == ("B", ("B", "C"), "letter_space")
    assert choice("AB C", FOUR, "lmms_eval") == ("C", ("B", "C"), "letter_space")  # " C " occurs, " B " not


def test_parsing_option_switches_the_variant() -> None:
    sample = MmmuTask().samples([make_row(options="['w', 'x', 'y', 'z']", answer="B")])[0]
    assert MmmuTask().score(sample, TextOutput("PCB is used"))["random_fallback"] is True
    lmms = MmmuTask(MmmuOptions(parsing="lmms_eval")).score(sample, TextOutput("PCB is used"))
    assert (lmms["pred"], lmms["correct"], lmms["random_fallback"]) == ("B", True, False)


# ----------------------------------------------------------------------------- open questions


def test_open_numbers_with_commas_and_units() -> None:
    candidates = parse_open_response("The total cost is 1,000 dollars.")
    assert set(candidates) == {"1,000 dollars", 1000.0, 0.0}  # "000" is a number of its own too
    assert eval_open("1000", candidates) and eval_open("1,000", candidates)
    assert eval_open("6.5", parse_open_response("6.5 cm")) and eval_open("6.50", parse_open_response("6.5 cm"))
    assert not eval_open("65", parse_open_response("6.5 cm"))


def test_open_key_response_and_several_numbers() -> None:
    assert parse_open_response("First 3 + 4 = 7") == [7.0]  # the tail after "=" in the last line
    between = parse_open_response("It is between 3 and 5")
    assert eval_open("5", between) and eval_open("3", between) and not eval_open("4", between)
    # each line gives its key part: 12 and 24 are both candidates
    assert set(parse_open_response("Step 1: the area is 12\nSo the answer is 24")) == {12.0, 24.0}


def test_open_percent_and_rounding() -> None:
    candidates = parse_open_response("The growth rate is 25%")
    assert candidates == ["25%", 25.0]
    assert eval_open("25", candidates) and eval_open("25%", candidates) and not eval_open("0.25", candidates)
    assert eval_open("3.429", parse_open_response("3.4286"))  # both round to 3.43


def test_open_text_answers_by_containment() -> None:
    assert eval_open("Transformation", parse_open_response("The process is called transformation of the cells"))
    assert not eval_open("Transformation", parse_open_response("Transduction"))
    # a one-letter gold answer must stand alone: " c" or "c "
    assert eval_open("C", parse_open_response("C")) and not eval_open("C", parse_open_response("because"))


def test_gold_lists() -> None:
    assert parse_gold("['$MgS$', 'MgS']") == ["$MgS$", "MgS"]
    assert parse_gold("['24/7', '3.429', '3.43]") == "['24/7', '3.429', '3.43]"  # not a literal: one string
    assert parse_gold("MgS") == "MgS"
    assert eval_open(["24/7", "3.429"], parse_open_response("The ratio is 24/7"))
    assert eval_open(["24/7", "3.429"], parse_open_response("about 3.43"))
    official = score_response("MgS", sample_id="x", question_type="open", options=[], answer="['$MgS$', 'MgS']")
    lmms = score_response(
        "MgS", sample_id="x", question_type="open", options=[], answer="['$MgS$', 'MgS']", variant="lmms_eval"
    )
    assert official["correct"] is True and lmms["correct"] is False  # lmms-eval compares the raw string


def test_open_scores_are_strict_json() -> None:
    score = score_response("The value is inf", sample_id="x", question_type="open", options=[], answer="5")
    assert score == {"question_type": "open", "pred": ["inf"], "random_fallback": False, "correct": False}
    json.dumps(score, allow_nan=False)


# ----------------------------------------------------------------------------- prompts and images


def test_default_options_and_bad_options() -> None:
    assert MmmuTask().options.model_dump() == {
        "prompt": "paper", "parsing": "official", "max_new_tokens": 512, "random_fallback": "stream",
        "judge_matching": False,
    }
    for bad in ({"prompt": "vlmevalkit"}, {"parsing": "exact"}, {"max_new_tokens": 0}, {"split": "dev"}):
        with pytest.raises(ValidationError):
            MmmuOptions(**bad)
    with pytest.raises(TypeError):
        MmmuTask(MmeOptions())


def test_paper_prompt_puts_all_images_first_in_number_order() -> None:
    row = make_row(question="<image 3> and <image 1> differ from <image 2>. Which is red?",
                   options="['<image 1>', '<image 2>', '<image 3>']", images=COLOURS)  # fmt: skip
    assert content_of(MmmuTask(), row) == [
        "red", "green", "blue",
        "\n<image 3> and <image 1> differ from <image 2>. Which is red?\nA. <image 1>\nB. <image 2>\nC. <image 3>"
        + MCQ_END,
    ]  # fmt: skip


def test_image_2_before_image_1() -> None:
    row = make_row(question="Compare <image 2> with <image 1>.", options="[]", answer="same", question_type="open",
                   images=("red", "green"))  # fmt: skip
    assert content_of(MmmuTask(), row) == [
        "red", "green", "\nCompare <image 2> with <image 1>.\nAnswer the question directly. "
    ]  # fmt: skip
    # lmms-eval fills the references in text order with the images in number order: image 1 comes first
    assert content_of(MmmuTask(MmmuOptions(prompt="lmms_eval")), row) == [
        "Compare", "red", "\nwith", "green", "\n.\n\nAnswer the question using a single word or phrase.",
    ]  # fmt: skip


def test_lmms_eval_prompt_interleaves_and_keeps_only_referenced_images() -> None:
    row = make_row(question="<image 1> shows a pet. Which?", options="['cat', 'dog']", images=("red", "green"))
    assert content_of(MmmuTask(MmmuOptions(prompt="lmms_eval")), row) == [
        "red", "\nshows a pet. Which?\nA. cat\nB. dog" + MCQ_END,
    ]  # fmt: skip
    # the paper sends every non-empty image column, referenced or not
    assert content_of(MmmuTask(), row)[:2] == ["red", "green"]


def test_request_settings() -> None:
    task = MmmuTask(MmmuOptions(max_new_tokens=16))
    request = task.build_request(task.samples([make_row()])[0])
    assert (request.task, request.sample_id, request.index) == ("mmmu", "validation_Art_1", 0)
    assert (request.max_new_tokens, request.temperature) == (16, 0.0)


@pytest.mark.parametrize("prompt", ["paper", "lmms_eval"])
def test_missing_referenced_image_fails_the_sample(prompt: Any) -> None:
    task = MmmuTask(MmmuOptions(prompt=prompt))
    row = make_row(question="Compare <image 1> and <image 2>.", images=("red", None))
    with pytest.raises(SampleError, match="<image 2> but image_2 is empty"):
        task.build_request(task.samples([row])[0])


@pytest.mark.parametrize("options", ["['a', 'b'", "{'a': 1}", "[]", None])
def test_bad_options_fail_the_sample_only(options: Any) -> None:
    task = MmmuTask()
    sample = task.samples([make_row(options=options)])[0]  # loading does not fail
    with pytest.raises(SampleError, match="options"):
        task.build_request(sample)
    assert task.score(sample, None) == {
        "question_type": "multiple-choice", "pred": None, "random_fallback": False, "correct": False,
    }  # fmt: skip


# ----------------------------------------------------------------------------- samples


def test_samples_subjects_and_disciplines() -> None:
    assert subject_of("validation_Art_Theory_3") == "Art_Theory" and subject_of("Art_Theory") is None
    samples = MmmuTask().samples([make_row("validation_Art_Theory_3"), make_row("dev_Public_Health_12")])
    assert [s.id for s in samples] == ["validation_Art_Theory_3", "dev_Public_Health_12"]
    assert samples[1].meta == {
        "subject": "Public_Health", "discipline": "Health and Medicine", "question_type": "multiple-choice",
        "subfield": "Drawing", "options": ["a cat", "a dog"],
    }  # fmt: skip
    assert sum(len(subjects) for subjects in DISCIPLINES.values()) == 30


@pytest.mark.parametrize(
    ("row", "message"),
    [(make_row("validation_Astrology_1"), "30 MMMU subjects"), (make_row(answer=""), "no answer")],
)
def test_rows_that_cannot_be_scored_are_user_errors(row: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        MmmuTask().samples([row])


# ----------------------------------------------------------------------------- metric


def scored_metric(plan: list[tuple[str, str, bool]]) -> MmmuMetric:
    """plan: (id, question type, right?) -> a metric over those scores."""
    task = MmmuTask()
    metric = task.new_metric()
    for sample_id, question_type, right in plan:
        if question_type == "open":
            row = make_row(sample_id, options="[]", answer="42", question_type="open")
            text = "42" if right else "41"
        else:
            row, text = make_row(sample_id, answer="A"), "(A)" if right else "(B)"
        sample = task.samples([row])[0]
        metric.update(sample, task.score(sample, TextOutput(text)))
    return metric


PLAN = [
    ("validation_Art_1", "multiple-choice", True),
    ("validation_Art_2", "multiple-choice", False),
    ("validation_Music_1", "open", True),
    ("validation_Math_1", "multiple-choice", True),
    ("validation_Math_2", "open", False),
    ("validation_Physics_1", "multiple-choice", True),
    ("validation_Physics_2", "multiple-choice", True),
]


def test_metric_by_hand() -> None:
    result = scored_metric(PLAN).compute()
    assert result["accuracy"] == pytest.approx(500 / 7)  # 5 of 7, instance-weighted
    assert (result["count"], result["random_fallbacks"]) == (7, 0)
    assert result["multiple_choice_accuracy"] == pytest.approx(80.0) and result["multiple_choice_count"] == 5
    assert result["open_accuracy"] == pytest.approx(50.0) and result["open_count"] == 2
    assert result["discipline.Art_and_Design.accuracy"] == pytest.approx(200 / 3)  # 2 of 3, not mean(50, 100)
    assert result["discipline.Science.accuracy"] == pytest.approx(75.0)
    assert result["discipline.Science.count"] == 4
    assert result["subject.Art.accuracy"] == 50.0 and result["subject.Physics.accuracy"] == 100.0
    assert "discipline.Business.accuracy" not in result and "subject.Finance.accuracy" not in result


def test_metric_merge_equals_the_whole_and_empty_metric() -> None:
    whole = scored_metric(PLAN).compute()
    first, second = scored_metric(PLAN[:3]), scored_metric(PLAN[3:])
    first.merge(second)
    assert first.compute() == pytest.approx(whole)
    assert MmmuMetric().compute()["accuracy"] is None
    with pytest.raises(TypeError):
        first.merge(object())  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- demo rows, data, card, published


def test_demo_rows_follow_the_hub_schema() -> None:
    task = MmmuTask()
    rows = task.demo_rows()
    hub_columns = ["id", "question", "options", "explanation", *IMAGE_COLUMNS, "img_type", "answer",
                   "topic_difficulty", "question_type", "subfield"]  # fmt: skip
    assert all(list(row) == hub_columns for row in rows)
    assert rows == task.demo_rows()  # deterministic, PNG bytes included
    assert {row["question_type"] for row in rows} == {"multiple-choice", "open"}
    assert {sum(row[c] is not None for c in IMAGE_COLUMNS) for row in rows} == {1, 2, 3}
    assert len({s.meta["discipline"] for s in task.samples(rows)}) == 6


def test_demo_rows_through_local_parquet_and_the_runner(tmp_path: Path) -> None:
    """Demo rows written as hub parquet, loaded, replayed with right answers: every question right; another
    parsing rule rescores the recorded outputs."""
    task = MmmuTask()
    rows = task.demo_rows()
    write_parquet(rows, tmp_path / "data" / "mmmu", split="validation", image_columns=IMAGE_COLUMNS)
    loaded = load_task_data(task, "hub", tmp_path / "data")
    assert loaded.rows[0]["image_2"] is None and loaded.rows[0]["image_1"]["bytes"].startswith(b"\x89PNG")
    answers = {"['1', 'one']": "The difference is one circle"}
    saved = tmp_path / "answers.jsonl"
    saved.write_text("".join(json.dumps({"id": row["id"], "output": answers.get(row["answer"], row["answer"])}) + "\n"
                             for row in rows))  # fmt: skip

    def run(options: dict[str, str]) -> Any:
        config = RunConfig(
            model=ModelSpec(name="predictions", args={"path": str(saved)}),
            tasks=["mmmu"],
            task_options={"mmmu": options},
            data_mode="hub",
            data_dir=tmp_path / "data",
            output_dir=tmp_path / "out",
            show_progress=False,
        )
        (result,) = evaluate(config)
        return result

    first = run({"prompt": "lmms_eval"})
    assert first.metrics["accuracy"] == 100.0 and first.metrics["count"] == len(rows)
    records = read_jsonl(next((tmp_path / "out").glob("*/mmmu.samples.jsonl")))
    assert all(r["score"]["correct"] and not r["failed"] for r in records)
    # lmms-eval's rule compares the list-literal gold answer as one string: that open question turns wrong
    second = run({"prompt": "lmms_eval", "parsing": "lmms_eval"})
    assert (second.counts.generated, second.counts.rescored) == (0, len(rows))
    assert second.metrics["open_accuracy"] == pytest.approx(200 / 3)
    assert read_json(next((tmp_path / "out").glob("*/mmmu.json")))["metrics"] == second.metrics


def test_protocol_card_and_published_numbers() -> None:
    card = MmmuTask(MmmuOptions(parsing="lmms_eval")).protocol_card()
    json.dumps(card)
    assert (card["dataset"]["hf_id"], card["dataset"]["split"]) == ("lmms-lab/MMMU", "validation")
    assert card["prompt"]["system_prompt"] == "" and card["parsing"]["rule"] == "lmms_eval"
    assert any("one stream seeded 42" in d for d in card["deviations"])
    assert "random.Random(0)" in card["parsing"]["random_fallback"]
    assert any("pseudo-MCQ" in d for d in card["deviations"])
    assert MmmuTask.published == {"janus-1.3b": 30.5, "janusflow-1.3b": 29.3, "janus-pro-1b": 36.3, "janus-pro-7b": 41.0}
    assert MmmuTask().headline == "accuracy"
    sample = MmmuTask().samples([make_row("validation_Geography_4")])[0]
    assert MmmuTask().resampling_stratum(sample) == "Geography"



# ----------------------------------------------------------------------------- VLMEvalKit scoring, lmms-eval strip


@pytest.mark.parametrize(
    ("response", "pred", "correct"),
    [
        ("B", "B", True),
        ("The answer is (B).", "B", True),
        ("blue", "B", True),  # the one option text found in the answer
        ("I cannot tell", None, False),  # nothing inferable: wrong, never random
        ("A or B", None, False),  # two letters: nothing inferred
    ],
)
def test_vlmevalkit_multiple_choice(response: str, pred: str | None, correct: bool) -> None:
    score = score_response(response, sample_id="validation_Art_1", question_type="multiple-choice",
                           options=["red", "blue", "green"], answer="B", variant="vlmevalkit")
    assert (score["pred"], score["correct"], score["unmatched"], score["random_fallback"]) == (
        pred, correct, pred is None, False)


@pytest.mark.parametrize(
    ("response", "correct"),
    [
        ("12", True),  # pseudo-MCQ: the gold text "12" is option A's text and occurs in the answer
        ("The value is 12 units", True),
        ("120", True),  # substring match: VLMEvalKit's pseudo-MCQ counts it (official eval_open would not)
        ("7", False),
        ("A", True),  # a bare letter picks the pseudo-option
        ("B", False),
    ],
)
def test_vlmevalkit_open_questions_are_a_pseudo_mcq(response: str, correct: bool) -> None:
    score = score_response(response, sample_id="validation_Math_1", question_type="open", options=[],
                           answer="12", variant="vlmevalkit")
    assert score["correct"] is correct


def test_lmms_eval_strips_the_output_before_parsing() -> None:
    for response in ("A\n", " A\t"):
        score = score_response(response, sample_id="validation_Art_1", question_type="multiple-choice",
                               options=["red", "blue"], answer="A", variant="lmms_eval")
        assert (score["pred"], score["random_fallback"]) == ("A", False)
