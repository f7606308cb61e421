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


# --- the README's snippets run as written (issue 15) ------------------------------------------------------

import contextlib  # noqa: E402
import io  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.M | re.S)


PYTHON_BLOCKS = _blocks("python")


def test_the_readme_has_python_snippets():
    assert len(PYTHON_BLOCKS) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_snippet_runs_as_written(index, tmp_path, monkeypatch):
    # Each block on its own (no state from an earlier one), in an empty folder: it may name only photos
    # that ship (attribkit.data.sample_photo), never a cat.jpg the reader does not have.
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
    for line in printed.getvalue().splitlines():
        # Results print as one short line: dtypes and shapes, never the arrays themselves.
        assert len(line) < 300 and "array(" not in line and "tensor(" not in line, line


def _shell_commands() -> list[list[str]]:
    commands = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["attribkit"]:
                commands.append(words[1:])
            elif words[:3] == ["python", "-m", "attribkit"]:
                commands.append(words[3:])
    return commands


def test_the_readme_has_shell_examples_of_every_verb():
    verbs = {c[0] for c in _shell_commands() if c and not c[0].startswith("-")}
    assert {"saliency", "class-model", "localise", "evaluate", "study", "plugins", "models"} <= verbs


@pytest.mark.parametrize("words", _shell_commands(), ids=lambda w: " ".join(w)[:60])
def test_shell_example_parses(words, capsys):
    # Every verb and option the README's shell examples use exists (argparse exits 2 on an unknown one).
    from attribkit.cli import build_parser

    if words == ["--help"]:
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args(words)
        assert info.value.code == 0
        return
    args = build_parser().parse_args(words)
    assert callable(args.func)


def test_python_dash_m_attribkit_is_the_command_line():
    result = subprocess.run([sys.executable, "-m", "attribkit", "--version"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("attribkit "), result.stderr
    assert (ROOT / "attribkit" / "__main__.py").is_file()


def test_readme_names_the_cpu_wheels_as_optional():
    text = (ROOT / "README.md").read_text()
    line = next(c for c in re.findall(r"^python3 -m venv .*$", text, flags=re.M) if "whl/cpu" in c)
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in line
    assert "Optional" in text[: text.index(line)].rsplit("\n\n", 2)[-2]
