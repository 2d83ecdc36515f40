"""MM-Vet grading rules: the graders' prompts, grade parsing, retry schedules and the capability aggregation.

Three graders, each reproduced from its source:

- `official`: the MM-Vet evaluator (yuweihao/MM-Vet acde843, `mm-vet_evaluator.py`, the same prompt and loop
  as `mm-vet_evaluator.ipynb`; the HF Space whyu/MM-Vet_Evaluator the Janus papers name runs this evaluator).
- `vlmevalkit`: VLMEvalKit e8e78f05 `vlmeval/dataset/utils/mmvet.py` (`build_mmvet_gpt4_prompt`, `MMVet_auxeval`).
- `lmms_eval`: lmms-eval 75571cfe `lmms_eval/tasks/mmvet/utils.py` (`MM_VET_PROMPT`, `mmvet_process_results`).

Pure: the judge is reached through an `ask(messages, temperature, max_tokens, draw) -> reply text` callable.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from janus_eval.api import Metric, Sample

GraderName = Literal["official", "vlmevalkit", "lmms_eval"]
Ask = Callable[[list[dict[str, Any]], float, int, int], str]

# The official few-shot grader prompt, byte for byte (mm-vet_evaluator.py `prompt`).
OFFICIAL_PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""
# The official evaluator's second prompt, for every try after an unparsable first reply.
OFFICIAL_RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "

# VLMEvalKit's copy: the same words, wrapped over lines and starting with a newline (build_mmvet_gpt4_prompt).
VLMEVALKIT_PROMPT = """
Compare the ground truth and prediction from AI models, to give a correctness score for the prediction.
<AND> in the ground truth means it is totally right
only when all elements in the ground truth are present in the prediction,
and <OR> means it is totally right when any one element in the ground truth is present in the prediction.
The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right).
Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries
Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes,
while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues
because the names of these countries do not accurately represent their landscapes. |
The meme talks about Iceland and Greenland. It's pointing out that despite their names,
Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries
Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes,
while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues
because the names of these countries do not accurately represent their landscapes. |
The meme is using humor to point out the misleading nature of Iceland's and Greenland's names.
Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow.
The text 'This is why I have trust issues' is a playful way to suggest
that these contradictions can lead to distrust or confusion.
The humor in this meme is derived from the unexpected contrast between the names of the countries
and their actual physical characteristics. | 1.0
"""

# lmms-eval's MM_VET_PROMPT is the official prompt without the blank line before the table, whose header
# reads "gpt_query_prompt" instead of "Question" (official behaviour of lmms-eval, an f-string slip kept as is).
LMMS_EVAL_PROMPT = OFFICIAL_PROMPT.replace("\n\nQuestion | Ground truth", "\ngpt_query_prompt | Ground truth", 1)

CAPABILITIES: tuple[str, ...] = ("rec", "ocr", "know", "gen", "spat", "math")


def spaced_ground_truth(answer: str) -> str:
    """The ground truth as every grader sends it: `<AND>` / `<OR>` with a space on each side."""
    return answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")


# ----------------------------------------------------------------------------- grade parsing


def _in_range(value: float) -> float | None:
    # The official check is `0.0 <= score <= 1.0` only, so float("nan") would pass; NaN is refused here.
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _float(text: str) -> float | None:
    try:
        return _in_range(float(text))
    except ValueError:
        return None


def parse_grade_official(reply: str) -> float | None:
    """Official: `content.split(" ")[0].strip()` as a float in [0, 1] ("0.5 (half)" -> 0.5; a reply starting
    with a space reads as "" and is unparsable, as in the official loop)."""
    return _float(reply.split(" ")[0].strip())


def parse_grade_lmms_eval(reply: str) -> float | None:
    """lmms-eval: the reply stripped (by its judge provider), then the official first-token rule."""
    return _float(reply.strip().split(" ")[0].strip())


def parse_grade_whole(reply: str) -> float | None:
    """VLMEvalKit `float_cvt`: the whole stripped reply as a float in [0, 1] ("0.5 (half)" is unparsable)."""
    return _float(reply.strip())


# ----------------------------------------------------------------------------- graders


@dataclass(frozen=True)
class Grader:
    """One grading protocol: prompt, request settings, tries and how a reply becomes a grade."""

    name: GraderName
    source: str
    template: str
    # the line after the template: question | ground truth | prediction, then this ending
    row_ending: str
    max_tokens: int
    # the tries: (use the retry prompt, temperature); after the last unparsable one the grade is `fallback`
    schedule: tuple[tuple[bool, float], ...]
    parse: Callable[[str], float | None]
    # how often one try asks again, at the same temperature, while the reply is empty
    empty_asks: int
    # an empty reply after those asks ends the grading with `fallback` (instead of counting as unparsable)
    empty_ends: bool
    # the user message's content: a plain string, or a list with one text part (VLMEvalKit's wire form)
    text_parts: bool
    retry_suffix: str = ""
    fallback: float = 0.0

    def prompt(self, question: str, answer: str, prediction: str, retry: bool = False) -> str:
        """The full grading prompt of one sample (`retry`: the official evaluator's second prompt)."""
        text = self.template + "\n" + " | ".join([question, spaced_ground_truth(answer), prediction]) + self.row_ending
        return text + self.retry_suffix if retry else text

    def messages(self, prompt: str) -> list[dict[str, Any]]:
        content: Any = [{"type": "text", "text": prompt}] if self.text_parts else prompt
        return [{"role": "user", "content": content}]

    def identity(self) -> dict[str, Any]:
        """What makes two gradings comparable: grader, source version, prompt digest and every setting."""
        return {
            "grader": self.name,
            "source": self.source,
            "prompt_sha256": hashlib.sha256(self.template.encode()).hexdigest(),
            "row_ending": self.row_ending,
            "retry_suffix": self.retry_suffix,
            "max_tokens": self.max_tokens,
            "schedule": [{"retry_prompt": retry, "temperature": t} for retry, t in self.schedule],
            "parse": self.parse.__name__,
            "empty_asks": self.empty_asks,
            "empty_ends": self.empty_ends,
            "content": "text parts" if self.text_parts else "string",
            "fallback": self.fallback,
        }


GRADERS: dict[str, Grader] = {
    "official": Grader(
        name="official",
        source="yuweihao/MM-Vet@acde843e02dae30047bb456ee4a8ab28dee7e0ae mm-vet_evaluator.py",
        template=OFFICIAL_PROMPT,
        row_ending=" | ",
        max_tokens=3,
        # First the plain prompt at temperature 0; after an unparsable reply the retry prompt at 0, 0.5, 1.0,
        # 1.5; the official loop then sends a sixth request (at 2.0) whose reply it never reads, and gives 0.0.
        schedule=((False, 0.0), (True, 0.0), (True, 0.5), (True, 1.0), (True, 1.5)),
        parse=parse_grade_official,
        empty_asks=1,
        empty_ends=False,
        text_parts=False,
        retry_suffix=OFFICIAL_RETRY_SUFFIX,
    ),
    "vlmevalkit": Grader(
        name="vlmevalkit",
        source="open-compass/VLMEvalKit@e8e78f05f3080fe28154f2130321f17951c3be94 vlmeval/dataset/utils/mmvet.py",
        template=VLMEVALKIT_PROMPT,
        row_ending=" | ",
        max_tokens=2048,  # MMVet.evaluate: build_judge(max_tokens=2048)
        schedule=tuple((False, 0.5 * i) for i in range(5)),  # MMVet_auxeval: 5 tries at i * 0.5
        parse=parse_grade_whole,
        empty_asks=5,  # OpenAIWrapper(retry=5): BaseAPI.generate asks again while the answer is empty
        empty_ends=False,
        text_parts=True,
    ),
    "lmms_eval": Grader(
        name="lmms_eval",
        source="EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3 lmms_eval/tasks/mmvet/utils.py",
        template=LMMS_EVAL_PROMPT,
        row_ending=" |",  # f"...| {pred} |": no trailing space
        max_tokens=128,
        # temperature += 0.5 after each unparsable reply; the request sent at 2.0 is never read (score 0.0)
        schedule=tuple((False, 0.5 * i) for i in range(4)),
        parse=parse_grade_lmms_eval,
        empty_asks=3,  # get_chat_response(patience=3) asks again on an empty reply, then returns ""
        empty_ends=True,  # and an empty content gives score 0.0 at once
        text_parts=False,
    ),
}


@dataclass(frozen=True)
class GradeOutcome:
    """A sample's grade in [0, 1]; `parsed` is False when the protocol's fallback (0.0) was given."""

    grade: float
    parsed: bool
    tries: tuple[dict[str, Any], ...]


def grade_answer(grader: Grader, question: str, answer: str, prediction: str, ask: Ask) -> GradeOutcome:
    """Runs `grader`'s protocol for one answer: its tries in order until a reply parses to a grade in [0, 1].

    Every reply is kept in `tries` (temperature, retry prompt, draw, reply, grade or None).
    """
    tries: list[dict[str, Any]] = []
    for retry, temperature in grader.schedule:
        messages = grader.messages(grader.prompt(question, answer, prediction, retry=retry))
        reply = ""
        for draw in range(grader.empty_asks):
            reply = ask(messages, temperature, grader.max_tokens, draw)
            tries.append({"retry_prompt": retry, "temperature": temperature, "draw": draw, "reply": reply})
            if reply.strip():
                break
        if not reply.strip() and grader.empty_ends:
            return GradeOutcome(grader.fallback, False, tuple(tries))
        grade = grader.parse(reply)
        tries[-1]["grade"] = grade
        if grade is not None:
            return GradeOutcome(grade, True, tuple(tries))
    return GradeOutcome(grader.fallback, False, tuple(tries))


# ----------------------------------------------------------------------------- aggregation


def capabilities_of(value: Any) -> list[str]:
    """A row's capabilities: a list, or a comma-separated string as in lmms-lab/MMVet ("rec,ocr")."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Sequence):
        items = [str(item) for item in value]
    else:
        return []
    return [item.strip() for item in items if item.strip()]


def integration_name(capabilities: Sequence[str]) -> str:
    """The capability-integration group of a question: its set of capabilities, in MM-Vet's order, by "_"."""
    known = [c for c in CAPABILITIES if c in capabilities]
    return "_".join(known + sorted(set(capabilities) - set(CAPABILITIES)))


class MmvetMetric(Metric):
    """Sums of grades and counts: overall, per capability and per capability integration (as the official
    `export_result`: a question counts once towards each of its capabilities). Ungraded and failed samples
    are counted apart and left out of every score."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # key -> [questions, sum of grades]
        self.counts: dict[str, int] = defaultdict(int)  # graded, unparsed, ungraded, failed

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        grade = score.get("grade")
        if grade is None:
            self.counts["ungraded" if score.get("status") == "ungraded" else "failed"] += 1
            return
        self.counts["graded"] += 1
        self.counts["unparsed"] += int(not score.get("parsed", True))
        capabilities = list(sample.meta.get("capabilities") or [])
        for key in ("total", *dict.fromkeys(capabilities), f"integration.{integration_name(capabilities)}"):
            self.sums[key][0] += 1
            self.sums[key][1] += float(grade)

    def merge(self, other: Metric) -> None:
        if not isinstance(other, MmvetMetric):
            raise TypeError(f"cannot merge {type(other).__name__} into MmvetMetric")
        for key, (questions, total) in other.sums.items():
            self.sums[key][0] += questions
            self.sums[key][1] += total
        for key, count in other.counts.items():
            self.counts[key] += count

    def compute(self) -> dict[str, float | None]:
        def score(key: str) -> float | None:
            questions, total = self.sums.get(key, (0, 0.0))
            return 100.0 * total / questions if questions else None

        result: dict[str, float | None] = {"total": score("total")}
        result.update({capability: score(capability) for capability in CAPABILITIES})
        others = sorted(k for k in self.sums if k != "total" and k not in CAPABILITIES and not k.startswith("integration."))
        result.update({capability: score(capability) for capability in others})
        result.update({key: score(key) for key in sorted(k for k in self.sums if k.startswith("integration."))})
        result.update({key: float(self.counts.get(key, 0)) for key in ("graded", "unparsed", "ungraded", "failed")})
        return result
