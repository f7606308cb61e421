"""The paper's claims other than the localisation error, measured on the default model (docs/paper.md).

Each line printed is one row of docs/paper.md's table:

- class models: the paper's ascent starts from the zero image (its first score is the zero image's), and
  reaches a class the model recognises (softmax probability of the displayed image, top-1 or not);
- saliency: ``saliency`` costs one forward and one backward pass per batch, and its map is
  ``max_c |dS_c/dI|`` computed by hand with ``torch.autograd.grad`` on the unnormalised score;
- 10 crops: ``ten_crop=True`` equals ten hand-made crops and reflections, each attributed alone, mirrored
  back and averaged where they overlap;
- DeconvNet: on this model (ReLU6 only) the DeconvNet map differs from the gradient's, which is what the
  ReLU rule alone can do (the equality elsewhere is proved on random networks by
  ``tests/test_rules_properties.py``).

Run: ``OMP_NUM_THREADS=1 python bench/paper_claims.py`` (about a minute on one core).
"""

from __future__ import annotations

import torch
from scipy.stats import spearmanr

import attribkit
from attribkit.attribution import TenCrop, saliency_map
from attribkit.data import sample_photo

CLASSES = ["goose", "ostrich", "limousine", "dalmatian"]


def class_models(model: torch.nn.Module) -> None:
    vis = attribkit.create_visualiser("class_model", model)
    ascent = vis.ascend(CLASSES, progress=False)
    info = attribkit.model_info(model)
    with torch.no_grad():
        zero = model(torch.zeros(1, 3, info.preprocessing.crop, info.preprocessing.crop))[0]
        probs = model(info.preprocessing.normalise(ascent.rgb)).softmax(1)
    targets = ascent.targets
    first = ascent.scores[0]
    print(f"class models: first score = zero image's score: {torch.allclose(first, zero[targets], atol=1e-4)}; "
          f"score {first.mean():.1f} -> {ascent.scores[-1].mean():.1f} in {len(ascent.scores)} steps; "
          f"probability of the displayed image {', '.join(f'{p:.2f}' for p in probs[range(len(targets)), targets])}; "
          f"top-1 {int((probs.argmax(1) == targets).sum())}/{len(targets)}; settings {ascent.settings}")


def saliency(model: torch.nn.Module, x: torch.Tensor) -> None:
    calls = {"forward": 0, "backward": 0}
    h1 = model.register_forward_hook(lambda *_: calls.__setitem__("forward", calls["forward"] + 1))
    h2 = model.register_full_backward_hook(lambda *_: calls.__setitem__("backward", calls["backward"] + 1))
    try:
        ours = saliency_map(attribkit.create_attributor("saliency", model).attribute(x, target=281))[0]
    finally:
        h1.remove()
        h2.remove()
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xx)[0, 281], xx)
    by_hand = g[0].abs().amax(0)
    print(f"saliency: {calls['forward']} forward, {calls['backward']} backward pass(es); "
          f"max |ours - max_c|dS/dI|| = {float((ours - by_hand).abs().max()):.2e} "
          f"(map max {float(by_hand.max()):.2e})")


def ten_crop(model: torch.nn.Module, x: torch.Tensor) -> None:
    plain = attribkit.create_attributor("saliency", model)
    ten = TenCrop(plain)
    ours = ten.attribute(x, target=281)[0]
    total = torch.zeros_like(x[0])
    cover = torch.zeros(x.shape[-2:])
    for top, left, h, w in ten.windows(*x.shape[-2:]):
        crop = x[..., top : top + h, left : left + w]
        for flip in (False, True):
            a = plain.attribute(crop.flip(-1) if flip else crop, target=281)[0]
            total[:, top : top + h, left : left + w] += a.flip(-1) if flip else a
            cover[top : top + h, left : left + w] += 1
    naive = total / cover.clamp(min=1)
    print(f"10 crops: max |ten_crop - hand-made 10 crops| = {float((ours - naive).abs().max()):.2e} "
          f"(attribution max {float(naive.abs().max()):.2e}); crops of {ten.windows(*x.shape[-2:])[0][2]} px")


def deconvnet(model: torch.nn.Module, x: torch.Tensor) -> None:
    grad = saliency_map(attribkit.create_attributor("saliency", model).attribute(x, target=281))[0]
    dec = saliency_map(attribkit.create_attributor("deconvnet", model).attribute(x, target=281))[0]
    rho = spearmanr(grad.flatten().numpy(), dec.flatten().numpy()).statistic
    other = saliency_map(attribkit.create_attributor("deconvnet", model).attribute(torch.flip(x, (-1,)), target=281))[0]
    rho_other = spearmanr(dec.flatten().numpy(), other.flip(-1).flatten().numpy()).statistic
    print(f"deconvnet: Spearman rank correlation with the gradient map {rho:.3f}; with its own map of the "
          f"mirrored photo {rho_other:.3f}")


def main() -> None:
    torch.manual_seed(0)
    model = attribkit.load_model()
    x = attribkit.load_image(sample_photo("chelsea"), model).tensor
    class_models(model)
    saliency(model, x)
    ten_crop(model, x)
    deconvnet(model, x)


if __name__ == "__main__":
    main()
