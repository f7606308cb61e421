"""Model faults a reliability probe found (issue 20, item 8): ImageNet's names on a 10-class module,
TorchScript files that return a tuple or are not classifiers, class-names files with a BOM or duplicates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import attribkit
from attribkit import ModelError, TargetError
from attribkit.cli import main
from attribkit.models import load_model, model_info


def _ten_class_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=4), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 10))


class _NoLayers(torch.nn.Module):
    """A classifier with no Linear/Conv2d to size by: 10 classes, found only by running it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3)) @ self.weight


class _Pair(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = _ten_class_net()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.net(x)
        return scores, scores.softmax(1)


class _Features(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)  # [N, 4, h, w]: a feature map, not class scores


def _traced(module: torch.nn.Module, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module.eval(), torch.zeros(1, 3, 64, 64), strict=False), str(path))
    return str(path)


# A 10-class module never gets ImageNet's names -------------------------------------------------------


@pytest.mark.parametrize("net", [_ten_class_net, _NoLayers], ids=["classifier layer", "no layers"])
def test_own_ten_class_module_gets_index_names(net):
    model = load_model(net())
    assert model_info(model).class_names == tuple(str(i) for i in range(10))
    with pytest.raises(TargetError, match="goldfish"):
        model_info(model).class_index("goldfish")


def test_own_ten_class_module_without_load_model_gets_index_names():
    model = _ten_class_net().eval()
    assert model_info(model).class_names == tuple(str(i) for i in range(10))
    photo = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(TargetError, match="goldfish"):
        attribkit.saliency(model, photo, target="goldfish")
    maps = attribkit.saliency(model, photo, target=8)
    assert maps.names == ["8"]  # not "hen"


def test_a_timm_model_passed_in_with_ten_classes_gets_index_names():
    import timm

    model = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    assert model_info(model).class_names == tuple(str(i) for i in range(10))
    assert model_info(timm.create_model("test_resnet", pretrained=False)).class_names[1] == "goldfish"


def test_names_given_still_win_and_1000_classes_stay_imagenet():
    assert model_info(load_model(_ten_class_net(), classes=list("abcdefghij"))).class_names[8] == "i"
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 1000))
    assert model_info(load_model(net)).class_names[1] == "goldfish"


# TorchScript -------------------------------------------------------------------------------------------


def test_torchscript_returning_a_tuple_loads_by_name_with_output(tmp_path):
    path = _traced(_Pair(), tmp_path / "pair.pt")
    with pytest.raises(ModelError, match=r"pair.pt returned a tuple.*output=") as info:
        load_model("timm:test_resnet", weights=path)
    assert "\n" not in str(info.value)
    model = load_model("timm:test_resnet", weights=path, output=0)
    assert len(model_info(model).class_names) == 10
    x = torch.randn(1, 3, 64, 64)
    assert attribkit.class_scores(model, x).shape == (1, 10)


def test_torchscript_returning_a_tuple_from_the_command_line_with_output(tmp_path, capsys):
    """The error's advice works on the command line too: ``--output 0``."""
    from PIL import Image

    path = _traced(_Pair(), tmp_path / "pair.pt")
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(photo)
    args = ["saliency", str(photo), "--model", "timm:test_resnet", "--weights", path, "--smooth", "0",
            "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    assert "--output 0" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--output", "0"]) == 0
    assert list((tmp_path / "b").glob("p_*.png"))


def test_a_non_classifier_torchscript_error_names_the_file(tmp_path):
    path = _traced(_Features(), tmp_path / "features.pt")
    with pytest.raises(ModelError, match=r"features.pt returned scores \(1, 4, \d+, \d+\)") as info:
        load_model("timm:test_resnet", weights=path)
    assert "\n" not in str(info.value)


# Class-names files -------------------------------------------------------------------------------------


def test_class_names_file_with_a_bom(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(f"bird {i}" for i in range(10)) + "\n", encoding="utf-8-sig")
    model = load_model(_ten_class_net(), classes=path)
    assert model_info(model).class_names[0] == "bird 0"
    assert model_info(model).class_index("bird 0") == 0


def test_class_names_file_with_a_duplicate_is_one_line_naming_it(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("\n".join(["cat", "dog", *(f"c{i}" for i in range(7)), "Cat"]) + "\n")
    with pytest.raises(ModelError, match=r"dup.txt names 'Cat' twice \(lines 1 and 10\)") as info:
        load_model(_ten_class_net(), classes=path)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match=r"classes names 'a' twice \(entries 1 and 3\)"):
        load_model(torch.nn.Linear(2, 3), classes=["a", "b", "a"])


def test_cli_class_names_file_with_a_duplicate_is_a_usage_error(tmp_path, chelsea, capsys):
    from PIL import Image

    Image.fromarray(chelsea).save(tmp_path / "photo.jpg")
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["tench"] * 2 + [str(i) for i in range(998)]) + "\n")
    assert main(["saliency", str(tmp_path / "photo.jpg"), "--out", str(tmp_path / "out"),
                 "--classes", str(names)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "names.txt names 'tench' twice (lines 1 and 2)" in err
