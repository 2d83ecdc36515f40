"""`pip install .` gives a working `janus-eval` from any directory and no generic top-level packages."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("janus_eval-*.whl")
    return path


def test_wheel_ships_tasks_and_adapters_inside_the_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"janus_eval"}
    assert "janus_eval/tasks/mme.py" in names and "janus_eval/model_adapters/janus_hf.py" in names
    assert "janus_eval/tasks/dpg_bench_prompts.json" in names  # DPG-Bench's prompt checksums are package data
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "janus-eval = janus_eval.cli:main" in entry_points
    # lmms-eval's model registry reads this group (`lmms-eval --model janus`)
    assert "[lmms_eval.models]\njanus = janus_eval.model_adapters.lmms_eval_bridge:lmms_eval_models" in entry_points


def test_installed_console_script_works_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # The dependencies come from the environment running the tests (a virtual environment or not):
    # `--system-site-packages` would only reach the base interpreter's. A plain path line is read
    # after the new environment's own site-packages, and it processes none of the .pth files there,
    # so an editable install of the checkout cannot shadow the wheel.
    (site_packages,) = venv.glob("lib/python*/site-packages")
    (site_packages / "outer-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if sysconfig.get_paths()["platlib"] != sysconfig.get_paths()["purelib"]:
        with (site_packages / "outer-environment.pth").open("a") as pth:
            pth.write(sysconfig.get_paths()["platlib"] + "\n")
    pip = venv / "bin" / "pip"
    subprocess.run([str(pip), "install", "--no-deps", "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    listing = subprocess.run(
        [str(venv / "bin" / "janus-eval"), "--list-tasks"], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    assert "mme" in listing.stdout and "pope" in listing.stdout
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import janus_eval.tasks.mme as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert str(venv) in where.stdout, where.stdout + where.stderr
