"""Benchmarks, one module each; importing this package registers them (as `janus_eval.tasks`)."""

from janus_eval.tasks import gqa, mme, pope  # noqa: F401
