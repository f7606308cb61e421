"""``attribkit.saliency`` (one photo → maps) and ``attribkit.localise`` for every registered attributor, with
averaging; the one target resolver and its spellings (indices, names, WordNet ids) and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attribkit
from attribkit import SaliencyMaps, TargetError, resolve_targets
from attribkit.errors import OptionError
from attribkit.localisation import crop_maps, photo_saliency
from attribkit.models import ModelInfo, Preprocessing, attach_info
from attribkit.transformers import explains_transformers_only
from conftest import tiny_cnn, tiny_vit

#: Every attributor registered here: built-ins, the Captum bridge, the template plugin.
ATTRIBUTORS = attribkit.build_registry().names("attributor")

#: Options keeping the slow methods quick on a tiny net (their defaults are tested elsewhere).
QUICK = {"captum:integrated_gradients": {"n_steps": 4}, "captum:occlusion": {"window": 8, "stride": 8}}


def small_model(num_classes: int = 10, names: tuple[str, ...] | None = None, *, vit: bool = False) -> torch.nn.Module:
    """The tiny conv net (``vit``: a one-block ViT) in float32, reading 32x32 crops of photos resized to 36."""
    model = (tiny_vit(num_classes, size=32) if vit else tiny_cnn(num_classes)).float().eval()
    prep = Preprocessing(resize=36, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    names = names if names is not None else tuple(f"class {i}" for i in range(num_classes))
    return attach_info(model, ModelInfo("tiny", prep, names))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 60, (45, 60, 3)).astype(np.uint8)
    rgb[10:35, 20:45] = (230, 200, 40)  # an object, so the cut has something to find
    return rgb


def test_every_registered_attributor_is_tested():
    assert {"saliency", "deconvnet", "guided_backprop", "random"} <= set(ATTRIBUTORS)
    assert "template:gradient_x_input" in ATTRIBUTORS and "captum:gradcam" in ATTRIBUTORS


@pytest.mark.parametrize("method", ATTRIBUTORS)
def test_saliency_with_averaging_for_every_attributor(method, photo):
    model = small_model(vit=explains_transformers_only(method))
    maps = attribkit.saliency(model, photo, method=method, top_k=2, smoothgrad=2, ten_crop=True,
                              **QUICK.get(method, {}))
    assert isinstance(maps, SaliencyMaps)
    assert maps.maps.shape == (2, 32, 32) and maps.maps.dtype == np.float32
    assert maps.photo_maps.shape == (2, 45, 60) and maps.photo_maps.dtype == np.float32
    assert np.isfinite(maps.maps).all() and (maps.maps >= 0).all()
    assert len(maps.labels) == len(maps.names) == len(maps.scores) == 2
    assert maps.scores == sorted(maps.scores, reverse=True)


@pytest.mark.parametrize("method", ATTRIBUTORS)
def test_localise_with_the_default_preset_for_every_attributor(method, photo):
    """The default preset asks for 10 crops: every method takes them (the wrapper goes around it)."""
    model = small_model(vit=explains_transformers_only(method))
    (found,) = attribkit.localise(model, photo, attributor=method)
    assert found.mask.shape == (45, 60) and found.saliency.shape == (45, 60)
    assert found.box is None or (0 <= found.box[0] < found.box[2] <= 60 and 0 <= found.box[1] < found.box[3] <= 45)


def test_saliency_is_crop_maps_then_photo_maps(photo):
    model = small_model()
    maps = attribkit.saliency(model, photo, target=[3, 1], ten_crop=True)
    image = maps.image
    attributor = attribkit.create_attributor("saliency", model, ten_crop=True)
    batched = crop_maps(attributor, image.tensor, torch.tensor([[3, 1]]))
    assert batched.shape == (1, 2, 32, 32) and batched.dtype == torch.float32
    np.testing.assert_array_equal(maps.maps, batched[0].numpy())
    for k in range(2):
        np.testing.assert_array_equal(maps.photo_maps[k], photo_saliency(maps.maps[k], image.geometry))
    assert maps.labels == [3, 1] and maps.names == ["class 3", "class 1"]
    with torch.no_grad():
        probs = model(image.tensor).softmax(-1)[0]
    np.testing.assert_allclose(maps.scores, [float(probs[3]), float(probs[1])], rtol=1e-6)


def test_crop_maps_batches_photos_and_classes():
    model = small_model()
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    targets = torch.tensor([[0, 1], [2, 3], [4, 5]])
    attributor = attribkit.create_attributor("deconvnet", model)
    got = crop_maps(attributor, x, targets)
    for b in range(3):
        for k in range(2):
            one = attribkit.saliency_map(attributor.attribute(x[b : b + 1], target=int(targets[b, k])))[0]
            torch.testing.assert_close(got[b, k], one)
    with pytest.raises(TargetError, match=r"\[B, K\]"):
        crop_maps(attributor, x, torch.tensor([0, 1, 2]))


def test_saliency_accepts_paths_pil_images_and_loaded_images(photo, tmp_path):
    from PIL import Image

    model = small_model()
    path = tmp_path / "p.png"
    Image.fromarray(photo).save(path)
    loaded = attribkit.load_image(photo, model)
    want = attribkit.saliency(model, loaded, target=2).maps
    for source in (photo, str(path), path, Image.fromarray(photo)):
        np.testing.assert_array_equal(attribkit.saliency(model, source, target=2).maps, want)


def test_saliency_maps_repr_is_short(photo):
    maps = attribkit.saliency(small_model(), photo, top_k=3)
    text = repr(maps)
    assert text.startswith("SaliencyMaps(labels=[") and "float32[3, 32, 32]" in text
    assert "float32[3, 45, 60]" in text and "array(" not in text and "tensor(" not in text and len(text) < 300


def test_averaging_options_wrap_an_attributor_object_too(photo):
    model = small_model()
    obj = attribkit.create_attributor("saliency", model)
    by_object = attribkit.saliency(model, photo, method=obj, target=1, ten_crop=True, smoothgrad=2)
    by_name = attribkit.saliency(model, photo, method="saliency", target=1, ten_crop=True, smoothgrad=2)
    np.testing.assert_array_equal(by_object.maps, by_name.maps)
    with pytest.raises(OptionError, match="need a method name"):
        attribkit.saliency(model, photo, method=obj, seed=3)
    with pytest.raises(OptionError, match="unknown option 'smoothgrads'"):
        attribkit.saliency(model, photo, smoothgrads=2)


# -- targets: one resolver, every spelling ------------------------------------------------------------------


def imagenet_tiny() -> torch.nn.Module:
    """A tiny net with ImageNet's 1000 classes (so names and WordNet ids are ImageNet's)."""
    return small_model(1000, attribkit.imagenet_classes())


@pytest.mark.parametrize(
    "target, labels",
    [
        (285, [285]),
        ("285", [285]),
        ("Egyptian cat", [285]),
        ("egyptian CAT", [285]),
        ("n02124075", [285]),  # Egyptian cat's WordNet id
        (["n02124075", "tabby", 3], [285, 281, 3]),
        (torch.tensor([285, 281]), [285, 281]),
        (np.array([7, 8]), [7, 8]),
    ],
)
def test_target_spellings(photo, target, labels):
    assert attribkit.saliency(imagenet_tiny(), photo, target=target).labels == labels


@pytest.mark.parametrize(
    "target, error",
    [
        ("egyptian kat", "unknown class 'egyptian kat'.*close matches: Egyptian cat"),
        ("n99999999", "unknown WordNet id 'n99999999'"),
        (1000, "out of range for a model with 1000 classes"),
        (True, "not a bool"),
        (2.5, "integer class indices"),
    ],
)
def test_bad_targets_are_target_errors(photo, target, error):
    with pytest.raises(TargetError, match=error):
        attribkit.saliency(imagenet_tiny(), photo, target=target)


def test_target_and_top_k_together(photo):
    with pytest.raises(TargetError, match="not both"):
        attribkit.saliency(small_model(), photo, target=1, top_k=2)
    with pytest.raises(ValueError, match=r"top_k must be an int in \[1, 10\]"):
        attribkit.saliency(small_model(), photo, top_k=11)


def test_resolver_reads_names_inside_n_by_k_targets():
    classes = ["cat", "dog", "bird"]
    got = resolve_targets([["dog", 0], ["BIRD", "2"]], batch=2, classes=classes)
    assert got.index.tolist() == [[1, 0], [2, 2]] and not got.single
    assert resolve_targets("dog", batch=3, classes=classes).index.tolist() == [[1], [1], [1]]
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]])
    assert resolve_targets(["bird", "cat"], None, scores, classes=classes).index.tolist() == [[2], [0]]
    with pytest.raises(TargetError, match="close matches: dog"):
        resolve_targets("dgo", batch=1, classes=classes)
    with pytest.raises(TargetError, match="out of range for a model with 3 classes"):
        resolve_targets([[0, 3]], batch=1, classes=classes)
    # Without the model's classes, names cannot be read: the message says so.
    with pytest.raises(TargetError, match="class names need the model's classes"):
        resolve_targets("dog", batch=1)
    with pytest.raises(TargetError, match="needs the model's class scores"):
        resolve_targets(None, batch=1)


def test_wnids_are_loaded_only_when_a_target_looks_like_one():
    calls = []

    def wnids():  # type: ignore[no-untyped-def]
        calls.append(1)
        return ["n00000001", "n00000002"]

    classes = ["a", "b"]
    assert resolve_targets(["a", "b"], batch=2, classes=classes, wnids=wnids).index.tolist() == [[0], [1]]
    assert calls == []
    assert resolve_targets("n00000002", batch=1, classes=classes, wnids=wnids).index.tolist() == [[1]]
    assert calls == [1]


def test_model_info_and_the_study_read_wnids_through_the_resolver(default_model):
    from attribkit.study._evaluate import class_of

    info = attribkit.model_info(default_model)
    assert info.class_index("n02124075") == info.class_index("Egyptian cat") == 285
    assert class_of(default_model, "n02124075") == 285
    assert info.targets(["Egyptian cat", "n02123045"], batch=2).index.tolist() == [[285], [281]]
    # A model with other classes has no WordNet ids: the id is an unknown class.
    with pytest.raises(TargetError, match="unknown WordNet id"):
        attribkit.model_info(small_model()).class_index("n02124075")


def test_cli_saliency_takes_averaging_for_any_method(tmp_path, chelsea, capsys):
    from PIL import Image

    from attribkit.cli import main

    path = tmp_path / "cat.png"
    Image.fromarray(chelsea).save(path)
    assert main(["saliency", str(path), "--out", str(tmp_path), "--method", "random", "--ten-crop",
                 "--option", "smoothgrad=2", "--target", "n02124075"]) == 0
    # Issue 15: the file name carries the averaging (was cat_Egyptian_cat_random.png for any averaging).
    assert [p.name for p in tmp_path.glob("cat_*.png")] == ["cat_Egyptian_cat_random_tencrop_smoothgrad2.png"]
    assert main(["saliency", str(path), "--out", str(tmp_path), "--option", "smoothgrads=2"]) == 2
    assert "unknown option 'smoothgrads'" in capsys.readouterr().err
