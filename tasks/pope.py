"""POPE: object-hallucination yes/no questions on COCO images, in three splits (random, popular, adversarial).

The papers report one POPE number, believed to be F1 on the random split (UNVERIFIED).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from janus_eval.api import DataSource, Sample, TaskOptions
from janus_eval.data.demo_images import DemoShape, demo_image
from janus_eval.data.sample_ids import occurrence_ids
from janus_eval.prompts.yes_no_task import QuestionRule, YesNoOptions, YesNoTask
from janus_eval.registry import register_task
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums
from janus_eval.rules.yes_no import YesNoExtractor, extract_yes_no_exact, extract_yes_no_word_level

POPE_SPLITS: tuple[str, ...] = ("random", "popular", "adversarial")
HEADLINE_SPLIT = "random"


class PopeOptions(YesNoOptions):
    """POPE options; the defaults are the Janus paper protocol (random split)."""

    split: Literal["random", "popular", "adversarial", "all"] = Field(
        default="random", description="which POPE split to evaluate (the paper: random)"
    )


def confusion_metrics(counts: Mapping[tuple[str, str], int], *, unknown_is_negative: bool) -> dict[str, float]:
    """Accuracy, precision, recall, F1, yes ratio and unknown ratio in percent, "yes" = positive.

    `counts` maps (truth yes/no, prediction yes/no/unknown) to a count. With `unknown_is_negative`
    (VLMEvalKit `POPE_rating`) an unknown prediction on a yes question is a false negative; otherwise
    (lmms-eval) only an explicit "no" is. Accuracy is right / all either way; x / 0 is reported as 0.
    """
    total = sum(counts.values())
    tp = counts.get(("yes", "yes"), 0)
    fp = counts.get(("no", "yes"), 0)
    fn = counts.get(("yes", "no"), 0) + (counts.get(("yes", "unknown"), 0) if unknown_is_negative else 0)
    right = tp + counts.get(("no", "no"), 0)
    predicted_yes = sum(n for (_, pred), n in counts.items() if pred == "yes")
    predicted_unknown = sum(n for (_, pred), n in counts.items() if pred == "unknown")

    def percent(part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else 0.0

    precision = percent(tp, tp + fp)
    recall = percent(tp, tp + fn)
    return {
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "accuracy": percent(right, total),
        "precision": precision,
        "recall": recall,
        # % of *predictions* that are yes; lmms-eval's pope_aggregate_yes_ratio counts ground truth
        "yes_ratio": percent(predicted_yes, total),
        "unknown_ratio": percent(predicted_unknown, total),
        "num_samples": float(total),
    }


class PopeMetric(CountingMetric):
    """A confusion table (truth yes/no x prediction yes/no/unknown) per split, as keyless sums.

    Reports the headline split's metrics unprefixed, each split's as `<split>.<metric>` and, when
    several splits are evaluated, the pooled table as `overall.<metric>`.
    """

    def __init__(self, *, unknown_is_negative: bool, headline_split: str, report_overall: bool) -> None:
        super().__init__(
            unknown_is_negative=unknown_is_negative, headline_split=headline_split, report_overall=report_overall
        )
        self.unknown_is_negative = unknown_is_negative
        self.headline_split = headline_split
        self.report_overall = report_overall

    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> dict[Statistic, int]:
        return {("answers", str(sample.meta["split"]), str(sample.target), str(score["pred"])): 1}

    def compute_from(self, sums: Sums) -> dict[str, float]:
        tables: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        for (name, split, truth, pred), count in sums.items():
            if name == "answers" and count:
                tables[split][(truth, pred)] += count

        def rated(table: Mapping[tuple[str, str], int]) -> dict[str, float]:
            return confusion_metrics(table, unknown_is_negative=self.unknown_is_negative)

        result: dict[str, float] = {}
        if tables.get(self.headline_split):
            result.update(rated(tables[self.headline_split]))
        known = [s for s in POPE_SPLITS if s in tables]
        for split in [*known, *sorted(set(tables) - set(known))]:
            result.update({f"{split}.{name}": value for name, value in rated(tables[split]).items()})
        if self.report_overall:
            pooled: Counter[tuple[str, str]] = Counter()
            for table in tables.values():
                pooled.update(table)
            result.update({f"overall.{name}": value for name, value in rated(pooled).items()})
        return result


@register_task
class PopeTask(YesNoTask):
    """POPE with the Janus paper protocol by default (VLMEvalKit `POPE`, random split), lmms-eval's as options."""

    name = "pope"
    version = 1
    description = "POPE object-hallucination yes/no benchmark; headline F1 (%) on the random split"
    Options: ClassVar[type[TaskOptions]] = PopeOptions
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 87.0,
        "janusflow-1.3b": 88.0,
        "janus-pro-1b": 86.2,
        "janus-pro-7b": 87.4,
    }
    published_source = (
        "POPE column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 (arXiv 2411.07975), "
        "Janus-Pro Tab. 3 (arXiv 2501.17811); believed F1 on the random split (UNVERIFIED)"
    )
    question_rules: ClassVar[Mapping[str, QuestionRule]] = {
        # VLMEvalKit Janus.build_prompt removes " Please answer yes or no." for POPE only
        "paper": QuestionRule(drop_answer_hint=True),
        # lmms-eval pope_doc_to_text: question.strip() + suffix, nothing removed
        "lmms_eval": QuestionRule(strip=True),
    }
    extractors: ClassVar[Mapping[str, tuple[YesNoExtractor, str]]] = {
        "word_level": (
            extract_yes_no_word_level,
            (
                "VLMEvalKit YOrN_Extraction: lower-case, VQA punctuation rule, split on whitespace; "
                "'yes' without 'no' -> yes, 'no' without 'yes' -> no, else unknown (no LLM judge)"
            ),
        ),
        "lmms_eval": (
            extract_yes_no_exact,
            "lmms-eval exact match: output.lower().strip() must equal 'yes' or 'no', else unknown",
        ),
    }

    options: PopeOptions
    comparable_options: ClassVar[frozenset[str]] = frozenset({"split"})

    @property
    def headline(self) -> str:
        return "f1"

    @property
    def headline_split(self) -> str:
        """The split whose metrics are reported unprefixed: the chosen one, or random for `all`."""
        return HEADLINE_SPLIT if self.options.split == "all" else self.options.split

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/POPE",
            split="test",
            columns=("id", "question_id", "question", "answer", "image_source", "image", "category"),
            image_columns=("image",),
        )

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """The rows of the chosen split (all rows for `all`) in dataset order; id `{category}/{question_id}`."""
        ids = occurrence_ids(f"{row['category']}/{row['question_id']}" for row in rows)
        return [
            Sample(
                id=sample_id,
                index=index,
                target=self.target_of(row, index),
                meta={"split": str(row["category"])},
                row=row,
            )
            for index, (row, sample_id) in enumerate(zip(rows, ids))
            if self.options.split == "all" or row["category"] == self.options.split
        ]

    def resampling_stratum(self, sample: Sample) -> str:
        return str(sample.meta["split"])

    def published_numbers(self) -> dict[str, float]:
        """The papers' POPE numbers are random-split numbers: they do not apply to popular/adversarial."""
        return dict(self.published) if self.headline_split == HEADLINE_SPLIT else {}

    def new_metric(self) -> PopeMetric:
        return PopeMetric(
            unknown_is_negative=self.options.extraction == "word_level",
            headline_split=self.headline_split,
            report_overall=self.options.split == "all",
        )

    def protocol_card(self) -> dict[str, Any]:
        card = self.base_protocol_card()
        card["dataset"]["split_filter"] = (
            "all rows" if self.options.split == "all" else f"rows with category == {self.options.split!r}"
        )
        card["dataset"]["notes"] = (
            "default config, 9,000 rows = 3,000 per split (column 'category'); lmms-eval <= 0.7.2 reads "
            "lmms-lab/POPE, 0.7.3 lmms-lab-encoder/POPE, VLMEvalKit its own POPE.tsv"
        )
        unknown_rule = (
            "an unknown prediction on a yes question is a false negative (VLMEvalKit POPE_rating: positive iff yes)"
            if self.options.extraction == "word_level"
            else "an unknown prediction is neither TP nor FN (lmms-eval: FN only for an exact 'no')"
        )
        card["metrics"] = {
            "table": "per split, truth yes/no x prediction yes/no/unknown; 'yes' is the positive class",
            "accuracy": "% of questions answered right",
            "precision": "TP / (TP + FP), %",
            "recall": "TP / (TP + FN), %; " + unknown_rule,
            "f1": "2PR / (P + R), %",
            "yes_ratio": "% of predictions that are yes",
            "unknown_ratio": "% of predictions that are neither yes nor no",
            "num_samples": "questions scored",
            "naming": (
                f"unprefixed = the {self.headline_split} split; '<split>.<metric>' per split; "
                "'overall.<metric>' pools all splits (split=all only)"
            ),
            "headline": "f1 of the random split (the papers' POPE column is believed to be F1 x 100 on "
            "the random split: UNVERIFIED)",
        }
        card["deviations"] = [
            "paper: random split only; lmms-eval's 'pope' task pools all three splits (split=all, overall.*)",
            "yes_ratio counts predicted yes; lmms-eval's pope_aggregate_yes_ratio counts ground-truth yes (a bug)",
            "metrics in percent; lmms-eval reports fractions",
            (
                "prompt=lmms_eval still puts '\\n' between image and question (Janus placeholder convention); "
                "lmms-eval itself adds no newline"
            ),
            "max_new_tokens 512 = VLMEvalKit Janus at paper time (now 2048); lmms-eval uses 128",
            "no LLM judge for unknown answers (VLMEvalKit 'exact_matching' mode)",
            "extraction=lmms_eval scores 'Yes.' or 'Yes, there is.' as unknown (lmms-eval exact match)",
        ]
        return card

    def demo_rows(self) -> list[dict[str, Any]]:
        """Four synthetic questions per split (two yes, two no) over three shared pictures (12 rows)."""
        images = {source: demo_image(shapes) for source, shapes in _DEMO_IMAGES.items()}
        rows: list[dict[str, Any]] = []
        for split, questions in _DEMO_QUESTIONS.items():
            for number, (source, shape, answer) in enumerate(questions, start=1):
                rows.append(
                    {
                        "id": str(len(rows)),
                        "question_id": str(number),
                        "question": f"Is there a {shape} in the image?",
                        "answer": answer,
                        "image_source": source,
                        "image": images[source],
                        "category": split,
                    }
                )
        return rows


_DEMO_IMAGES: dict[str, tuple[DemoShape, ...]] = {
    "demo_shapes_1": (("circle", "red"), ("square", "blue")),
    "demo_shapes_2": (("triangle", "green"), ("circle", "orange")),
    "demo_shapes_3": (("square", "purple"), ("triangle", "black")),
}
# split -> (image, object asked about, answer)
_DEMO_QUESTIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "random": (
        ("demo_shapes_1", "circle", "yes"),
        ("demo_shapes_1", "triangle", "no"),
        ("demo_shapes_2", "triangle", "yes"),
        ("demo_shapes_3", "circle", "no"),
    ),
    "popular": (
        ("demo_shapes_2", "circle", "yes"),
        ("demo_shapes_2", "square", "no"),
        ("demo_shapes_3", "square", "yes"),
        ("demo_shapes_1", "triangle", "no"),
    ),
    "adversarial": (
        ("demo_shapes_1", "square", "yes"),
        ("demo_shapes_3", "circle", "no"),
        ("demo_shapes_3", "triangle", "yes"),
        ("demo_shapes_2", "square", "no"),
    ),
}
