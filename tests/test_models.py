"""The default offline model, torchvision models with local weights, user modules."""

from __future__ import annotations

import pytest
import torch

import attribkit
from attribkit.models import ModelError, imagenet_classes, load_model, model_info


def top1(model: torch.nn.Module, rgb) -> str:
    image = attribkit.load_image(rgb, model)
    with torch.no_grad():
        scores = model(image.tensor)
    assert scores.shape == (1, 1000)
    return model_info(model).class_names[int(scores.argmax())]


def test_default_model_is_an_eval_imagenet_classifier(default_model):
    assert not default_model.training
    info = model_info(default_model)
    assert info.name == "efficientnet_lite0"
    assert len(info.class_names) == 1000 and info.class_names[285] == "Egyptian cat"
    assert info.preprocessing.mean == pytest.approx((127 / 255,) * 3)
    assert info.preprocessing.std == pytest.approx((128 / 255,) * 3)
    assert sum(p.numel() for p in default_model.parameters()) == pytest.approx(4.65e6, rel=0.02)


def test_default_model_on_real_photos(default_model, chelsea, coffee):
    assert top1(default_model, chelsea) in {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
    assert top1(default_model, coffee) == "espresso"


def test_outputs_are_unnormalised_scores(default_model, coffee):
    image = attribkit.load_image(coffee, default_model)
    with torch.no_grad():
        scores = default_model(image.tensor)
    assert not torch.allclose(scores.sum(), torch.tensor(1.0))  # logits, not probabilities
    assert scores.min() < 0


def test_torchvision_model_without_weights_says_how_to_supply_them():
    with pytest.raises(ModelError, match=r"never downloads.*weights="):
        load_model("resnet18")


def test_unknown_model_suggests_names():
    with pytest.raises(ModelError, match="Did you mean resnet50"):
        load_model("resnet5O")


def test_torchvision_model_from_a_local_weights_file(tmp_path):
    random = load_model("resnet18", weights="random")
    path = tmp_path / "r18.pth"
    torch.save(random.state_dict(), path)
    loaded = load_model("resnet18", weights=path)
    assert not loaded.training
    for a, b in zip(random.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert model_info(loaded).name == "resnet18"
    assert model_info(loaded).preprocessing.mean == (0.485, 0.456, 0.406)


def test_bad_weights_files(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model("resnet18", weights=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read"):
        load_model("resnet18", weights=junk)
    wrong = tmp_path / "wrong.pth"
    torch.save(load_model("alexnet", weights="random").state_dict(), wrong)
    with pytest.raises(ModelError, match="does not fit"):
        load_model("resnet18", weights=wrong)


def test_user_module_gets_default_info():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 1000)).train()
    model = load_model(net)
    assert model is net and not model.training
    assert model_info(model).class_names == imagenet_classes()


def test_class_index_by_name_index_and_close_matches(default_model):
    info = model_info(default_model)
    assert info.class_index("Egyptian cat") == 285
    assert info.class_index("egyptian CAT") == 285
    assert info.class_index(285) == 285 and info.class_index("285") == 285
    with pytest.raises(ValueError, match="close matches: .*Egyptian cat"):
        info.class_index("egyptian kat")
    with pytest.raises(ValueError, match="out of range"):
        info.class_index(1000)
