"""The judge client: the real `openai` client against a loopback OpenAI-compatible server."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from janus_eval.api import JudgeSettings
from janus_eval.errors import UserError
from janus_eval.scorers.judge import JudgeClient, JudgeError, build_judge
from janus_eval.scorers.judge.cache import JudgeCache
from janus_eval.scorers.judge.client import endpoint_of, retry_after_seconds
from tests.openai_server import OpenAIServer, PeakInFlight, Reply, openai_server, scripted

KEY = "sk-test-judge-client-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Grade this: 1 + 1 = 2 | 2 | "}]


def _client(server: OpenAIServer, tmp_path: Path, **settings: Any) -> JudgeClient:
    values: dict[str, Any] = {"model": "judge-x", "base_url": server.url, "max_retries": 2, **settings}
    return JudgeClient(JudgeSettings(**values), KEY, JudgeCache(tmp_path / "cache"), backoff_start=0.01)


def _files_containing(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_reply_tokens_and_cache_hit(tmp_path: Path) -> None:
    with openai_server(scripted("0.7"), api_key=KEY) as server:
        client = _client(server, tmp_path)
        reply = client.complete(MESSAGES, temperature=0.0, max_tokens=3)
        assert (reply.text, reply.served_model, reply.cached, reply.retries) == ("0.7", "judge-x-served", False, 0)
        assert reply.prompt_tokens > 0 and reply.completion_tokens == 2 and reply.usage_reported
        (request,) = server.chat_requests
        assert request["body"]["messages"] == MESSAGES
        assert (request["body"]["temperature"], request["body"]["max_tokens"], request["body"]["model"]) == (0.0, 3, "judge-x")
        assert request["headers"]["authorization"] == f"Bearer {KEY}"

        # the same request again, from a new client (a rerun): nothing is sent
        again = _client(server, tmp_path).complete(MESSAGES, temperature=0.0, max_tokens=3)
        assert again.cached and again.text == "0.7" and again.prompt_tokens == reply.prompt_tokens
        assert len(server.chat_requests) == 1
        # another temperature, or another draw of the same request, is another request
        client.complete(MESSAGES, temperature=0.5, max_tokens=3)
        client.complete(MESSAGES, temperature=0.0, max_tokens=3, draw=1)
        assert len(server.chat_requests) == 3
    assert not _files_containing(tmp_path / "cache", KEY)


def test_429_with_retry_after_is_waited_for_then_answered(tmp_path: Path) -> None:
    with openai_server(scripted(Reply(status=429, headers={"Retry-After": "1"}), "0.4"), api_key=KEY) as server:
        reply = _client(server, tmp_path).complete(MESSAGES, temperature=0.0, max_tokens=3)
        first, second = server.chat_requests
    assert reply.text == "0.4" and reply.retries == 1
    assert second["time"] - first["time"] >= 0.95  # the server's Retry-After, not the 10 ms backoff


def test_500_exhausts_the_retries(tmp_path: Path) -> None:
    with openai_server(scripted(Reply(status=500, error="overloaded")), api_key=KEY) as server:
        with pytest.raises(JudgeError, match=r"after 3 attempt\(s\): HTTP 500"):
            _client(server, tmp_path, max_retries=2).complete(MESSAGES, temperature=0.0, max_tokens=3)
        assert len(server.chat_requests) == 3
    assert not list((tmp_path / "cache").rglob("*.json"))  # a failure is not cached


def test_a_timeout_is_retried_and_a_persistent_one_fails(tmp_path: Path) -> None:
    with openai_server(scripted(Reply(content="0.9", delay=1.5), "0.9"), api_key=KEY) as server:
        reply = _client(server, tmp_path, timeout=0.3).complete(MESSAGES, temperature=0.0, max_tokens=3)
        assert reply.text == "0.9" and reply.retries == 1 and len(server.chat_requests) == 2
    with openai_server(scripted(Reply(content="0.9", delay=1.5)), api_key=KEY) as server:
        with pytest.raises(JudgeError, match="no reply within 0.3 s"):
            _client(server, tmp_path, timeout=0.3, max_retries=1).complete(MESSAGES, temperature=0.5, max_tokens=3)


def test_a_refused_request_fails_at_once(tmp_path: Path) -> None:
    with openai_server(scripted(Reply(status=400, error="maximum context length exceeded")), api_key=KEY) as server:
        with pytest.raises(JudgeError, match="HTTP 400: maximum context length"):
            _client(server, tmp_path).complete(MESSAGES, temperature=0.0, max_tokens=3)
        assert len(server.chat_requests) == 1


def test_bad_key_unknown_model_and_unreachable_endpoint_are_user_errors(tmp_path: Path) -> None:
    with openai_server(scripted("0.5"), api_key=KEY) as server:
        wrong = JudgeClient(JudgeSettings(model="judge-x", base_url=server.url), "sk-wrong-key-9999", JudgeCache(tmp_path))
        with pytest.raises(UserError, match=r"refused the API key from \$OPENAI_API_KEY \(HTTP 401\)") as refused:
            wrong.check()
        assert "sk-wrong-key-9999" not in str(refused.value) and "9999" not in str(refused.value)
        with pytest.raises(UserError, match="HTTP 401"):
            wrong.complete(MESSAGES, temperature=0.0, max_tokens=3)

        with pytest.raises(UserError, match=r"judge model 'gpt-nope' is not served by .* \(it serves: judge-x\)"):
            _client(server, tmp_path, model="gpt-nope").check()
        with pytest.raises(UserError, match="answered 404 for model 'gpt-nope'"):
            _client(server, tmp_path, model="gpt-nope").complete(MESSAGES, temperature=0.0, max_tokens=3)

        # a good first contact is remembered: the next client checks nothing
        _client(server, tmp_path).check()
        before = len(server.requests)
        _client(server, tmp_path).check()
        assert len(server.requests) == before

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = JudgeClient(JudgeSettings(model="judge-x", base_url=f"http://127.0.0.1:{port}/v1"), KEY, JudgeCache(tmp_path))
    with pytest.raises(UserError, match=rf"cannot reach the judge endpoint http://127.0.0.1:{port}/v1"):
        closed.check()
    with pytest.raises(UserError, match="cannot reach"):
        closed.complete(MESSAGES, temperature=0.0, max_tokens=3)


def test_concurrency_limit_holds_across_threads(tmp_path: Path) -> None:
    answer = PeakInFlight(lambda body: "0.1", hold=0.15)
    with openai_server(answer, api_key=KEY) as server:
        client = _client(server, tmp_path, concurrency=2)
        prompts = [[{"role": "user", "content": f"question {n}"}] for n in range(6)]
        replies = client.map(lambda m: client.complete(m, temperature=0.0, max_tokens=3).text, prompts)
    assert replies == ["0.1"] * 6
    assert answer.peak == 2


def test_map_returns_judge_errors_in_place(tmp_path: Path) -> None:
    with openai_server(lambda body: Reply(status=400) if "bad" in body["messages"][0]["content"] else "0.2", api_key=KEY) as server:
        client = _client(server, tmp_path)
        prompts = [[{"role": "user", "content": text}] for text in ("good 1", "bad", "good 2")]
        results = client.map(lambda m: client.complete(m, temperature=0.0, max_tokens=3).text, prompts)
    assert results[0] == "0.2" and isinstance(results[1], JudgeError) and results[2] == "0.2"


def test_key_comes_from_the_named_variable_and_is_required_by_openai(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="set the environment variable MY_JUDGE_KEY"):
        build_judge(JudgeSettings(model="gpt-4-0613", api_key_env="MY_JUDGE_KEY", cache_dir=str(tmp_path)), environ={})
    with openai_server(scripted("0.3")) as server:  # a local server without authentication
        client = build_judge(JudgeSettings(model="judge-x", base_url=server.url, cache_dir=str(tmp_path)), environ={})
        assert client.complete(MESSAGES, temperature=0.0, max_tokens=3).text == "0.3"
        assert server.chat_requests[0]["headers"]["authorization"] == "Bearer EMPTY"
    with pytest.raises(UserError, match="must not hold credentials"):
        build_judge(JudgeSettings(model="m", base_url="http://user:secret@host/v1"), environ={})
    with pytest.raises(UserError, match="not an http"):
        build_judge(JudgeSettings(model="m", base_url="localhost:8000"), environ={})


def test_endpoint_names_and_retry_after_parsing() -> None:
    assert endpoint_of(JudgeSettings(model="m")) == "openai"
    assert endpoint_of(JudgeSettings(model="m", base_url="https://api.openai.com/v1/")) == "openai"
    assert endpoint_of(JudgeSettings(model="m", base_url="http://LOCALHOST:8000/v1?x=1")) == "http://localhost:8000/v1"
    assert endpoint_of(JudgeSettings(model="m", base_url="http://h:1/v1", endpoint_name="my-vllm")) == "my-vllm"
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "100000"}) == 120.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    in_five = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 5))
    assert 3.0 <= retry_after_seconds({"retry-after": in_five}) <= 5.0  # type: ignore[operator]
