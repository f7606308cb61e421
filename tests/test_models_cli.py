"""`--model NAME --weights FILE --classes FILE` end to end: timm, torchvision and TorchScript variants."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from attribkit.cli import main
from attribkit.cli._outputs import model_suffix  # the model in the file names (issue 20)

NAMES = [f"bird {i}" for i in range(10)]


@pytest.fixture
def photo(tmp_path, chelsea):
    path = tmp_path / "photo.jpg"
    Image.fromarray(chelsea).save(path)
    return path


@pytest.fixture
def names(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return path


def _run(photo, tmp_path, *args: str) -> list[str]:
    out = tmp_path / "out"
    assert main(["saliency", str(photo), "--out", str(out), "--device", "cpu", *args]) == 0
    return sorted(p.name for p in out.glob("*.png"))


def test_timm_safetensors_with_class_names(tmp_path, photo, names):
    import timm

    torch.manual_seed(0)
    save_file(timm.create_model("resnet18", num_classes=10).state_dict(), str(tmp_path / "my10.safetensors"))
    pngs = _run(photo, tmp_path, "--model", "timm:resnet18", "--weights", str(tmp_path / "my10.safetensors"),
                "--classes", str(names), "--target", "bird 3")
    assert pngs == [f"photo_bird_3_saliency{model_suffix('timm:resnet18', str(tmp_path / 'my10.safetensors'))}.png"]


def test_torchvision_checkpoint(tmp_path, photo, names):
    import torchvision

    torch.save({"state_dict": torchvision.models.squeezenet1_1(num_classes=10).state_dict()}, tmp_path / "sq.pth")
    pngs = _run(photo, tmp_path, "--model", "squeezenet1_1", "--weights", str(tmp_path / "sq.pth"),
                "--classes", str(names), "--target", "7")
    assert pngs == [f"photo_bird_7_saliency{model_suffix('squeezenet1_1', str(tmp_path / 'sq.pth'))}.png"]


def test_torchscript_file(tmp_path, photo, names):
    import timm

    net = timm.create_model("test_resnet", num_classes=10).eval()
    torch.jit.save(torch.jit.trace(net, torch.zeros(1, 3, 160, 160)), str(tmp_path / "net.pt"))
    pngs = _run(photo, tmp_path, "--model", "timm:test_resnet", "--weights", str(tmp_path / "net.pt"),
                "--classes", str(names), "--target", "bird 0")
    assert pngs == [f"photo_bird_0_saliency{model_suffix('timm:test_resnet', str(tmp_path / 'net.pt'))}.png"]


def test_wrong_weights_for_the_default_model_is_one_line(tmp_path, photo, capsys):
    import timm

    torch.save(timm.create_model("test_resnet").state_dict(), tmp_path / "wrong.pth")
    assert main(["saliency", str(photo), "--out", str(tmp_path), "--weights", str(tmp_path / "wrong.pth")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "wrong.pth does not fit efficientnet_lite0" in err


def test_class_names_file_of_the_wrong_length(tmp_path, photo, capsys):
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    assert main(["saliency", str(photo), "--out", str(tmp_path), "--classes", str(tmp_path / "three.txt")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "three.txt names 3 classes but the model has 1000 outputs" in err
