"""A loopback HTTP server speaking the OpenAI chat-completions API (standard library only), for judge tests.

It stands in for the one thing that cannot exist here, a remote judge: the code under test talks to it with
the real `openai` client over real HTTP. A test scripts its answers with `answer` (request body -> reply)
and reads back every request it received (path, headers, JSON body, arrival time).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a chat completion's text, or an HTTP error, optionally after a delay."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: str = "error"
    delay: float = 0.0
    served_model: str | None = None
    usage: bool = True


Answer = Callable[[dict[str, Any]], "Reply | str"]


class OpenAIServer:
    """`/v1/chat/completions` and `/v1/models` on 127.0.0.1; checks the bearer key like OpenAI does."""

    def __init__(self, answer: Answer, *, models: tuple[str, ...] = ("judge-x",), api_key: str | None = None) -> None:
        self.answer = answer
        self.models = models
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self, None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                server._handle(self, json.loads(self.rfile.read(length) or b"{}"))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def prompts(self) -> list[str]:
        """The text of the (last) user message of every chat request, in arrival order."""
        texts = []
        for request in self.chat_requests:
            content = request["body"]["messages"][-1]["content"]
            texts.append(content if isinstance(content, str) else "".join(part["text"] for part in content))
        return texts

    def start(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any] | None) -> None:
        headers = {name.lower(): value for name, value in handler.headers.items()}
        record = {"path": handler.path, "headers": headers, "body": body, "time": time.monotonic()}
        with self._lock:
            self.requests.append(record)
        if self.api_key is not None and handler.headers.get("authorization") != f"Bearer {self.api_key}":
            given = (handler.headers.get("authorization") or "").removeprefix("Bearer ")
            message = f"Incorrect API key provided: {given[:3]}***{given[-4:]}."
            self._send(handler, 401, {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}, {})
            return
        if handler.path.endswith("/models"):
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "test"} for name in self.models]
            self._send(handler, 200, {"object": "list", "data": data}, {})
            return
        if not handler.path.endswith("/chat/completions") or body is None:
            self._send(handler, 404, {"error": {"message": f"no route {handler.path}"}}, {})
            return
        if body.get("model") not in self.models:
            message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
            self._send(handler, 404, {"error": {"message": message, "code": "model_not_found"}}, {})
            return
        reply = self.answer(body)
        if isinstance(reply, str):
            reply = Reply(content=reply)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            self._send(handler, reply.status, {"error": {"message": reply.error, "type": "server_error"}}, reply.headers)
            return
        prompt_tokens = sum(len(json.dumps(m["content"]).split()) for m in body["messages"])
        completion = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.served_model or f"{body['model']}-served",
            "system_fingerprint": "fp_test",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply.content}, "finish_reason": "stop"}
            ],
        }
        if reply.usage:
            completion["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 2,
                "total_tokens": prompt_tokens + 2,
            }
        self._send(handler, 200, completion, reply.headers)


@contextmanager
def openai_server(answer: Answer, **kwargs: Any) -> Iterator[OpenAIServer]:
    server = OpenAIServer(answer, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def scripted(*replies: "Reply | str") -> Answer:
    """Answers with `replies` in order, then keeps repeating the last one."""
    queue = list(replies)
    lock = threading.Lock()

    def answer(body: dict[str, Any]) -> "Reply | str":
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return answer


class PeakInFlight:
    """An answer that holds each request `hold` seconds before `answer` replies, and records the most requests
    in flight at once (`peak`): what a concurrency limit is checked against."""

    def __init__(self, answer: Answer, hold: float) -> None:
        self.answer, self.hold, self.peak = answer, hold, 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> "Reply | str":
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        time.sleep(self.hold)
        with self._lock:
            self._in_flight -= 1
        return self.answer(body)
