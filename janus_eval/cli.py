"""Command line: `janus-eval` / `python run_eval.py`.

This module imports only the standard library at first: an interrupt is handled from the first moment
(see `main`), before torch, transformers and the task modules are imported.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from janus_eval.errors import INTERRUPTED, ArgumentParser, UserError, exit_at_once, interrupted, raise_interrupt
from janus_eval.errors import report_error as _fail
from janus_eval.scorers.judge.options import add_judge_arguments, judge_settings_from_args

if TYPE_CHECKING:
    from janus_eval.engine.runner import RunConfig

EPILOG = """regression check of two runs (paired bootstrap CI; see `janus-eval compare -h`):
  janus-eval compare results/janus-pro-7b results/my-checkpoint --fail-on-regression
HTML report of a results folder (against the papers and a baseline; see `janus-eval report -h`):
  janus-eval report results/ --baseline results/janus-pro-7b -o report.html
release gate: exit 0 ship, 1 regression or paper breach, 2 unusable input (see `janus-eval gate -h`):
  janus-eval gate results/my-checkpoint --baseline results/janus-pro-7b --tolerances tolerances.json
download everything a run needs (data, checkpoint, scorer weights) for a later offline run:
  janus-eval prefetch --model janus-pro-7b --tasks mme,pope,geneval
GenEval summary of a results file of the official evaluator:
  janus-eval geneval-import results.jsonl [--output summary.json]
DPG-Bench summary of the results file of the official compute_dpg_bench.py (see `janus-eval dpg-import -h`):
  janus-eval dpg-import dpg-bench_<time>_results.txt [--details ..._detail.txt --csv dpg_bench.csv]

examples:
  janus-eval --model janus-tiny --tasks mme,pope --data demo
  janus-eval --model janus-pro-7b --tasks mmvet --judge-model gpt-4-0613       # key in $OPENAI_API_KEY
  janus-eval --model janus-pro-7b --tasks mme,pope
  janus-eval --model janus-pro-7b --tasks pope --task-option pope.split=all
  janus-eval --model predictions --model-args path=results/janus-tiny/{task}.samples.jsonl --tasks mme,pope --data demo
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="janus-eval",
        description="Evaluate Janus-family models on understanding and generation benchmarks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing = parser.add_argument_group("listing")
    listing.add_argument("--list-tasks", action="store_true", help="list the registered tasks and exit")
    listing.add_argument("--list-models", action="store_true", help="list the registered models and exit")

    model = parser.add_argument_group("model")
    model.add_argument("--model", help="model name or alias (see --list-models)")
    model.add_argument("--model-path", help="local checkpoint directory (transformers format)")
    model.add_argument("--revision", help="hub revision (branch, tag or commit) of the checkpoint")
    model.add_argument("--model-args", default="", help="adapter arguments, KEY=VALUE[,KEY=VALUE...]")
    model.add_argument("--dtype", default="auto", help="auto (bfloat16 on CUDA, float32 on CPU), bfloat16, float16, float32")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    model.add_argument(
        "--trust-remote-code", action="store_true", help="allow the checkpoint's own Python code to run (off by default)"
    )
    model.add_argument("--published-as", help="compare with the published numbers of this model (e.g. janus-pro-7b)")

    run = parser.add_argument_group("run")
    run.add_argument("--tasks", help="comma-separated task names (see --list-tasks)")
    run.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="TASK.KEY=VALUE",
        help="set a typed task option, e.g. pope.split=all (repeatable)",
    )
    run.add_argument(
        "--data", choices=["hub", "demo"], default="hub", help="hub: the benchmark's dataset; demo: built-in demo rows"
    )
    run.add_argument("--data-dir", type=Path, help="read task T from the local folder DIR/T/ (parquet or save_to_disk)")
    run.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    run.add_argument("--batch-size", type=int, default=8, help="requests per adapter call (default 8)")
    run.add_argument("--output-dir", default="results", help="where results go (default results/)")
    run.add_argument("--seed", type=int, default=0, help="base seed (image seeds derive from it; default 0)")
    run.add_argument(
        "--fresh", action="store_true", help="ignore finished samples of an earlier run (they are moved aside, not deleted)"
    )
    run.add_argument(
        "--max-failed",
        type=float,
        metavar="N",
        help="stop a task (exit 1) once more samples failed than N (a count), or than this fraction of its samples "
        "when N < 1; default: never stop, failed samples are recorded and counted",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("-v", "--verbose", action="store_true", help="log more")
    add_judge_arguments(parser)
    return parser


def parse_key_values(text: str, what: str) -> dict[str, str]:
    """`a=1,b=x` -> {"a": "1", "b": "x"}; UserError on a malformed item."""
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"bad {what} item {item!r}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def parse_task_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`["pope.split=all", "mme.prompt=lmms_eval"]` -> {"pope": {"split": "all"}, "mme": {...}}."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        task, dot, key = target.partition(".")
        if not sep or not dot or not task or not key:
            raise UserError(f"bad --task-option {item!r}: expected TASK.KEY=VALUE, e.g. pope.split=all")
        options.setdefault(task.strip(), {})[key.strip()] = value.strip()
    return options


def _list_tasks() -> None:
    from janus_eval.registry import TASKS

    for name, task_cls in TASKS:
        print(f"{name:<14} {task_cls.request_kind:<6} {task_cls.description}")
        for field, info in task_cls.Options.model_fields.items():
            if info.default is None:  # what an unset option means is in its description
                print(f"{'':<14} {field} unset  ({allowed_values(info.annotation)}; {info.description or 'unset'})")
            else:
                print(f"{'':<14} {field} = {info.default!r}  ({allowed_values(info.annotation)})")


def allowed_values(annotation: Any) -> str:
    """What a typed task option accepts, as `--list-tasks` shows it."""
    import types
    import typing

    origin, parts = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in parts)
    if origin in (typing.Union, types.UnionType):
        choices = [allowed_values(p) for p in parts if p is not type(None)]
        return " or ".join(choices)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _list_models() -> None:
    from janus_eval.registry import MODELS

    aliases = MODELS.aliases()
    for name, adapter_cls in MODELS:
        names = [alias for alias, target in aliases.items() if target == name]
        print(f"{name:<14} {'/'.join(sorted(adapter_cls.supports)):<10} {adapter_cls.description}")
        if names:
            print(f"{'':<14} aliases: {', '.join(names)}")


