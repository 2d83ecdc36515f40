"""Local data for lmms-eval's own MME and POPE task definitions (tests and benchmarks; needs lmms-eval).

The rows are our tasks' demo rows written as parquet in the hub schemas of lmms-lab/MME and lmms-lab/POPE
(the layout `--data-dir DIR/<task>/data/test-00000-of-00001.parquet` that janus-eval reads too); each task gets
an `--include_path` YAML that includes lmms-eval's own `mme.yaml` / `pope.yaml` and changes only the dataset
(`<task>_local`: `dataset_path: parquet` with the local file as `data_files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import demo_rows, write_parquet

# our task -> lmms-eval's task definition it mirrors
LMMS_TASKS = {"mme": "mme/mme.yaml", "pope": "pope/pope.yaml"}


def lmms_eval_task_dir() -> Path:
    import lmms_eval

    return Path(lmms_eval.__file__).resolve().parent / "tasks"


def write_local_tasks(root: Path, repeat: int = 1) -> tuple[Path, Path]:
    """Writes `root/data/<task>/...parquet` and `root/yaml/<task>_local.yaml`; returns (data dir, include path).

    `repeat` > 1 repeats the rows (MME: each image's question pair stays together) for bigger benchmark runs.
    """
    data_dir, yaml_dir = root / "data", root / "yaml"
    yaml_dir.mkdir(parents=True, exist_ok=True)
    for task, definition in LMMS_TASKS.items():
        rows = _repeated(task, demo_rows(task), repeat)
        parquet = write_parquet(rows, data_dir / task)
        (yaml_dir / f"{task}_local.yaml").write_text(
            f"include: {lmms_eval_task_dir() / definition}\n"
            f"task: {task}_local\n"
            "dataset_path: parquet\n"
            "dataset_kwargs:\n"
            "  data_files:\n"
            f"    test: {parquet}\n",
            encoding="utf-8",
        )
    return data_dir, yaml_dir


def _repeated(task: str, rows: list[dict[str, Any]], repeat: int) -> list[dict[str, Any]]:
    out = []
    for copy in range(repeat):
        for row in rows:
            row = dict(row)
            if copy and task == "mme":
                row["question_id"] = f"{row['question_id']}.{copy}"  # another image: MME scores pairs per image
            if copy and task == "pope":
                row["id"] = f"{row['id']}.{copy}"
                row["question_id"] = f"{row['question_id']}.{copy}"
            out.append(row)
    return out
