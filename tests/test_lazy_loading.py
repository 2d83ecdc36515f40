"""The adapter loads its weights only when something must be generated: not for a finished task, not to rescore."""

from __future__ import annotations

from pathlib import Path

from janus_eval.api import ModelSpec
from janus_eval.engine.runner import RunConfig, build_adapter, evaluate


def _config(output_dir: Path, **options: str) -> RunConfig:
    return RunConfig(
        model=ModelSpec(name="janus-tiny"), tasks=["mme"], task_options={"mme": {"max_new_tokens": "4", **options}},
        data_mode="demo", output_dir=output_dir, show_progress=False,
    )


def test_building_an_adapter_reads_no_weights() -> None:
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    assert adapter._model is None and adapter.identity()["model"] == "janus-tiny" and adapter._model is None


def test_a_finished_task_and_a_rescoring_never_load_the_model(tmp_path: Path) -> None:
    first = build_adapter(ModelSpec(name="janus-tiny"))
    (result,) = evaluate(_config(tmp_path), adapter=first)
    assert first._model is not None and result.counts.generated == 28

    rerun = build_adapter(ModelSpec(name="janus-tiny"))
    (again,) = evaluate(_config(tmp_path), adapter=rerun)
    assert again.counts.reused == 28 and rerun._model is None and again.metrics == result.metrics

    rescoring = build_adapter(ModelSpec(name="janus-tiny"))
    (rescored,) = evaluate(_config(tmp_path, extraction="lmms_eval"), adapter=rescoring)
    assert rescored.counts.rescored == 28 and rescored.counts.generated == 0 and rescoring._model is None
