"""`janus-eval prefetch RUN-ARGUMENTS`: downloads what that run needs, so that the same command then runs offline.

On a connected machine (for instance a cluster's login node) with the HF_HOME and JANUS_EVAL_CACHE that the
offline machines share: hub datasets at their revisions (downloaded and prepared as the run loads them),
checkpoints at their revisions, scorer weights and the canonical files of file-based tasks.
"""

from __future__ import annotations

import os

from janus_eval.data.cache import cache_root
from janus_eval.engine.preflight import Command, prefetch
from janus_eval.engine.runner import RunConfig, build_tasks
from janus_eval.errors import UserError
from janus_eval.registry import MODELS


def prefetch_run(config: RunConfig) -> int:
    """Fetches every item of the run `config` and prints each with where it went; returns how many."""
    from huggingface_hub import constants

    tasks = build_tasks(config)
    if not tasks:
        raise UserError("no task given (see --list-tasks)")
    _, adapter_cls = MODELS.resolve(config.model.name)
    command = Command(config.model, tasks, adapter_cls, config.data_mode, config.data_dir, config.command[1:])
    done = prefetch(command, report=lambda line: print(f"fetched {line}", flush=True))
    run = " ".join(config.command[1:])
    if not done:
        print(f"nothing to fetch: `janus-eval {run}` needs nothing from outside (demo rows and tiny models are built locally)")
        return 0
    print(
        f"\n{len(done)} item(s) in place (HF_HOME={os.environ.get('HF_HOME', constants.HF_HOME)}, "
        f"JANUS_EVAL_CACHE={cache_root()}); with the same two folders `janus-eval {run}` runs offline "
        "(HF_HUB_OFFLINE=1 is optional: an unreachable Hub is detected)"
    )
    return len(done)
