"""The judge's command-line options and environment variables, turned into `JudgeSettings`.

The command line wins over the environment: `--judge-model` (else `$JANUS_EVAL_JUDGE_MODEL`), `--judge-base-url`
(else `$OPENAI_BASE_URL`, else OpenAI's API); the key is read from `$OPENAI_API_KEY` or the variable named by
`--judge-api-key-env`, never from the command line (which is recorded in every result's manifest).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from janus_eval.api import JudgeSettings
from janus_eval.errors import UserError

MODEL_VARIABLE = "JANUS_EVAL_JUDGE_MODEL"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """The `judge` option group of a run."""
    judge = parser.add_argument_group("LLM judge (MM-Vet grading; any OpenAI-compatible endpoint)")
    judge.add_argument("--judge-model", help=f"judge model, e.g. gpt-4-0613 (default ${MODEL_VARIABLE}; none: ungraded)")
    judge.add_argument(
        "--judge-base-url", help=f"OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default ${BASE_URL_VARIABLE}, else OpenAI)"
    )
    judge.add_argument(
        "--judge-api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="environment variable holding the key (default OPENAI_API_KEY)"
    )
    judge.add_argument("--judge-endpoint-name", metavar="NAME", help="stable name of the endpoint in record and cache keys")
    judge.add_argument("--judge-concurrency", type=int, default=4, metavar="N", help="requests in flight at once (default 4)")
    judge.add_argument("--judge-timeout", type=float, default=60.0, metavar="S", help="seconds per request (default 60)")
    judge.add_argument("--judge-retries", type=int, default=5, metavar="N", help="retries on 429, 5xx and timeouts (default 5)")
    judge.add_argument(
        "--judge-price",
        action="append",
        default=[],
        metavar="[MODEL=]IN,OUT",
        help="USD per million input and output tokens (for MODEL, default the judge model); repeatable",
    )
    judge.add_argument("--judge-cache-dir", metavar="DIR", help="judge response cache (default <janus-eval cache>/judge)")
    judge.add_argument(
        "--allow-judge-failures",
        action="store_true",
        help="exit 0 even when some gradings failed after their retries (they are left out of the score and counted)",
    )


def parse_prices(items: Sequence[str], model: str) -> dict[str, tuple[float, float]]:
    """`["gpt-4o=2.5,10", "3,6"]` -> {"gpt-4o": (2.5, 10.0), model: (3.0, 6.0)}; UserError on a bad item."""
    prices: dict[str, tuple[float, float]] = {}
    for item in items:
        name, sep, values = item.rpartition("=")
        parts = values.split(",")
        try:
            price = (float(parts[0]), float(parts[1]))
            if len(parts) != 2 or min(price) < 0:
                raise ValueError
        except (ValueError, IndexError):
            raise UserError(
                f"bad --judge-price {item!r}: expected [MODEL=]INPUT,OUTPUT in USD per million tokens, e.g. gpt-4o=2.5,10"
            ) from None
        prices[name.strip() if sep else model] = price
    return prices


def judge_settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> JudgeSettings | None:
    """The run's judge settings, or None when no judge model is given (the judge tasks are then ungraded)."""
    environ = os.environ if environ is None else environ
    model = (args.judge_model or environ.get(MODEL_VARIABLE) or "").strip()
    if not model:
        given = [flag for flag, value in (("--judge-base-url", args.judge_base_url), ("--judge-price", args.judge_price),
                                           ("--judge-endpoint-name", args.judge_endpoint_name)) if value]  # fmt: skip
        if given:
            raise UserError(f"{', '.join(given)} given without --judge-model: name the judge model")
        return None
    return JudgeSettings(
        model=model,
        base_url=args.judge_base_url or environ.get(BASE_URL_VARIABLE) or None,
        api_key_env=args.judge_api_key_env,
        endpoint_name=args.judge_endpoint_name,
        concurrency=args.judge_concurrency,
        timeout=args.judge_timeout,
        max_retries=args.judge_retries,
        prices=parse_prices(args.judge_price, model),
        cache_dir=args.judge_cache_dir,
    )
