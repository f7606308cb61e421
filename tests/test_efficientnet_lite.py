"""The default model is built in plain torch.nn (no timm import); it must be timm's
``tf_efficientnet_lite0`` to float tolerance: same state-dict keys, same logits, same gradients, same
top-1 on real photos."""

from __future__ import annotations

import pytest
import torch

import attribkit
from attribkit.models._efficientnet_lite import efficientnet_lite0, lite0_state, translate_state_dict, weights_path


@pytest.fixture(scope="module")
def pair():
    import timm

    ours = efficientnet_lite0()
    ours.load_state_dict(lite0_state())
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    reference.load_state_dict(translate_state_dict(state, reference))  # the translation timm's layout needs
    return ours.eval(), reference.eval()


def test_same_state_dict_keys_and_shapes(pair):
    ours, reference = pair
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}


@pytest.mark.parametrize("size", [(224, 224), (225, 301), (97, 150)])  # odd sizes: TF "same" padding
def test_same_logits(pair, size):
    ours, reference = pair
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


def test_same_input_gradient(pair):
    ours, reference = pair
    grads = []
    for model in pair:
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1), requires_grad=True)
        model(x)[0, 285].backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)


def test_same_module_names_where_they_matter(pair):
    """Grad-CAM's default layer, the sanity checks' layer names and the rules' ReLU6 modules."""
    ours, reference = pair
    mine = dict(ours.named_modules())
    kinds = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear, torch.nn.ReLU6)
    for name, module in reference.named_modules():
        for kind in kinds:
            if isinstance(module, kind):
                assert isinstance(mine.get(name), kind), name
    assert isinstance(mine["bn2"].act, torch.nn.ReLU6) and mine["bn2"].act.inplace


def test_ten_classes_keep_the_head_size():
    assert efficientnet_lite0(10).classifier.out_features == 10


@pytest.mark.parametrize("photo, label", [("chelsea", "tiger cat"), ("coffee", "espresso")])
def test_top1_on_real_photos_unchanged(pair, default_model, request, photo, label):
    _, reference = pair
    image = attribkit.load_image(request.getfixturevalue(photo), default_model)
    with torch.no_grad():
        ours = default_model(image.tensor)
        theirs = reference(image.tensor)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    names = attribkit.model_info(default_model).class_names
    assert names[int(ours.argmax())] == names[int(theirs.argmax())] == label


def test_a_half_precision_file_for_the_default_model_loads_as_float32(tmp_path, default_model):
    """The default model takes the file's tensors without copying (start-up): they are still cast."""
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in default_model.state_dict().items()},
               tmp_path / "half.pth")
    model = attribkit.load_model(weights=tmp_path / "half.pth")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        x = torch.zeros(1, 3, 224, 224)
        torch.testing.assert_close(model(x), default_model(x), rtol=1e-2, atol=1e-2)
