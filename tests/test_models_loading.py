"""Models by name with their own preprocessing; weights files of every kind; class counts and names."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from attribkit import ModelError, class_scores
from attribkit.models import available_models, load_model, model_info
from attribkit.models._efficientnet_lite import weights_path


def _one_line(info: pytest.ExceptionInfo) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


def test_torchvision_names_take_the_weights_enum_transforms():
    info = model_info(load_model("efficientnet_b3", weights="random"))
    p = info.preprocessing
    assert (p.resize, p.crop, p.interpolation) == (320, 300, "bicubic")
    assert p.mean == pytest.approx((0.485, 0.456, 0.406))
    assert info.class_names[0] == "tench"
    assert model_info(load_model("torchvision:squeezenet1_1", weights="random")).name == "torchvision:squeezenet1_1"


@pytest.mark.parametrize(
    "name, resize, crop, interpolation, mean",
    [
        ("timm:test_vit", 168, 160, "bicubic", (0.5, 0.5, 0.5)),  # crop_pct 0.95: floor(160 / 0.95)
        ("timm:test_resnet", 168, 160, "bilinear", (0.5, 0.5, 0.5)),
        ("timm:resnet18", 235, 224, "bicubic", (0.485, 0.456, 0.406)),
        ("timm:vit_tiny_patch16_224", 248, 224, "bicubic", (0.5, 0.5, 0.5)),  # crop_pct 0.9
    ],
)
def test_timm_names_take_their_pretrained_cfg(name, resize, crop, interpolation, mean):
    p = model_info(load_model(name, weights="random")).preprocessing
    assert (p.resize, p.crop, p.interpolation) == (resize, crop, interpolation)
    assert p.mean == pytest.approx(mean)


def test_available_models_lists_both_families():
    names = available_models()
    assert "efficientnet_lite0" in names and "resnet50" in names and "timm:convnext_tiny" in names
    assert available_models("timm:test_vit?") == ["timm:test_vit2", "timm:test_vit3", "timm:test_vit4"]


def test_unknown_timm_name_suggests_close_ones():
    with pytest.raises(ModelError, match=r"unknown model 'timm:test_vitt'.*Did you mean timm:test_vit") as info:
        load_model("timm:test_vitt", weights="random")
    _one_line(info)
    with pytest.raises(ModelError, match=r"known prefixes: torchvision:, timm:"):
        load_model("keras:resnet50", weights="random")


def _ten_class(name: str = "timm:test_resnet") -> torch.nn.Module:
    import timm

    torch.manual_seed(0)
    return timm.create_model(name.removeprefix("timm:"), pretrained=False, num_classes=10).eval()


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "model_state_dict", "module_prefix",
                                  "safetensors"])
def test_every_weights_format_with_ten_classes(tmp_path, wrap):
    source = _ten_class()
    state = source.state_dict()
    path = tmp_path / ("w.safetensors" if wrap == "safetensors" else "w.pth")
    if wrap == "plain":
        torch.save(state, path)
    elif wrap == "module_prefix":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    elif wrap == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({wrap: state, "epoch": 3, "optimizer": {"lr": 0.1}}, path)
    model = load_model("timm:test_resnet", weights=path)
    _same_weights(model, source)
    info = model_info(model)
    assert info.class_names == tuple(str(i) for i in range(10))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


def test_torchvision_ten_class_checkpoint(tmp_path):
    import torchvision

    source = torchvision.models.squeezenet1_1(num_classes=10).eval()
    torch.save({"model": source.state_dict()}, tmp_path / "sq.pt")
    model = load_model("squeezenet1_1", weights=tmp_path / "sq.pt")
    _same_weights(model, source)
    assert len(model_info(model).class_names) == 10


def test_torchscript_archive(tmp_path):
    source = _ten_class()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(source, torch.zeros(1, 3, 64, 64)), str(path))
    model = load_model("timm:test_resnet", weights=path, classes=[f"c{i}" for i in range(10)])
    assert isinstance(model, torch.jit.ScriptModule)
    assert model_info(model).preprocessing.crop == 160 and model_info(model).class_names[3] == "c3"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(class_scores(model, x), source(x))


def test_class_names_from_a_file(tmp_path):
    source = _ten_class()
    torch.save(source.state_dict(), tmp_path / "w.pth")
    (tmp_path / "names.txt").write_text("\n".join(f"bird {i}" for i in range(10)) + "\n\n")
    model = load_model("timm:test_resnet", weights=tmp_path / "w.pth", classes=tmp_path / "names.txt")
    assert model_info(model).class_names[4] == "bird 4"
    assert model_info(model).class_index("bird 7") == 7
    (tmp_path / "short.txt").write_text("a\nb\n")
    with pytest.raises(ModelError, match=r"short.txt names 2 classes but the model has 10 outputs") as info:
        load_model("timm:test_resnet", weights=tmp_path / "w.pth", classes=tmp_path / "short.txt")
    _one_line(info)
    with pytest.raises(ModelError, match=r"cannot read class names file .*missing.txt"):
        load_model("timm:test_resnet", weights=tmp_path / "w.pth", classes=tmp_path / "missing.txt")


def test_bad_files_are_one_line_naming_the_file(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save(_ten_class("timm:test_vit").state_dict(), wrong)
    with pytest.raises(ModelError, match=r"wrong.pth does not fit timm:test_resnet: it has no classifier weight 'fc.weight'") as info:
        load_model("timm:test_resnet", weights=wrong)
    _one_line(info)
    torch.save({k: v for k, v in _ten_class().state_dict().items() if "layer1" not in k}, wrong)
    with pytest.raises(ModelError, match=r"does not fit timm:test_resnet: keys \d+ missing \(layer1") as info:
        load_model("timm:test_resnet", weights=wrong)
    _one_line(info)
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 1, "weights": {"a": 1}}, nested)
    with pytest.raises(ModelError, match=r"nested.pth is a dict whose entry 'epoch' is a int") as info:
        load_model("timm:test_resnet", weights=nested)
    _one_line(info)
    pickled = tmp_path / "pickled.pth"
    torch.save({"state_dict": _ten_class()}, pickled)  # a whole module: refused by weights_only=True
    with pytest.raises(ModelError, match=r"cannot read weights file .*pickled.pth .*weights_only=True") as info:
        load_model("timm:test_resnet", weights=pickled)
    _one_line(info)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 20)
    with pytest.raises(ModelError, match=r"cannot read .safetensors file .*junk.safetensors") as info:
        load_model("timm:test_resnet", weights=junk)
    _one_line(info)


def test_wrong_file_for_the_default_model_is_one_line(tmp_path):
    wrong = tmp_path / "r.pth"
    torch.save(_ten_class().state_dict(), wrong)
    with pytest.raises(ModelError, match=r"r.pth does not fit efficientnet_lite0") as info:
        load_model(weights=wrong)
    _one_line(info)


def test_default_model_weights_as_a_ten_class_file(tmp_path):
    import timm

    source = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10).eval()
    save_file(source.state_dict(), str(tmp_path / "lite10.safetensors"))
    model = load_model(weights=tmp_path / "lite10.safetensors")
    _same_weights(model, source)
    assert model_info(model).preprocessing.mean == pytest.approx((127 / 255,) * 3)
    assert weights_path().is_file()


def test_own_module_with_checkpoint_and_class_names(tmp_path):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "c.pt")
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    model = load_model(other, weights=tmp_path / "c.pt", classes=["a", "b", "c"])
    _same_weights(model, net)
    assert model_info(model).class_names == ("a", "b", "c")


def test_a_timm_module_passed_in_keeps_its_own_preprocessing():
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    p = model_info(vit).preprocessing  # without load_model: read from its pretrained_cfg
    assert (p.resize, p.crop, p.interpolation, p.mean) == (248, 224, "bicubic", (0.5, 0.5, 0.5))
    assert model_info(load_model(vit)).preprocessing == p
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    assert model_info(plain).preprocessing.mean == (0.485, 0.456, 0.406)


def test_distilled_deit_ten_classes(tmp_path):
    import timm

    source = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, num_classes=10).eval()
    torch.save({"model": source.state_dict()}, tmp_path / "deit.pth")  # timm's DeiT checkpoints say "model"
    model = load_model("timm:deit_tiny_distilled_patch16_224", weights=tmp_path / "deit.pth")
    _same_weights(model, source)
    assert len(model_info(model).class_names) == 10
