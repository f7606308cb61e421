"""The command line: outputs, exit codes and messages a shell user expects."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from PIL import Image

from attribkit.cli import main


@pytest.fixture
def cat_file(tmp_path, chelsea):
    path = tmp_path / "chelsea.jpg"
    Image.fromarray(chelsea).save(path)
    return path


def test_saliency_writes_a_png_per_class(tmp_path, cat_file, capsys):
    out = tmp_path / "out"
    assert main(["saliency", str(cat_file), "--out", str(out), "--top-k", "2"]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2
    assert all(Image.open(p).size[0] > 500 for p in pngs)
    assert str(pngs[0]) in capsys.readouterr().out


def test_saliency_with_a_class_name(tmp_path, cat_file):
    out = tmp_path / "out"
    assert main(["saliency", str(cat_file), "--out", str(out), "--target", "espresso"]) == 0
    assert [p.name for p in out.glob("*.png")] == ["chelsea_espresso_saliency.png"]


def test_unknown_class_is_a_usage_error(tmp_path, cat_file, capsys):
    assert main(["saliency", str(cat_file), "--out", str(tmp_path), "--target", "expresso"]) == 2
    assert "close matches: espresso" in capsys.readouterr().err


def test_missing_file_is_reported_and_skipped(tmp_path, capsys):
    # Issue 15: a missing photo no longer aborts the batch (was exit 2 before any photo was done).
    assert main(["saliency", str(tmp_path / "nope.jpg"), "--out", str(tmp_path)]) == 1
    assert "skipping " + str(tmp_path / "nope.jpg") + ": no such file" in capsys.readouterr().err


def test_unreadable_image_fails_without_traceback(tmp_path, cat_file, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert main(["saliency", str(bad), str(cat_file), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.jpg: not a readable image" in err and "Traceback" not in err
    assert len(list((tmp_path / "o").glob("*.png"))) == 1  # the good image is still done


def test_unknown_method_and_model(tmp_path, cat_file, capsys):
    # Issue 15: an unknown method and a model without weights are usage errors (2), no longer failures (1).
    assert main(["saliency", str(cat_file), "--out", str(tmp_path), "--method", "salency"]) == 2
    assert "Did you mean 'saliency'" in capsys.readouterr().err
    assert main(["saliency", str(cat_file), "--out", str(tmp_path), "--model", "resnet50"]) == 2
    assert "never downloads" in capsys.readouterr().err


def test_out_must_be_a_directory(tmp_path, cat_file, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["saliency", str(cat_file), "--out", str(f)]) == 2


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["saliency"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_plugins_and_models_listings(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "saliency  (attribkit)" in out and "attributor saliency" in out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite0  (default" in out and "resnet50" in out


def test_demo_writes_pngs(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--photos", "coffee", "--steps", "saliency"]) == 0
    assert (tmp_path / "coffee_saliency.png").is_file()
    assert main(["demo", "--out", str(tmp_path), "--photos", "cofee"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--steps", "nope"]) == 2


def test_console_script_is_installed():
    exe = shutil.which("attribkit") or shutil.which("attribkit", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the attribkit console script is not on PATH"
    result = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("attribkit ")
