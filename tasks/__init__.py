"""Benchmarks, one module each; importing this package registers them (as `janus_eval.tasks`)."""

from janus_eval.tasks import dpg_bench, geneval, gqa, mmbench, mme, mmmu, pope, seed_bench  # noqa: F401
