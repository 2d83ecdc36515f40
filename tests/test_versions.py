"""Record keys follow task and adapter versions, not the package version, and the versions follow the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import janus_eval
from janus_eval.api import ModelSpec
from janus_eval.data.loading import load_task_data
from janus_eval.engine.config_hash import config_hash, generation_hash
from janus_eval.engine.runner import build_adapter
from janus_eval.registry import MODELS, TASKS
from janus_eval.reports.sample_records import SampleRecord
from tests import behaviour_versions


def test_every_version_matches_its_code() -> None:
    now, then = behaviour_versions.current(), behaviour_versions.recorded()
    unrecorded = [f"{kind} {name}" for kind in now for name in now[kind] if name not in then.get(kind, {})]
    assert not unrecorded, f"not in {behaviour_versions.RECORD.name}: {unrecorded}; run python tests/behaviour_versions.py --update"
    assert not behaviour_versions.stale(now, then), (
        "the code of these changed while their version did not: bump `version` (outputs or scores change) and run "
        "`python tests/behaviour_versions.py --update`, or, for a change of no behaviour, "
        f"`--update --no-behaviour-change`: {behaviour_versions.stale(now, then)}"
    )
    moved = [f"{kind} {name}" for kind in now for name, e in now[kind].items()
             if name in then.get(kind, {}) and then[kind][name]["version"] != e["version"]
             and then[kind][name]["fingerprint"] == e["fingerprint"]]
    assert not moved, f"versions changed without their code: {moved}"
    bumped_unrecorded = [f"{kind} {name}" for kind in now for name, e in now[kind].items()
                         if name in then.get(kind, {}) and then[kind][name] != e]
    assert not bumped_unrecorded, f"run python tests/behaviour_versions.py --update for {bumped_unrecorded}"


def test_a_change_to_a_shared_rule_counts_for_the_tasks_that_use_it() -> None:
    assert "janus_eval.rules.yes_no" in behaviour_versions.behaviour_modules("janus_eval.tasks.mme")
    assert "janus_eval.rules.yes_no" not in behaviour_versions.behaviour_modules("janus_eval.tasks.mmmu")
    assert not any(m.startswith("janus_eval.engine") for m in behaviour_versions.behaviour_modules("janus_eval.tasks.geneval"))


def test_the_fingerprint_ignores_docs_and_sees_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "janus_eval" / "rules" / "toy.py"
    module.parent.mkdir(parents=True)
    monkeypatch.setattr(behaviour_versions, "ROOT", tmp_path)
    module.write_text('"""Doc."""\n\ndef rule(x):\n    """What it does."""\n    return x == "yes"  # a comment\n')
    first = behaviour_versions.fingerprint("janus_eval.rules.toy")
    module.write_text('"""Other doc."""\n\ndef rule(x):\n    return x == "yes"\n')
    assert behaviour_versions.fingerprint("janus_eval.rules.toy") == first
    module.write_text('def rule(x):\n    return x.strip() == "yes"\n')
    assert behaviour_versions.fingerprint("janus_eval.rules.toy") != first


def test_record_keys_follow_versions_not_the_package_version(monkeypatch: pytest.MonkeyPatch) -> None:
    task = TASKS.get("mme")()
    adapter = build_adapter(ModelSpec(name="janus-tiny"))
    data = load_task_data(task, "demo")
    keys = config_hash(task, adapter, data, 0), generation_hash(task, adapter, data, 0)
    monkeypatch.setattr(janus_eval, "__version__", "99.0")
    assert (config_hash(task, adapter, data, 0), generation_hash(task, adapter, data, 0)) == keys
    monkeypatch.setattr(type(task), "version", task.version + 1)
    assert config_hash(task, adapter, data, 0) != keys[0]
    assert generation_hash(task, adapter, data, 0) == keys[1]  # a scoring change rescores, never regenerates
    monkeypatch.setattr(type(adapter), "version", type(adapter).version + 1)
    assert generation_hash(task, adapter, data, 0) != keys[1]
    assert adapter._model is None  # keys are known without loading the weights


def test_every_builtin_declares_its_version() -> None:
    for registry in (TASKS, MODELS):
        for name, cls in registry:
            assert "version" in vars(cls) and isinstance(cls.version, int) and cls.version >= 1, name


def test_schema_1_record_lines_are_migrated() -> None:
    line = {"schema_version": "janus-eval.sample/1", "config_hash": "c", "task": "mme", "id": "a", "row": 0,
            "failed": True, "error": "unreadable image: cannot identify image file"}
    record = SampleRecord.model_validate(json.loads(json.dumps(line)))
    assert record.schema_version == "janus-eval.sample/2" and record.failed
    assert record.error is not None and record.error.message == line["error"]
