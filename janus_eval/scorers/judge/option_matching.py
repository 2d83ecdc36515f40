"""The LLM judge as answer matcher of the multiple-choice tasks (their `judge_matching` option, off by default):
VLMEvalKit's matching (`janus_eval.rules.option_judge`) for the answers their rules cannot match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from janus_eval.api import JudgeSettings, Output, Sample, TextOutput
from janus_eval.errors import UserError
from janus_eval.rules import option_judge
from janus_eval.rules.option_matching import VlmEvalKitRules
from janus_eval.scorers.judge.batches import JudgedBatches
from janus_eval.scorers.judge.client import JudgeClient, build_judge
from janus_eval.scorers.judge.usage import UsageTally, summarize_usage


@dataclass(frozen=True)
class MatchRequest:
    """One answer the rules could not match: its sample, question, options and the model's answer."""

    sample_id: str
    question: str
    choices: Mapping[str, str]
    prediction: str


class OptionMatchingJudge:
    """Matches answers to options with the run's judge; one per task (built on first use)."""

    def __init__(self, task: str) -> None:
        self.task = task
        self._client: JudgeClient | None = None
        self._batches = JudgedBatches("answer matching")

    def client(self, settings: JudgeSettings | None) -> JudgeClient:
        """The judge client; UserError when the option is on but no judge is configured."""
        if settings is None:
            raise UserError(f"{self.task}.judge_matching=true needs an LLM judge: pass --judge-model (and --judge-base-url)")
        if self._client is None:
            self._client = build_judge(settings)
        return self._client

    def scorer_info(self, settings: JudgeSettings | None) -> dict[str, Any]:
        """The judge and matching identity for the record key; checks the endpoint (before the model loads)."""
        client = self.client(settings)
        client.check()
        return {"answer_judge": {**client.identity(), **option_judge.identity()}}

    def match(
        self, settings: JudgeSettings | None, requests: Sequence[MatchRequest], batch_size: int, rules: VlmEvalKitRules
    ) -> list[dict[str, Any]]:
        """The judge's option for each request: {"pred", "random", "replies", "usage"}, concurrently.

        Raises:
            SampleError: a judge request failed after its retries (see JudgedBatches).
        """
        if not requests:
            return []
        client = self.client(settings)

        def work(request: MatchRequest) -> dict[str, Any]:
            tally = UsageTally(client)
            found = option_judge.judge_option(
                request.question, request.choices, request.prediction, tally.ask, key=request.sample_id, rules=rules
            )
            return {"pred": found.pred, "random": found.random, "replies": list(found.replies), "usage": tally.as_dict()}

        items = [(r.sample_id, (r.sample_id, r.prediction), r) for r in requests]
        return self._batches.run(client, work, items, batch_size)

    def rematch(
        self,
        settings: JudgeSettings | None,
        pending: Sequence[tuple[dict[str, Any], MatchRequest, str]],
        batch_size: int,
        rules: VlmEvalKitRules,
    ) -> None:
        """Updates in place the (score, request, right letter) of answers the rules left unmatched with the
        judge's option: `pred`, `correct`, `unmatched` (still none after the judge: a random letter), `random`
        (when the score has it) and `answer_judge` (the judge's replies and usage)."""
        found = self.match(settings, [request for _, request, _ in pending], batch_size, rules)
        for (score, _, target), match in zip(pending, found):
            score.update(pred=match["pred"], correct=match["pred"] == target, unmatched=match["random"], answer_judge=match)
            if "random" in score:
                score["random"] = match["random"]

    @staticmethod
    def usage(settings: JudgeSettings | None, scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The matching judge's requests, tokens and cost over a result's scores (for the manifest)."""
        if settings is None:
            return {}
        judged = [score["answer_judge"] for score in scores if isinstance(score.get("answer_judge"), Mapping)]
        summary = summarize_usage(settings, [j["usage"] for j in judged], matching=option_judge.SOURCE)
        summary["matched_by_judge"] = sum(1 for j in judged if not j["random"] and j["pred"] != option_judge.NO_OPTION)
        summary["judge_said_no_option"] = sum(1 for j in judged if not j["random"] and j["pred"] == option_judge.NO_OPTION)
        summary["random_after_judge"] = sum(1 for j in judged if j["random"])
        return {"answer_judge": summary}

    @staticmethod
    def card(settings: JudgeSettings | None) -> dict[str, Any]:
        """The protocol card's entry for the matching judge."""
        return {
            "judge_model": settings.model if settings is not None else None,
            **option_judge.identity(),
            "notes": (
                "only answers the rules match to no option (and that are no refusal) go to the judge, with "
                "VLMEvalKit's matching prompt (Chinese template for Chinese questions); its reply is read with "
                "can_infer; after 3 replies without a letter a random letter of the options or Z"
            ),
        }


def judge_matching_note(task: str, settings: JudgeSettings | None) -> str:
    """The result note of a run whose unmatched answers went to the judge."""
    model = settings.model if settings is not None else "?"
    return (
        f"{task}.judge_matching: answers the rules could not match went to the LLM judge {model!r} with VLMEvalKit's "
        "matching prompt, as VLMEvalKit does when a judge is configured (its multiple-choice judge was chatgpt-0125 "
        "at paper time, gpt-4o-mini now; exact matching without one); how many it matched, and its cost: "
        "manifest.scoring_usage.answer_judge"
    )


def vlmevalkit_rules(extraction: str) -> VlmEvalKitRules:
    """The can_infer rules of a VLMEvalKit extraction option (vlmevalkit: Oct 2024, vlmevalkit_current: now)."""
    return "current" if extraction == "vlmevalkit_current" else "2024"


class JudgeMatching:
    """Mixin of the multiple-choice tasks with a `judge_matching` option (put it before `Task` in the bases).

    The task scores with its rules in `rule_score` and says in `match_request` which answers the judge should
    match; this mixin sends those to the judge (concurrently, per batch) and records the judge's identity,
    usage and note.
    """

    name: str
    options: Any
    judge_settings: JudgeSettings | None

    def rule_score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """The score by the task's rules alone."""
        raise NotImplementedError

    def matching_choices(self, sample: Sample) -> tuple[Mapping[str, str], str]:
        """The options the judge chooses among (letter -> text) and the right letter."""
        raise NotImplementedError

    def match_request(
        self, sample: Sample, output: Output | None, score: Mapping[str, Any]
    ) -> tuple[MatchRequest, str] | None:
        """The judge request for an answer the rules left unmatched, and the right letter; None for a matched
        answer, a failed sample or a refusal (VLMEvalKit's can_infer gives "Z" then and asks no judge)."""
        if not score.get("unmatched") or not isinstance(output, TextOutput):
            return None
        choices, target = self.matching_choices(sample)
        if option_judge.can_infer(output.text, choices, self.matching_rules()) is not None:
            return None
        question = sample.row.get("question")
        return MatchRequest(sample.id, question if isinstance(question, str) else "", choices, output.text), target

    def matching_rules(self) -> VlmEvalKitRules:
        """The can_infer rules that read the judge's reply."""
        return "2024"

    def _matcher(self) -> OptionMatchingJudge:
        matcher = self.__dict__.get("_answer_judge")
        if matcher is None:
            matcher = self.__dict__["_answer_judge"] = OptionMatchingJudge(self.name)
        return matcher

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        return self.score_batch([sample], [output])[0]

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        """The rules' scores; with `judge_matching`, the answers they leave unmatched (refusals aside) are matched
        by the LLM judge, concurrently (SampleError when a judge request fails after its retries)."""
        scores = [self.rule_score(sample, output) for sample, output in zip(samples, outputs)]
        if self.options.judge_matching:
            pending = []
            for sample, output, score in zip(samples, outputs, scores):
                found = self.match_request(sample, output, score)
                if found is not None:
                    pending.append((score, *found))
            self._matcher().rematch(self.judge_settings, pending, len(samples), self.matching_rules())
        return scores

    def scorer_info(self) -> dict[str, Any]:
        return self._matcher().scorer_info(self.judge_settings) if self.options.judge_matching else {}

    def scoring_usage(self, scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self._matcher().usage(self.judge_settings, scores) if self.options.judge_matching else {}

    def result_notes(self, metrics: Mapping[str, float | None]) -> list[str]:
        return [judge_matching_note(self.name, self.judge_settings)] if self.options.judge_matching else []

    def judge_matching_card(self) -> dict[str, Any]:
        """The protocol card's `answer_judge` entry, only when the option is on (the card is hashed)."""
        return {"answer_judge": OptionMatchingJudge.card(self.judge_settings)} if self.options.judge_matching else {}


def check_judge_matching(enabled: bool, allowed: bool, needs: str) -> None:
    """The options' validator: `judge_matching=true` only with the rules it extends (ValueError otherwise)."""
    if enabled and not allowed:
        raise ValueError(f"judge_matching=true needs {needs} (VLMEvalKit's matching follows its own rules)")
