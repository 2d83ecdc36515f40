"""A chat-completions client for LLM judges, on the `openai` package, for any OpenAI-compatible endpoint.

What it adds to the `openai` client: a persistent cache (a request sent once is never sent again), a
concurrency limit shared by every caller, its own retry loop on 429, 408/409, 5xx, timeouts and dropped
connections (exponential backoff, or exactly the server's `Retry-After`), token accounting per reply, and
errors sorted into the user's (bad key, unknown model, unreachable endpoint: `UserError`, exit 2) and one
request's (`JudgeError`: that sample's grading fails). The API key is read from the environment when the
client is built and is never written anywhere, nor shown in a message.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, TypeVar
from urllib.parse import urlsplit, urlunsplit

from janus_eval.api import JudgeSettings
from janus_eval.data.cache import cache_root
from janus_eval.data.hashing import hash_json
from janus_eval.errors import UserError, first_line
from janus_eval.scorers.judge.cache import JudgeCache, request_key

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

OPENAI_BASE_URL = "https://api.openai.com/v1"
# placeholder key for local servers without authentication (vLLM's and SGLang's documented convention)
NO_KEY = "EMPTY"
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
# a server's Retry-After is honoured up to this long
RETRY_AFTER_MAX_SECONDS = 120.0
RETRIED_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class JudgeReply:
    """One chat completion: its text, the model that served it and its token counts."""

    text: str
    served_model: str | None
    fingerprint: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    # False when the server sent no `usage` (tokens then count as 0 and no cost can be given)
    usage_reported: bool
    # answered from the cache: no request was sent for it now
    cached: bool = False
    # failed attempts on the wire before this reply (0 for a cached reply)
    retries: int = 0

    def stored(self) -> dict[str, Any]:
        """The reply as cached (without what describes this one delivery)."""
        return {k: v for k, v in asdict(self).items() if k not in ("cached", "retries")}


class JudgeError(Exception):
    """A judge request that failed after its retries, or that the endpoint refused: one grading fails."""


def endpoint_of(settings: JudgeSettings) -> str:
    """The endpoint's name in record keys and cache keys: "openai", the given name, or the base URL
    without credentials, query or trailing slash."""
    if settings.endpoint_name:
        return settings.endpoint_name
    url = (settings.base_url or OPENAI_BASE_URL).rstrip("/")
    if url == OPENAI_BASE_URL:
        return "openai"
    parts = urlsplit(url)
    host = f"{parts.hostname or ''}:{parts.port}" if parts.port else parts.hostname or ""
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_settings(settings: JudgeSettings) -> None:
    """Offline checks of judge settings (before anything is loaded); UserError with the remedy."""
    if not settings.model.strip():
        raise UserError("--judge-model is empty")
    if settings.base_url is not None:
        parts = urlsplit(settings.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(f"--judge-base-url {settings.base_url!r} is not an http(s) URL, e.g. http://localhost:8000/v1")
        if parts.username or parts.password:
            raise UserError("--judge-base-url must not hold credentials: put the key in an environment variable")
    if settings.concurrency < 1:
        raise UserError("--judge-concurrency must be at least 1")
    if settings.timeout <= 0:
        raise UserError("--judge-timeout must be positive (seconds)")
    if settings.max_retries < 0:
        raise UserError("--judge-retries must be 0 or more")


def build_judge(settings: JudgeSettings, environ: Mapping[str, str] | None = None) -> "JudgeClient":
    """A judge client for `settings`, with the API key from the named environment variable.

    Raises:
        UserError: bad settings, the `openai` package missing, or no key for OpenAI's own API.
    """
    import os

    check_settings(settings)
    environ = os.environ if environ is None else environ
    key = environ.get(settings.api_key_env, "")
    if not key:
        if settings.base_url is None or settings.base_url.rstrip("/") == OPENAI_BASE_URL:
            raise UserError(
                f"the judge needs an API key: set the environment variable {settings.api_key_env} "
                "(or name another one with --judge-api-key-env)"
            )
        key = NO_KEY  # a local server that checks no key
    cache_dir = Path(settings.cache_dir) if settings.cache_dir else cache_root() / "judge"
    return JudgeClient(settings, key, JudgeCache(cache_dir))


class JudgeClient:
    """Sends chat completions to one judge model at one endpoint (see the module docstring)."""

    def __init__(
        self,
        settings: JudgeSettings,
        api_key: str,
        cache: JudgeCache,
        *,
        backoff_start: float = BACKOFF_START_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            import openai
        except ImportError:
            raise UserError("the LLM judge needs the openai package: pip install 'janus-eval[judge]'") from None
        self._openai = openai
        self.settings = settings
        self.endpoint = endpoint_of(settings)
        self.cache = cache
        self._key = api_key
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=settings.base_url or OPENAI_BASE_URL,
            timeout=settings.timeout,
            max_retries=0,  # retries are ours: counted, logged, Retry-After honoured exactly
        )
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._backoff_start = backoff_start
        self._sleep = sleep
        self._lock = threading.Lock()
        # the endpoint has answered this process: until then a refused connection is the user's error
        self._reached = False
        self._checked = False

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def _url(self) -> str:
        return self.settings.base_url or OPENAI_BASE_URL

    def identity(self) -> dict[str, Any]:
        """What identifies the judge in record keys: API kind, endpoint and requested model."""
        return {"api": "openai-chat-completions", "endpoint": self.endpoint, "model": self.model}

    def _marker(self) -> str:
        return hash_json(self.identity())[:24]

    def _remember_reached(self) -> None:
        """Notes that the endpoint answered (here, and for later runs: `check` then sends nothing)."""
        with self._lock:
            if self._reached:
                return
            self._reached = True
        if not self.cache.has_marker(self._marker()):
            self.cache.set_marker(self._marker(), {**self.identity(), "reached": time.time()})

    # ------------------------------------------------------------------------- first contact

    def check(self) -> None:
        """Fails fast, before any model loads, on an unreachable endpoint, a refused key or an unknown model.

        One free `GET /models` the first time this endpoint and model are used; skipped afterwards (the
        cache remembers that they answered), so a rerun sends nothing at all.
        """
        if self._checked:
            return
        self._checked = True
        if self.cache.has_marker(self._marker()):
            return
        openai = self._openai
        try:
            served = [model.id for model in self._client.models.list()]
        except openai.APIConnectionError as exc:  # timeouts too
            raise UserError(self._unreachable(exc)) from None
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise UserError(self._refused_key(exc.status_code)) from None
            # no model list at this endpoint (404) or a passing failure: the first request will tell
            log.info("judge: GET /models at %s answered HTTP %s; not checking the model name", self._url, exc.status_code)
            return
        if served and self.model not in served:
            listed = ", ".join(served[:12]) + (", ..." if len(served) > 12 else "")
            raise UserError(
                f"judge model {self.model!r} is not served by {self._url} (it serves: {listed}); check --judge-model"
            )
        self._remember_reached()

    # ------------------------------------------------------------------------- requests

    def complete(
        self, messages: Sequence[Mapping[str, Any]], *, temperature: float, max_tokens: int, draw: int = 0
    ) -> JudgeReply:
        """One chat completion, from the cache when this exact request (same `draw`) was answered before.

        `draw` numbers repeated identical requests (a protocol that asks again after an empty reply), so
        each repetition is its own cached reply.

        Raises:
            JudgeError: the request failed after the retries, or the endpoint refused it (e.g. HTTP 400).
            UserError: the key was refused, the model or endpoint does not exist, or it cannot be reached.
        """
        request = {
            **self.identity(),
            "messages": [dict(message) for message in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "draw": draw,
        }
        key = request_key(request)
        stored = self.cache.get(key)
        if stored is not None:
            try:
                return JudgeReply(**stored, cached=True)
            except TypeError:
                pass  # a cache file of another layout: ask again
        with self._slots:
            reply = self._send(request["messages"], temperature, max_tokens)
        self.cache.put(key, request, reply.stored())
        return reply

    def map(self, work: Callable[[T], R], items: Sequence[T]) -> list[R | JudgeError]:
        """`work` over `items` on up to `concurrency` threads, in order; a JudgeError is returned in its item's
        place, a UserError (or a program error) is raised once every item has finished."""
        if len(items) <= 1 or self.settings.concurrency == 1:
            futures_results = []
            for item in items:
                try:
                    futures_results.append(work(item))
                except JudgeError as exc:
                    futures_results.append(exc)
            return futures_results
        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(items))) as pool:
            futures = [pool.submit(work, item) for item in items]
            results: list[R | JudgeError] = []
            raised: BaseException | None = None
            for future in futures:
                try:
                    results.append(future.result())
                except JudgeError as exc:
                    results.append(exc)
                except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others finished
                    raised = raised or exc
                    results.append(JudgeError(str(exc)))
        if raised is not None:
            raise raised
        return results

    def _send(self, messages: list[dict[str, Any]], temperature: float, max_tokens: int) -> JudgeReply:
        openai = self._openai
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            wait: float | None = None
            try:
                response = self._client.chat.completions.create(
                    model=self.model, messages=messages, temperature=temperature, max_tokens=max_tokens  # type: ignore[arg-type]
                )
            except openai.APITimeoutError:
                failure = f"no reply within {self.settings.timeout:g} s"
            except openai.APIConnectionError as exc:
                if not self._reached:
                    raise UserError(self._unreachable(exc)) from None
                failure = f"connection failed ({self._redact(first_line(exc))})"
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403):
                    raise UserError(self._refused_key(status)) from None
                if status == 404:
                    raise UserError(
                        f"the judge endpoint {self._url} answered 404 for model {self.model!r}: "
                        f"{self._server_message(exc)}; check --judge-model and --judge-base-url"
                    ) from None
                if status not in RETRIED_STATUSES and status < 500:
                    raise JudgeError(f"the judge refused the request (HTTP {status}: {self._server_message(exc)})") from None
                failure = f"HTTP {status}"
                wait = retry_after_seconds(exc.response.headers)
            else:
                self._remember_reached()
                return self._reply(response, retries=attempt)
            if attempt == attempts - 1:
                raise JudgeError(f"judge request failed after {attempts} attempt(s): {failure}")
            if wait is None:
                wait = min(BACKOFF_MAX_SECONDS, self._backoff_start * 2**attempt) * (1 - 0.25 * random.random())
            log.warning("judge: %s; retrying in %.1f s (attempt %d of %d)", failure, wait, attempt + 2, attempts)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _reply(self, response: Any, retries: int) -> JudgeReply:
        if not getattr(response, "choices", None):
            raise JudgeError("the judge sent a reply without choices")
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return JudgeReply(
            text=choice.message.content or "",
            served_model=getattr(response, "model", None),
            fingerprint=getattr(response, "system_fingerprint", None),
            finish_reason=getattr(choice, "finish_reason", None),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            usage_reported=usage is not None,
            retries=retries,
        )

    # ------------------------------------------------------------------------- messages

    def _server_message(self, exc: Any) -> str:
        """The first line of the server's own error message (`error.message`), without the key."""
        body = getattr(exc, "body", None)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = body["error"]
        message = body.get("message") if isinstance(body, dict) else None
        return self._redact(first_line(Exception(message)) if isinstance(message, str) else first_line(exc))

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != NO_KEY else text

    def _unreachable(self, exc: Exception) -> str:
        return (
            f"cannot reach the judge endpoint {self._url} ({self._redact(first_line(exc)) or type(exc).__name__}); "
            "check --judge-base-url and that the server is running"
        )

    def _refused_key(self, status: int) -> str:
        return (
            f"the judge endpoint {self._url} refused the API key from ${self.settings.api_key_env} (HTTP {status}); "
            "set a valid key in that variable (or name another with --judge-api-key-env)"
        )


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The server's requested wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date;
    at most RETRY_AFTER_MAX_SECONDS; None when absent or unreadable."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return min(RETRY_AFTER_MAX_SECONDS, max(0.0, float(value) / 1000))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(RETRY_AFTER_MAX_SECONDS, max(0.0, seconds))
