"""Benchmarks, one module each; importing this package registers them (as `janus_eval.tasks`)."""

from janus_eval.tasks import (  # noqa: F401
    coco_fid,
    dpg_bench,
    geneval,
    gqa,
    mjhq_fid,
    mmbench,
    mme,
    mmmu,
    mmvet,
    pope,
    seed_bench,
)
