"""The template plugin end to end: installed, discovered, listed, usable from the CLI, able to override a
built-in by the documented precedence, and blocked by ATTRIBKIT_DISABLE_PLUGINS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from PIL import Image

import attribkit
from attribkit.cli import main

template = pytest.importorskip(
    "attribkit_template", reason="install the template: pip install -e plugins/attribkit-template"
)

from conftest import tiny_cnn  # noqa: E402

NAME = "template:gradient_x_input"


def test_discovered_through_its_entry_point():
    registry = attribkit.build_registry()
    reg = registry.get("attributor", NAME)
    assert reg.plugin == "template"
    assert registry.distributions["template"] == "attribkit-template"
    assert isinstance(reg.factory(tiny_cnn()), attribkit.Attributor)


def test_method_is_input_times_gradient():
    model = tiny_cnn()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    got = attribkit.build_registry().get("attributor", NAME).factory(model).attribute(x, target=[1, 2])
    scores = model.eval()(x)
    (grad,) = torch.autograd.grad(scores[0, 1] + scores[1, 2], x)
    torch.testing.assert_close(got, (grad * x).detach())
    many = template.GradientXInput(model).attribute(x, top_k=3)
    assert many.shape == (2, 3, 3, 8, 8)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attribkit.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_listed_by_attribkit_plugins():
    out = _cli("plugins")
    assert out.returncode == 0, out.stderr
    assert "template  (attribkit-template)" in out.stdout
    assert NAME in out.stdout


def test_usable_from_the_cli(tmp_path, chelsea, fresh_registry):
    photo = tmp_path / "cat.jpg"
    Image.fromarray(chelsea).save(photo)
    assert main(["saliency", str(photo), "--method", NAME, "--target", "285", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "cat_Egyptian_cat_template_gradient_x_input.png").is_file()


def test_blocked_by_attribkit_disable_plugins(tmp_path, monkeypatch, fresh_registry, capsys):
    monkeypatch.setenv("ATTRIBKIT_DISABLE_PLUGINS", "template")
    assert NAME not in attribkit.list_attributors()
    assert "saliency" in attribkit.list_attributors()
    assert "template" not in {p.name for p in attribkit.get_registry().plugins()}
    out = _cli("plugins", env={"ATTRIBKIT_DISABLE_PLUGINS": "template"})
    assert out.returncode == 0 and "template" not in out.stdout
    photo = tmp_path / "cat.jpg"
    Image.new("RGB", (64, 64)).save(photo)
    assert main(["saliency", str(photo), "--method", NAME, "--out", str(tmp_path)]) == 2  # usage (issue 15)
    assert f"unknown attributor {NAME!r}" in capsys.readouterr().err


def _override_distribution(root, entry_point: str = "my_saliency") -> None:
    """A tiny installed distribution declaring ``attribkit_template.override`` as an entry point."""
    info = root / "my_override-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-override\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[attribkit]\n{entry_point} = attribkit_template.override\n"
    )


def test_override_of_a_builtin_by_entry_point_precedence(tmp_path, monkeypatch):
    # Installing the template changes nothing: its override module is not one of its entry points.
    assert attribkit.build_registry().get("attributor", "saliency").plugin == "saliency"
    _override_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = attribkit.build_registry()
    # Entry points load when a name needs them, so the conflict is reported when "saliency" is asked.
    with pytest.warns(attribkit.PluginConflictWarning, match="'my_saliency' and 'saliency'"):
        reg = registry.get("attributor", "saliency")
    assert reg.plugin == "my_saliency" and registry.distributions["my_saliency"] == "my-override"
    from attribkit_template.override import TemplateSaliency

    assert isinstance(reg.factory(tiny_cnn()), TemplateSaliency)
    # Disabling the overriding plugin gives the built-in back.
    assert attribkit.build_registry(disabled=["my_saliency"]).get("attributor", "saliency").plugin == "saliency"


def test_override_seen_by_the_cli_in_a_fresh_process(tmp_path):
    _override_distribution(tmp_path)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = _cli("plugins", env=env)
    assert out.returncode == 0, out.stderr
    section = out.stdout.split("my_saliency  (my-override)")[1].split("\n\n")[0]
    assert "saliency" in section and "template's replacement" in section
    assert "PluginConflictWarning" in out.stderr


def test_override_registered_in_code_wins_without_installing_anything():
    with pytest.warns(attribkit.PluginConflictWarning):
        registry = attribkit.build_registry([("mine", "attribkit_template.override")])
    assert registry.get("attributor", "saliency").plugin == "mine"


def test_template_is_a_complete_distribution():
    """What a plugin author copies: a pyproject with the entry point, a README, the package."""
    from pathlib import Path

    root = Path(template.__file__).resolve().parents[1]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.attribkit]\ntemplate = "attribkit_template.plugin"' in pyproject
    assert (root / "README.md").is_file()
    assert "override" not in textwrap.dedent(pyproject.split("[project.entry-points.attribkit]")[1])
