"""``attribkit.localise``: boxes land on the photo exactly, presets keep their values, CLI parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attribkit
from attribkit.data._image import preprocess
from attribkit.localisation._maps import photo_saliency
from attribkit.localisation._pipeline import localise_maps
from attribkit.localisation._presets import MAP_PRESETS, resolve_options
from attribkit.metrics import iou
from attribkit.models import ModelInfo, Preprocessing, attach_info


class InputMagnitude:
    """A stand-in attributor whose map is ``|input|``: hot where the photo differs from mid-grey.

    It makes the saliency map's content known, so the test checks geometry, not a network's opinion.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def attribute(self, inputs, target=None, *, top_k=None, additional_forward_args=None):  # type: ignore[no-untyped-def]
        k = torch.as_tensor(target).shape[-1]
        return inputs.unsqueeze(1).expand(-1, k, -1, -1, -1).clone()


@pytest.fixture
def grey_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 6))
    prep = Preprocessing(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return attach_info(model, ModelInfo("grey", prep, tuple(f"class{i}" for i in range(6))))


def photo_with_object(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    rgb = np.full((height, width, 3), 128, np.uint8) + rng.integers(-6, 7, (height, width, 3)).astype(np.uint8)
    x0, y0, x1, y1 = box
    rgb[y0:y1, x0:x1] = (250, 20, 20)
    return rgb


@pytest.mark.parametrize(
    ("height", "width", "box"),
    [
        (500, 300, (90, 200, 210, 330)),  # portrait
        (300, 500, (180, 90, 330, 210)),  # landscape
        (30, 40, (14, 9, 27, 21)),  # tiny: upsampled to 256 before the crop
    ],
)
@pytest.mark.parametrize("localiser", ["graphcut", "threshold"])
def test_boxes_map_back_to_the_photo(grey_model, height, width, box, localiser):
    rgb = photo_with_object(height, width, box)
    results = attribkit.localise(grey_model, rgb, target=2, attributor=InputMagnitude(grey_model),
                                 localiser=localiser, preset="paper" if localiser == "graphcut" else None)
    (r,) = results
    assert r.label == 2 and r.mask.shape == (height, width) and r.saliency.shape == (height, width)
    assert iou(r.box, box) >= 0.8, (r.box, box)


@pytest.mark.parametrize("localiser", ["graphcut", "threshold"])
def test_a_photo_above_the_pixel_cap_is_localised_on_its_copy_and_boxed_in_its_own_pixels(grey_model, localiser):
    """Issue 20: masks and maps live on the kept copy (at most MAX_PHOTO_PIXELS), boxes on the photo."""
    height, width, box = 2100, 2800, (1200, 700, 1700, 1500)  # 5.9 Mpx
    rgb = photo_with_object(height, width, box)
    (r,) = attribkit.localise(grey_model, rgb, target=2, attributor=InputMagnitude(grey_model),
                              localiser=localiser, preset="paper" if localiser == "graphcut" else None)
    kept = r.mask.shape
    assert kept[0] * kept[1] <= attribkit.MAX_PHOTO_PIXELS and r.saliency.shape == kept
    assert abs(kept[1] / kept[0] - width / height) < 1e-3
    assert iou(r.box, box) >= 0.9, (r.box, box)


@pytest.mark.parametrize(("height", "width"), [(500, 300), (300, 500), (30, 40), (224, 224)])
def test_photo_saliency_follows_the_crop_geometry(height, width):
    _, geometry = preprocess(np.zeros((height, width, 3), np.uint8), Preprocessing())
    crop_map = np.zeros((224, 224), np.float32)
    crop_map[50:150, 60:120] = 1.0
    on_photo = photo_saliency(crop_map, geometry)
    hot = np.argwhere(on_photo > 0.5)
    found = (hot[:, 1].min(), hot[:, 0].min(), hot[:, 1].max() + 1, hot[:, 0].max() + 1)
    # Within one photo pixel of the box that Geometry.to_photo (the reference) gives, on every side.
    assert np.abs(np.subtract(found, geometry.to_photo((60, 50, 120, 150)))).max() <= 1
    # Outside the model's view the map is unknown (NaN), inside it is known.
    x0, y0, x1, y1 = geometry.crop_in_photo()
    assert np.isfinite(on_photo[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]).all()
    if x0 > 1:
        assert np.isnan(on_photo[:, 0]).all()


def test_paper_preset_keeps_the_papers_values():
    maps, loc = resolve_options("paper", "graphcut", {})
    # The paper's maps: the mean over 10 crops and reflections, crops 224/256 of the side (section 3).
    assert maps == {"ten_crop": True, "crop_fraction": 224 / 256, "smoothgrad": 0, "scales": (1.0,)}
    assert (loc["foreground_quantile"], loc["background_quantile"]) == (0.95, 0.30)
    assert (loc["components"], loc["smoothness"], loc["iterations"], loc["sure_seeds"]) == (5, 50.0, 1, True)
    assert loc["component"] == "largest" and loc["blur"] == 0.0
    # Explicit options win over a preset, and presets never leak into another localiser.
    _, loc = resolve_options("paper", "graphcut", {"iterations": 5})
    assert loc["iterations"] == 5
    assert resolve_options("paper", "centre", {}) == (
        {"ten_crop": True, "crop_fraction": 224 / 256, "smoothgrad": 0, "scales": (1.0,)}, {})
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_options("fancy", "graphcut", {})


def test_presets_hold_only_constants():
    """No per-image logic: a preset is plain data, the same for every photo and class."""
    registry = attribkit.build_registry()
    localiser_presets = [p for n in registry.names("localiser") for p in registry.get("localiser", n).presets.values()]
    assert localiser_presets, "graphcut registers its presets"
    for preset in [*MAP_PRESETS.values(), *localiser_presets]:
        for value in preset.values():
            assert isinstance(value, (bool, int, float, str, tuple, type(None)))


def test_localise_is_its_two_stages(grey_model):
    rgb = photo_with_object(200, 260, (100, 60, 170, 140))
    image = attribkit.load_image(rgb, grey_model)
    attributor = InputMagnitude(grey_model)
    direct = attribkit.localise(grey_model, image, top_k=3, attributor=attributor, localiser="threshold")
    # The default preset's averaging (10 crops) wraps attributor objects too.
    maps = attribkit.saliency(grey_model, image, top_k=3, method=attributor, ten_crop=True)
    staged = localise_maps(grey_model, image, maps, attribkit.create_localiser("threshold"))
    assert [r.box for r in direct] == [r.box for r in staged]
    assert [r.label for r in direct] == maps.labels and len(direct) == 3
    assert maps.scores == sorted(maps.scores, reverse=True)


def test_bad_arguments(grey_model):
    rgb = photo_with_object(100, 100, (40, 40, 60, 60))
    with pytest.raises(ValueError, match="not both"):
        attribkit.localise(grey_model, rgb, target=1, top_k=2, attributor=InputMagnitude(grey_model))
    with pytest.raises(ValueError, match="top_k"):
        attribkit.localise(grey_model, rgb, top_k=99, attributor=InputMagnitude(grey_model))
    with pytest.raises(TypeError, match="options"):
        attribkit.localise(grey_model, rgb, attributor=InputMagnitude(grey_model),
                           localiser=attribkit.create_localiser("centre"), blur=0.1)
    with pytest.raises(attribkit.ImageError):
        attribkit.localise(grey_model, "/nonexistent.jpg")


@pytest.mark.slow
def test_default_model_localises_the_cat(default_model, chelsea):
    (r,) = attribkit.localise(default_model, chelsea, target="Egyptian cat")
    # The cat fills the photo but for a strip of background on the right (boxed by hand).
    assert iou(r.box, (0, 0, 395, 300)) >= 0.5


def test_default_and_gradient_presets_keep_their_values():
    """The values chosen by cross-validation on the 500 ILSVRC dev photos (docs/localisation.md)."""
    from attribkit.localisation import PIPELINES

    assert (PIPELINES["default"].attributor, PIPELINES["default"].localiser) == ("gradcam", "threshold")
    assert (PIPELINES["gradient"].attributor, PIPELINES["gradient"].localiser) == ("saliency", "graphcut")
    assert (PIPELINES["paper"].attributor, PIPELINES["paper"].localiser) == ("saliency", "graphcut")
    maps, loc = resolve_options("default", "threshold", {}, attributor="gradcam")
    assert maps == {} and loc == {"fraction": 0.2, "blur": 0.0, "component": "largest"}
    maps, loc = resolve_options("gradient", "graphcut", {}, attributor="saliency")
    assert maps == {} and loc == {"component": "all", "background_quantile": 0.15, "smoothness": 150.0,
                                  "refine": False}
    # localise without a method or localiser takes the preset's (its default preset: "default").
    assert attribkit.localisation.pipeline("default") == PIPELINES["default"]
    assert (attribkit.Recipe().attributor, attribkit.Recipe().localiser) == ("gradcam", "threshold")


def test_paper_preset_maps_are_the_10_crop_average_of_the_gradient(tiny_model):
    """The paper averages the saliency maps of 10 crops and reflections (section 3): the preset's
    attributor is that average of the plain gradient, not one gradient."""
    from attribkit.attribution import TenCrop

    resolved = attribkit.Recipe(preset="paper").resolve()
    attributor = resolved.attributor_for(tiny_model)
    assert isinstance(attributor, TenCrop) and attributor.crop_fraction == 224 / 256
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    plain = attribkit.create_attributor("saliency", tiny_model)
    expected = TenCrop(plain, crop_fraction=224 / 256).attribute(x, target=1)
    assert torch.allclose(attributor.attribute(x, target=1), expected)
    assert not torch.allclose(plain.attribute(x, target=1), expected)