def run_config(args: argparse.Namespace, argv: list[str]) -> RunConfig:
    """The RunConfig of parsed run arguments (a run and `prefetch` share them); UserError on bad ones."""
    from janus_eval.api import ModelSpec
    from janus_eval.engine.runner import RunConfig

    if not args.output_dir.strip():
        raise UserError("--output-dir is empty: name a folder (the default is results/)")
    if not args.model:
        raise UserError("--model is required (see --list-models)")
    if not args.tasks:
        raise UserError("--tasks is required (see --list-tasks)")
    if args.data == "demo" and args.data_dir is not None:
        raise UserError("--data demo and --data-dir exclude each other")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise UserError(f"--data-dir {args.data_dir} is not a directory")
    model_args = parse_key_values(args.model_args, "--model-args")
    if args.published_as:
        from janus_eval.registry import TASKS

        known = sorted({key for _, task_cls in TASKS for key in task_cls.published})
        if args.published_as not in known:
            raise UserError(f"--published-as {args.published_as!r} has no published numbers; known: {', '.join(known)}")
        model_args["published_as"] = args.published_as
    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()]
    if len(set(tasks)) != len(tasks):
        raise UserError("a task is named twice in --tasks")
    return RunConfig(
        model=ModelSpec(
            name=args.model,
            model_path=args.model_path,
            revision=args.revision,
            dtype=args.dtype,
            device=args.device,
            trust_remote_code=args.trust_remote_code,
            args=model_args,
        ),
        tasks=tasks,
        task_options=parse_task_options(args.task_option),
        data_mode=args.data,
        data_dir=args.data_dir,
        limit=args.limit,
        batch_size=args.batch_size,
        output_dir=Path(args.output_dir),
        seed=args.seed,
        max_failed=args.max_failed,
        resume=not args.fresh,
        show_progress=not args.no_progress,
        command=argv,
        judge=judge_settings_from_args(args),
    )


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    from janus_eval.engine.runner import evaluate

    config = run_config(args, argv)
    results = evaluate(config)
    if not results:  # a non-zero rank of a data-parallel run: rank 0 reports
        return 0
    for result in results:
        line = f"{result.task:<12} {result.headline.metric} = {_fmt(result.headline.value)}"
        if result.published is not None:
            line += f"  (published {result.published.value:g} for {result.published.model}, delta {_fmt(result.published.delta)})"
        counts = result.counts
        rescored = f", {counts.rescored} rescored from recorded outputs" if counts.rescored else ""
        line += f"  [{counts.scored}/{counts.total} scored, {counts.failed} failed, {counts.reused} reused{rescored}]"
        print(line)
        for note in result.notes:
            print(f"{'':<12} note: {note}")
    md_path = config.output_dir / "leaderboard.md"
    print(f"\nresults in {config.output_dir}/; leaderboard {md_path}:\n")
    print(md_path.read_text(encoding="utf-8"))
    dead = [r for r in results if r.counts.scored == 0]
    for result in dead:
        first_error = next((n for n in result.notes if n.startswith("every sample failed")), "every sample failed")
        _fail(f"task {result.task!r}: {first_error}; see {config.output_dir / result.samples_file}")
    if dead:
        return 1
    return _judge_failures_exit(results, args.allow_judge_failures)


