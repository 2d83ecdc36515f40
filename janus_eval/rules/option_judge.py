"""VLMEvalKit's LLM answer matching for multiple-choice questions whose answer the rules cannot match.

VLMEvalKit e8e78f05 `vlmeval/dataset/utils/multiple_choice.py::extract_answer_from_item`, used by MMBench,
SEEDBench_IMG and MMMU_DEV_VAL when a judge is configured: `can_infer` first; when it infers nothing, the judge
gets the matching prompt (`build_prompt`, or `build_prompt_cn` for a question with Chinese characters) with the
options listed by `vlmeval/smp/vlm.py::build_option_str`, at most 3 times; its reply is read with `can_infer`
again ("Z": no option fits); after 3 replies without a letter, a random letter of the options or Z.

Pure: the judge is reached through an `ask(messages, temperature, max_tokens, draw) -> reply text` callable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from janus_eval.rules.option_matching import VlmEvalKitRules, infer_option_letter, infer_option_text, random_option

Ask = Callable[[list[dict[str, Any]], float, int, int], str]

# build_prompt (the "Your should" is VLMEvalKit's)
MATCHING_PROMPT = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice question. "
    "You are provided with a question, several options, and an answer, and you need to find which option is most "
    "similar to the answer. If the meaning of all options are significantly different from the answer, output Z. "
    "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)
# build_prompt_cn
MATCHING_PROMPT_CN = (
    "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。"
    "你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。"
    "如果所有选项的意义都与答案显著不同，则输出 Z。"
    "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。"
    "例 1:"
    "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n"
    "例 2: \n"
    "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n"
    "例 3: \n"
    "问题: {}?\n选项: {}\n答案: {}\n输出: "
)
SOURCE = "open-compass/VLMEvalKit@e8e78f05f3080fe28154f2130321f17951c3be94 vlmeval/dataset/utils/multiple_choice.py"
JUDGE_TRIES = 3  # extract_answer_from_item: retry = 3
# the judge as build_judge makes it (OpenAIWrapper defaults): temperature 0, max_tokens 2048
TEMPERATURE = 0.0
MAX_TOKENS = 2048
NO_OPTION = "Z"
# VLMEvalKit's fallback draws from Python's unseeded `random`; here the draw is seeded by (this, sample id)
FALLBACK_SEED = 0
_CHINESE = re.compile("[\u4e00-\u9fff]")


def option_list_text(choices: Mapping[str, str]) -> str:
    """`build_option_str`: "There are several options: \\n" and one "X. text\\n" line per option."""
    return "There are several options: \n" + "".join(f"{letter}. {text}\n" for letter, text in choices.items())


def matching_prompt(question: str, choices: Mapping[str, str], prediction: str) -> str:
    """The judge's prompt for one answer (the Chinese template when the question has a CJK character: `cn_string`)."""
    template = MATCHING_PROMPT_CN if _CHINESE.search(question) else MATCHING_PROMPT
    return template.format(question, option_list_text(choices), prediction)


def can_infer(answer: str, choices: Mapping[str, str], rules: VlmEvalKitRules = "2024") -> str | None:
    """VLMEvalKit `can_infer` with its "Z" kept: a letter, "Z" (a refusal or a lone Z: no option), or None."""
    letter = infer_option_letter(answer, choices, rules=rules)
    return letter if letter is not None else infer_option_text(answer, choices, rules=rules)


def identity() -> dict[str, Any]:
    """What makes two matchings comparable (recorded with the judge's identity)."""
    return {
        "matching": "vlmevalkit",
        "source": SOURCE,
        "prompt_sha256": hashlib.sha256(MATCHING_PROMPT.encode()).hexdigest(),
        "prompt_cn_sha256": hashlib.sha256(MATCHING_PROMPT_CN.encode()).hexdigest(),
        "tries": JUDGE_TRIES,
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
        "content": "text parts",
        "fallback": f"random letter of the options or Z, seeded by ({FALLBACK_SEED}, sample id)",
    }


@dataclass(frozen=True)
class JudgeMatch:
    """The judge's option for one answer: a letter, "Z" (no option fits) or a random letter (`random`)."""

    pred: str
    random: bool
    replies: tuple[str, ...]


def judge_option(
    question: str, choices: Mapping[str, str], prediction: str, ask: Ask, *, key: str, rules: VlmEvalKitRules = "2024"
) -> JudgeMatch:
    """Asks the judge which option `prediction` means (VLMEvalKit's loop: up to 3 identical requests)."""
    prompt = matching_prompt(question, choices, prediction)
    messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    replies = []
    for draw in range(JUDGE_TRIES):
        reply = ask(messages, TEMPERATURE, MAX_TOKENS, draw)
        replies.append(reply)
        letter = can_infer(reply, choices, rules)
        if letter is not None:
            return JudgeMatch(letter, False, tuple(replies))
    # official behaviour: `list(choices) + ['Z'] if 'Z' not in choices else []`, one random pick
    letters = [*choices, NO_OPTION] if NO_OPTION not in choices else []
    return JudgeMatch(random_option(key, letters, FALLBACK_SEED) if letters else NO_OPTION, True, tuple(replies))
