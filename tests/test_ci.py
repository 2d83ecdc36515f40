"""CI runs the README's test command, in a fresh virtual environment."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert block is not None, "the README starts with a bash block of two commands"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_ci_runs_exactly_the_readmes_test_command_in_a_fresh_venv() -> None:
    install_and_run, install_and_test = _readme_commands()[:2]
    assert "run_eval.py" in install_and_run and "pytest" in install_and_test
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line for line in script if line and not line.lstrip().startswith("#")]
    assert commands[-1] == install_and_test
    # no install step outside the README's command (the browser is a system package, installed when missing)
    assert not [line for line in commands[:-1] if "pip install" in line]
    assert any(re.match(r"python3? -m venv ", line) for line in commands)
    assert any(line.startswith("source ") and "/bin/activate" in line for line in commands)


def test_ci_installs_the_browser_of_the_report_test_when_missing() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "[ ! -x /usr/bin/chromium ]" in script and "apt-get install -y -qq chromium" in script
    assert script.index("apt-get install") < script.index("pip install -e")