def _judge_failures_exit(results: Sequence[Any], allowed: bool) -> int:
    """1 when some samples' grading failed after the judge's retries, unless --allow-judge-failures."""
    failing = [f"{r.task} ({r.counts.scoring_failed})" for r in results if r.counts.scoring_failed]
    if not failing or allowed:
        return 0
    print(
        f"janus-eval: grading failed for some samples: {', '.join(failing)}; they are left out of the scores; rerun "
        "the same command to grade them again (no generation), or pass --allow-judge-failures to accept the run",
        file=sys.stderr,
    )
    return 1


SUBCOMMANDS = {
    "compare": "janus_eval.reports.compare",
    "geneval-import": "janus_eval.reports.geneval_import",
    "dpg-import": "janus_eval.reports.dpg_import",
    "report": "janus_eval.reports.html_report",
    "gate": "janus_eval.reports.gate",
}


def _subcommand(name: str, argv: list[str]) -> int:
    """`compare`, `geneval-import`, `dpg-import`, `report`, `gate`: their own parsers, the same error handling as a run."""
    import importlib

    module = importlib.import_module(SUBCOMMANDS[name])
    try:
        return module.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    except UserError as exc:
        _fail(str(exc))
        return exc.exit_code


def _prefetch(argv: list[str]) -> int:
    """`janus-eval prefetch RUN-ARGUMENTS`: the run's parser; downloads what that run needs (see engine.prefetch)."""
    from janus_eval.engine.prefetch import prefetch_run

    parser = build_parser()
    parser.prog = "janus-eval prefetch"
    parser.description = "Download everything the same run command needs, so that it then runs offline."
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        prefetch_run(run_config(args, ["janus-eval", *argv]))
    except UserError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("\njanus-eval: interrupted; what was fetched stays cached: rerun the same command to go on", file=sys.stderr)
        return 130
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _no_deprecations(record: logging.LogRecord) -> bool:
    return "deprecated" not in record.getMessage()


def _unraisable_hook(previous: Any) -> Any:
    """Python reports a KeyboardInterrupt raised inside a finalizer as an ignored exception with a traceback; the
    interrupt is remembered (`interrupted`) and handled, so that report is noise."""

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)

    hook.keeps_interrupts_quiet = True  # type: ignore[attr-defined]
    return hook


def _import_libraries(verbose: bool) -> None:
    """Imports what a run needs (torch, the registered tasks and adapters) under `exit_at_once`, then hands
    SIGINT to `raise_interrupt` (a KeyboardInterrupt, which the run turns into exit 130 with its records saved)."""
    if not verbose:  # deprecation chatter of the libraries is not the user's business on every run
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        import torch  # noqa: F401
    except ImportError:  # a dependency; guards odd environments only
        pass
    from janus_eval.registry import MODELS, TASKS

    TASKS.names()
    MODELS.names()
    if not verbose and "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        for handler in hf_logging.get_logger().handlers:
            if _no_deprecations not in handler.filters:
                handler.addFilter(_no_deprecations)
    if not getattr(sys.unraisablehook, "keeps_interrupts_quiet", False):
        sys.unraisablehook = _unraisable_hook(sys.unraisablehook)
    signal.signal(signal.SIGINT, raise_interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    """The `janus-eval` command; returns its exit code (a rank of a torchrun run ends its process here)."""
    left_group: list[bool] = []
    code = _main(argv, left_group)
    if any(left_group):
        from janus_eval.engine.distributed import exit_process

        exit_process(code)
    return code


def _main(argv: Sequence[str] | None, left_group: list[bool]) -> int:
    # unless a caller (a test, an embedding program) handles SIGINT its own way
    interruptible = signal.getsignal(signal.SIGINT) in (signal.default_int_handler, exit_at_once)
    if interruptible:
        signal.signal(signal.SIGINT, exit_at_once)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in (*SUBCOMMANDS, "prefetch"):
        if interruptible:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        return _prefetch(argv[1:]) if argv[0] == "prefetch" else _subcommand(argv[0], argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.no_progress:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        if interruptible:
            _import_libraries(args.verbose)
        if args.no_progress and "transformers" in sys.modules:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        if args.list_tasks or args.list_models:
            if args.list_tasks:
                _list_tasks()
            if args.list_models:
                _list_models()
            return 0
        finished = False
        try:
            code = _run(args, ["janus-eval", *argv])
            if interrupted():  # a Ctrl-C that a library swallowed (one raised inside a finalizer is lost)
                raise KeyboardInterrupt
            finished = True
            return code
        finally:
            from janus_eval.engine.distributed import shutdown

            left_group.append(shutdown(clean=finished))
    except UserError as exc:
        _fail(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return 130
    except MemoryError:
        return _fail("out of memory; lower --batch-size and rerun the same command (the run resumes)")
    except Exception as exc:
        if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, without importing torch here
            return _fail(f"out of accelerator memory ({exc}); lower --batch-size and rerun (the run resumes)")
        raise
    finally:
        if interruptible:
            signal.signal(signal.SIGINT, signal.default_int_handler)
