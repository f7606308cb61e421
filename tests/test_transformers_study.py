"""A study on a vision transformer (issue 21, item 4): every transformer method beside the existing ones,
with ROAD and the model-randomisation sanity check, whose cascade follows the transformer's blocks."""

from __future__ import annotations

import pytest
import timm
import torch
from vit_families import build

import _study_helpers as helpers
from attribkit.metrics import parameter_layers
from attribkit.study import run_study

METHODS = ["saliency", "gradcam", "captum:integrated_gradients", "rollout", "attention_flow", "gradient_rollout",
           "legrad"]


def test_the_sanity_cascade_follows_transformer_blocks():
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32).eval()
    layers = parameter_layers(vit, torch.zeros(1, 3, 32, 32), blocks=8)
    assert layers == ("head", "norm", *(f"blocks.{i}" for i in range(11, -1, -1)), "patch_embed.proj", "")


@pytest.mark.slow
def test_a_study_runs_every_transformer_method_with_road_and_the_sanity_check(tmp_path, one_thread):
    helpers.write_photos(tmp_path / "photos", 2)
    model = build("hf_vit_sdpa")
    result = run_study(model, tmp_path / "photos", methods=METHODS, localisers=["threshold"], out=tmp_path / "out",
                       steps=2, gallery=0, workers=0, progress=False, road=1, sanity=1, top_k=0)
    rows = {row.method: row for row in result.rows}
    assert set(rows) == set(METHODS)
    assert all(row.road_morf is not None and row.randomisation is not None for row in rows.values())
    sanity = {r["method"]: r for r in result.records if r["kind"] == "sanity"}
    assert sanity["rollout"]["layers"][:3] == ["classifier", "vit.layernorm", "vit.layers.1.mlp"]
    # Rollout and attention flow never read the classifier or the final norm: randomising them leaves
    # their maps exactly as they were (the randomisation check's first steps), unlike every gradient method.
    for method in ("rollout", "attention_flow"):
        assert sanity[method]["spearman_abs"][:2] == pytest.approx([1.0, 1.0])
    for method in ("saliency", "gradient_rollout", "legrad"):
        assert sanity[method]["spearman_abs"][0] < 0.99
