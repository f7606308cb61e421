"""Non-tensor outputs through the whole pipeline: a Hugging Face ViT (built from a small random config,
nothing downloaded; skipped when ``transformers`` is not installed) and a tuple-output timm-style model
through ``saliency``, ``localise``, the rules and a study."""

from __future__ import annotations

import pytest
import torch

import attribkit
from attribkit.models import model_info
from attribkit.study import run_study

LABELS = ["cat", "dog", "cup"]


@pytest.fixture(scope="module")
def hf_vit():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=3,
                                    id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    return attribkit.load_model(transformers.ViTForImageClassification(config))


class Pair(torch.nn.Module):
    """A classifier returning ``(logits, features)`` with GELU activations."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 5, stride=4)
        self.act = torch.nn.GELU()
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        f = self.act(self.conv(x))
        return self.fc(f.mean((2, 3))), f


@pytest.fixture(scope="module")
def pair():
    model = attribkit.load_model(Pair(), output=0, classes=LABELS)
    attribkit.attach_info(model, attribkit.ModelInfo("pair", attribkit.Preprocessing(resize=64, crop=64),
                                                     tuple(LABELS)))
    return model


def test_hugging_face_metadata(hf_vit):
    info = model_info(hf_vit)
    assert info.class_names == tuple(LABELS)
    assert (info.preprocessing.resize, info.preprocessing.crop) == (64, 64)
    x = torch.randn(1, 3, 64, 64)
    assert attribkit.class_scores(hf_vit, x).shape == (1, 3)


@pytest.fixture(params=["hf_vit", "pair"])
def model(request):  # type: ignore[no-untyped-def]
    return request.getfixturevalue(request.param)


def test_saliency_of_a_photo(model, chelsea):
    maps = attribkit.saliency(model, chelsea, target="dog", method="guided_backprop")
    assert maps.names == ["dog"] and maps.maps.shape == (1, 64, 64)
    assert maps.photo_maps.shape[1:] == chelsea.shape[:2]


def test_localise_a_photo(model, chelsea):
    found = attribkit.localise(model, chelsea, top_k=2, localiser="threshold")
    assert len(found) == 2 and all(f.name in LABELS for f in found)


def test_a_study(model, tmp_path):
    result = run_study(model, "samples:coffee,chelsea", methods=["saliency", "deconvnet"],
                       localisers=["centre"], out=tmp_path / "study", workers=0, steps=2, gallery=0,
                       progress=False, top_k=0)
    assert result is not None and len(result.rows) == 2
