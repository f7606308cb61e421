"""Start-up (issue 15): ``--help`` imports no torch, and plain saliency imports only what it uses.

Wall times are measured by ``bench/startup.py``; these tests check what is imported, which does not
depend on how busy the machine is.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

VERBS = ["", "saliency", "localise", "evaluate", "class-model", "plugins", "models", "demo", "study"]


def _imported_after(code: str) -> set[str]:
    script = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("verb", VERBS, ids=[v or "attribkit" for v in VERBS])
def test_help_does_not_import_torch(verb):
    argv = [a for a in (verb, "--help") if a]
    modules = _imported_after(
        "import contextlib, io\nfrom attribkit.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
    )
    assert "torch" not in modules and "attribkit.render" not in modules


def test_help_through_the_console_entry_imports_no_torch():
    """``python -X importtime`` of the real entry point, as a user runs it."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "attribkit.cli", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "usage: attribkit" in out.stdout
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "attribkit" in imported


def test_import_attribkit_imports_no_torch():
    assert "torch" not in _imported_after("import attribkit")


def test_registry_lookup_of_saliency_imports_no_other_plugin():
    modules = _imported_after("import attribkit\nattribkit.get_registry().get('attributor', 'saliency')")
    assert "attribkit.methods.saliency" in modules
    assert not {"attribkit.methods.graphcut", "sklearn", "attribkit.methods.deconvnet"} & modules


def test_class_model_modes_listed_by_the_parser_are_the_library_modes():
    """The parser lists the modes without importing torch; they must stay the library's."""
    import argparse

    from attribkit.cli import build_parser
    from attribkit.visualise import MODES

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    mode = next(a for a in sub.choices["class-model"]._actions if a.dest == "mode")
    assert sorted(mode.choices) == sorted(MODES)


#: Heavy libraries the default path must not import (issue 20, item 7): torchvision came in for the class
#: names, timm for the default model's architecture, sympy with torch's first ``grad_outputs=`` check.
#: (OpenCV is on it on purpose: the JPEG damage check decodes with it.)
NOT_ON_THE_DEFAULT_PATH = {"timm", "torchvision", "sklearn", "skimage", "scipy", "sympy"}


def test_default_model_and_class_names_import_no_timm_or_torchvision():
    modules = _imported_after(
        "import attribkit\nmodel = attribkit.load_model()\n"
        "names = attribkit.model_info(model).class_names\nassert names[285] == 'Egyptian cat'\n"
        "from attribkit.data import imagenet_wnids\nassert imagenet_wnids()[285] == 'n02124075'\n"
    )
    assert "attribkit.models._efficientnet_lite" in modules
    assert sorted(NOT_ON_THE_DEFAULT_PATH & modules) == []


def test_one_photo_saliency_imports_only_what_it_uses(tmp_path, chelsea):
    from PIL import Image

    Image.fromarray(chelsea).save(tmp_path / "photo.jpg")
    modules = _imported_after(
        "import contextlib, io\nfrom attribkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['saliency', {str(tmp_path / 'photo.jpg')!r}, '--smooth', '0', "
        f"'--out', {str(tmp_path / 'out')!r}]) == 0\n"
    )
    assert "matplotlib" in modules  # the panel
    assert sorted(NOT_ON_THE_DEFAULT_PATH & modules) == []
