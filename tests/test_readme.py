"""The README is the contract: its test command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_installs_what_the_readme_installs_and_runs_pytest():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^python3 -m venv .*$", readme, flags=re.M)
    test_command = next(c for c in commands if "pytest" in c)
    install = re.search(r"pip install (.*?) &&", test_command).group(1)
    assert f"pip install -q {install}" in ci
    assert "python -m pytest" in test_command and "python -m pytest" in ci
    demo_command = next(c for c in commands if "attribkit demo" in c)
    assert "pip install -e ." in demo_command
