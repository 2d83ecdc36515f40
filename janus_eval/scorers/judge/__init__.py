"""The LLM judge: one client for any OpenAI-compatible chat endpoint (OpenAI, gateways, a local vLLM or
SGLang server), with a concurrency limit, retries that honour Retry-After, timeouts, token and cost
accounting and a persistent response cache. Tasks build it from `JudgeSettings` with `build_judge`.
"""

from __future__ import annotations

from janus_eval.scorers.judge.client import JudgeClient, JudgeError, JudgeReply, build_judge

__all__ = ["JudgeClient", "JudgeError", "JudgeReply", "build_judge"]
