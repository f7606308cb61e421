"""Class model visualisation (paper section 2): the ascent against a naive reference, its contract, priors."""

from __future__ import annotations

import pytest
import torch

import attribkit
from attribkit.visualise import (
    MODES,
    AscentSettings,
    ClassModel,
    FourierImage,
    PixelImage,
    clip_small_contribution,
    clip_small_norm,
    gaussian_blur,
    jitter,
    settings_for,
    total_variation,
)

SIZE = (32, 32)


def naive_paper_ascent(model, targets, *, steps, lr, l2, size=SIZE):
    """The paper's method written out: I <- I + lr * d/dI [S_c(I) - l2 ||I||^2], from I = 0."""
    model.eval()
    x = torch.zeros(len(targets), 3, *size, dtype=torch.float64)
    history = []
    for _ in range(steps):
        x.requires_grad_(True)
        scores = model(x)
        s = torch.stack([scores[k, c] for k, c in enumerate(targets)])
        objective = s.sum() - l2 * (x * x).sum()
        (grad,) = torch.autograd.grad(objective, x)
        history.append(s.detach())
        x = (x + lr * grad).detach()
    return x, torch.stack(history)


def test_paper_mode_is_plain_regularised_ascent_from_zero(tiny_model):
    ascent = ClassModel(tiny_model, steps=7, lr=300.0, l2=1e-3, size=SIZE).ascend([0, 3, 7])
    x, history = naive_paper_ascent(tiny_model, [0, 3, 7], steps=7, lr=300.0, l2=1e-3)
    torch.testing.assert_close(ascent.inputs, x, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ascent.scores, history, rtol=1e-10, atol=1e-12)


def test_mean_image_is_added_back(tiny_model):
    """rgb = clip(I * std + mean): at step 0 the zero image *is* the mean image."""
    ascent = ClassModel(tiny_model, steps=3, lr=0.3, l2=0.05, size=SIZE).ascend([1])
    pre = attribkit.model_info(tiny_model).preprocessing
    torch.testing.assert_close(ascent.rgb, pre.denormalise(ascent.inputs).clamp(0, 1))
    start = PixelImage(1, SIZE, pre).rgb()
    torch.testing.assert_close(start[0, :, 0, 0], torch.tensor(pre.mean))


def test_classes_in_one_batch_equal_classes_one_by_one(tiny_model):
    vis = ClassModel(tiny_model, steps=5, lr=0.3, l2=0.05, size=SIZE)
    together = vis.ascend([2, 5]).inputs
    alone = torch.cat([vis.ascend([2]).inputs, vis.ascend([5]).inputs])
    torch.testing.assert_close(together, alone, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_target_score_rises(default_model, mode):
    """On the real network with the mode's settings, for 15 steps: the objective climbs."""
    ascent = ClassModel(default_model, mode=mode, steps=15).ascend(["goose", "lemon"])
    scores = ascent.scores
    assert (scores[-1] > scores[0] + 2.0).all(), scores[[0, -1]]
    # "Monotonically-ish": plain ascent from zero dips on its first step (the gradient at the zero image
    # is tiny and the network far from linear there) and jitter/blur/clipping cost a little now and then.
    rising = (scores[1:] > scores[:-1]).float().mean()
    assert rising > (0.5 if mode == "yosinski" else 0.6), rising


def test_objective_is_the_unnormalised_score_not_the_softmax(tiny_model):
    """A term shared by all logits leaves the softmax alone but is part of S_c: the ascent must climb it."""

    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = tiny_model

        def forward(self, x):
            return self.net(x) + 10 * x.mean(dim=(1, 2, 3), keepdim=False)[:, None]

    model = Shared()
    ours = ClassModel(model, steps=3, lr=0.3, l2=0.0, size=SIZE).ascend([1]).inputs
    x, _ = naive_paper_ascent(model, [1], steps=3, lr=0.3, l2=0.0)
    torch.testing.assert_close(ours, x)
    assert ours.mean() > 0  # the shared term pulled every pixel up


def test_output_shape_dtype_range(tiny_model):
    rgb = attribkit.create_visualiser("class_model", tiny_model, steps=4, lr=300.0, size=SIZE).visualise([0, 1, 2])
    assert rgb.shape == (3, 3, *SIZE) and rgb.dtype == torch.float64
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert not torch.equal(rgb[0], rgb[1])


def test_single_class_and_names(default_model):
    vis = ClassModel(default_model, steps=1, size=SIZE)
    assert vis.resolve("goldfish").tolist() == [1]
    assert vis.resolve(["goldfish", 130, "130"]).tolist() == [1, 130, 130]
    assert vis.visualise("goldfish").shape == (1, 3, *SIZE)


def test_unknown_class_name_lists_close_names(default_model):
    with pytest.raises(ValueError, match="close matches: goldfish"):
        ClassModel(default_model, steps=1, size=SIZE).visualise(["goldfsh"])
    with pytest.raises(ValueError, match="out of range"):
        ClassModel(default_model, steps=1, size=SIZE).visualise([1000])
    with pytest.raises(ValueError, match="at least one"):
        ClassModel(default_model, steps=1, size=SIZE).visualise([])


@pytest.mark.parametrize("mode", ["yosinski", "fourier"])
def test_seed_determinism(tiny_model, mode):
    vis = ClassModel(tiny_model, mode=mode, steps=6, size=SIZE, jitter=3)
    a, b = vis.visualise([1, 2], seed=3), vis.visualise([1, 2], seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, vis.visualise([1, 2], seed=4))


def test_model_mode_and_flags_restored_even_after_an_error(tiny_model):
    tiny_model.train()
    tiny_model[0].weight.requires_grad_(False)
    before = [(m.training) for m in tiny_model.modules()], [p.requires_grad for p in tiny_model.parameters()]
    state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    ClassModel(tiny_model, steps=2, size=SIZE).visualise([3])
    with pytest.raises(ValueError, match="out of range for a model with 10 outputs"):
        ClassModel(tiny_model, steps=2, size=SIZE).visualise([50])
    after = [(m.training) for m in tiny_model.modules()], [p.requires_grad for p in tiny_model.parameters()]
    assert before == after
    # Frozen means frozen: not even batch-norm running statistics move.
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in tiny_model.parameters())


def test_registered_and_satisfies_the_protocol(tiny_model):
    assert {"class_model", "class_model_fourier", "class_model_yosinski"} <= set(attribkit.list_visualisers())
    for name, mode in [("class_model", "paper"), ("class_model_yosinski", "yosinski"),
                       ("class_model_fourier", "fourier")]:
        vis = attribkit.create_visualiser(name, tiny_model)
        assert isinstance(vis, attribkit.Visualiser)
        assert vis.settings == MODES[mode]


def test_settings_errors():
    with pytest.raises(ValueError, match="unknown class-model mode 'papr'"):
        settings_for("papr")
    with pytest.raises(TypeError, match="unknown class-model option.*stepz"):
        settings_for("paper", stepz=3)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        settings_for("paper", steps=0)
    with pytest.raises(ValueError, match="need parametrisation='pixel'"):
        settings_for("fourier", blur_every=2)
    with pytest.raises(ValueError, match="percentile"):
        AscentSettings(steps=1, lr=1.0, clip_norm=100)
    assert settings_for("paper", steps=None) == MODES["paper"]


# --- the priors, each against a naive version --------------------------------------------------------


def test_jitter_is_a_roll_and_passes_gradients():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).view(2, 3, 4, 5).requires_grad_(True)
    y = jitter(x, (1, -2))
    assert y[0, 0, 1, 0] == x[0, 0, 0, 2]
    (g,) = torch.autograd.grad((y * y).sum(), x)
    torch.testing.assert_close(g, 2 * x.detach())
    assert jitter(x, (0, 0)) is x


def test_gaussian_blur_of_a_delta_is_the_kernel_and_keeps_constants():
    from attribkit.visualise._regularisers import gaussian_kernel

    x = torch.zeros(1, 3, 15, 15, dtype=torch.float64)
    x[..., 7, 7] = 1
    k = gaussian_kernel(1.0, dtype=torch.float64)
    r = k.numel() // 2
    torch.testing.assert_close(gaussian_blur(x, 1.0)[0, 1, 7 - r : 8 + r, 7 - r : 8 + r], torch.outer(k, k))
    flat = torch.full((2, 3, 9, 9), 0.3, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(flat, 0.7), flat)
    with pytest.raises(ValueError):
        gaussian_blur(flat, 0.0)


def test_total_variation_matches_a_loop():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    expected = 0.0
    for i in range(4):
        for j in range(5):
            d = (x[..., i, j + 1] - x[..., i, j]) ** 2 + (x[..., i + 1, j] - x[..., i, j]) ** 2
            expected += d.sum().item()
    assert total_variation(x).item() == pytest.approx(expected)
    assert total_variation(torch.ones(1, 3, 4, 4)).item() == 0


def test_clipping_removes_the_weak_pixels():
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    clipped = clip_small_norm(x, 30.0)
    zero = (clipped == 0).all(dim=1)
    assert zero.flatten(1).sum(1).tolist() == [30, 30]
    norm = x.norm(dim=1)
    for k in range(2):  # the percentile is each image's own
        assert norm[k][~zero[k]].min() >= norm[k][zero[k]].max()
    grad = torch.randn_like(x)
    c = clip_small_contribution(x, grad, 50.0)
    contribution = (x * grad).sum(1).abs()
    removed = (c == 0).all(dim=1)
    assert removed.flatten(1).sum(1).tolist() == [50, 50]
    for k in range(2):
        assert contribution[k][~removed[k]].min() >= contribution[k][removed[k]].max()


def test_fourier_image_is_valid_rgb_and_starts_near_grey():
    pre = attribkit.Preprocessing(mean=(0.5,) * 3, std=(0.5,) * 3)
    img = FourierImage(2, (16, 20), pre, generator=torch.Generator().manual_seed(0))
    rgb = img.rgb()
    assert rgb.shape == (2, 3, 16, 20) and 0 < rgb.min() and rgb.max() < 1
    assert (rgb - 0.5).abs().max() < 0.1  # small initial spectrum: close to the sigmoid's midpoint
    torch.testing.assert_close(img.model_input(), pre.normalise(rgb))
    assert img.model_input().requires_grad


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_gpu_matches_cpu(mode):
    from tests.conftest import tiny_cnn

    cpu = tiny_cnn().float()
    gpu = tiny_cnn().float().cuda()
    kwargs = dict(mode=mode, steps=5, size=SIZE, lr=0.3 if mode != "fourier" else 0.05)
    a = ClassModel(cpu, **kwargs).visualise([1, 2])
    b = ClassModel(gpu, **kwargs).visualise([1, 2])
    assert b.device.type == "cuda"
    torch.testing.assert_close(a, b.cpu(), rtol=1e-3, atol=1e-3)
    assert torch.equal(b, ClassModel(gpu, **kwargs).visualise([1, 2]))


# --- the default model at the default settings (the acceptance test) ---------------------------

CLASSES = ["goose", "ostrich", "limousine", "dalmatian"]


@pytest.mark.slow
def test_paper_mode_images_are_classified_as_their_class(default_model):
    """Default settings, four classes in one batch: the displayed image is the model's top-1 for its class."""
    ascent = ClassModel(default_model).ascend(CLASSES)
    targets = ascent.targets
    assert (ascent.scores[-1] > ascent.scores[0] + 5.0).all()
    pre = attribkit.model_info(default_model).preprocessing
    with torch.no_grad():
        scores = default_model(ascent.inputs)
        displayed = default_model(pre.normalise(ascent.rgb))
    assert scores.argmax(1).tolist() == targets.tolist()
    assert displayed.argmax(1).tolist() == targets.tolist()
    # The target is the objective, other classes are not: the target leads the runner-up by a margin.
    top2 = scores.topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1] > 1.0).all()


@pytest.mark.slow
def test_fourier_mode_displayed_images_are_classified_as_their_class(default_model):
    vis = attribkit.create_visualiser("class_model_fourier", default_model)
    rgb = vis.visualise(CLASSES[:3])
    pre = attribkit.model_info(default_model).preprocessing
    with torch.no_grad():
        probs = default_model(pre.normalise(rgb)).softmax(1)
    assert probs.argmax(1).tolist() == vis.resolve(CLASSES[:3]).tolist()


# --- command line -------------------------------------------------------------------------------------


def test_cli_writes_one_png_per_class_and_a_montage(tmp_path, capsys):
    from PIL import Image

    from attribkit.cli import main

    out = tmp_path / "out"
    assert main(["class-model", "goose", "951", "--out", str(out), "--steps", "2", "--mode", "fourier"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["099_goose_fourier.png", "951_lemon_fourier.png", "montage_fourier.png"]
    assert Image.open(out / "099_goose_fourier.png").size == (224, 224)
    assert str(out / "montage_fourier.png") in capsys.readouterr().out


def test_cli_unknown_class_is_a_usage_error_naming_close_classes(tmp_path, capsys):
    from attribkit.cli import main

    assert main(["class-model", "goose", "ostrch", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown class 'ostrch'" in err and "close matches: ostrich" in err
    assert not list(tmp_path.glob("*.png"))
    assert main(["class-model", "goose", "--out", str(tmp_path), "--steps", "0"]) == 2


def test_progress_bar_counts_the_steps(tiny_model, capsys):
    ClassModel(tiny_model, steps=3, size=SIZE, progress=True).visualise([1])
    err = capsys.readouterr().err
    assert "class model (paper)" in err and "/3 " in err  # tqdm redraws at most every 0.1 s
    ClassModel(tiny_model, steps=3, size=SIZE, progress=False).visualise([1])
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_yosinski_mode_demo_classes_are_top1(default_model):
    """Issue 15: the yosinski preset is tuned until the demo's classes are the displayed image's top-1 (the
    four with the lowest probability at 90 steps; 30 steps gave 3 of 8)."""
    vis = attribkit.create_visualiser("class_model_yosinski", default_model)
    classes = ["goose", "kit fox", "dalmatian", "lemon"]
    rgb = vis.visualise(classes)
    pre = attribkit.model_info(default_model).preprocessing
    with torch.no_grad():
        probs = default_model(pre.normalise(rgb)).softmax(1)
    assert probs.argmax(1).tolist() == vis.resolve(classes).tolist()


def test_cli_shows_paper_and_fourier_side_by_side(tmp_path, capsys):
    from PIL import Image

    from attribkit.cli import main

    out = tmp_path / "out"
    assert main(["class-model", "goose", "--out", str(out), "--steps", "2"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["099_goose_fourier.png", "099_goose_paper.png", "montage.png"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out / "montage.png")
    width, height = Image.open(out / "montage.png").size
    assert width > 2 * 224 and height < 2 * 224  # one row: the two images next to each other
    # A mode's own settings need the mode: the paper's lr (10) would wreck Adam's Fourier ascent (0.05).
    assert main(["class-model", "goose", "--out", str(out), "--lr", "3"]) == 2
    assert "give --mode too" in capsys.readouterr().err


def test_montage_captions_name_mode_and_probability(default_model, monkeypatch, tmp_path):
    import attribkit.cli._class_model as cm

    ascents = {m: ClassModel(default_model, mode=m, steps=2, progress=False).ascend(["goose", "lemon"])
               for m in ("paper", "fourier")}
    captured = {}
    monkeypatch.setattr(cm, "montage", lambda path, rgb, caps, **kw: captured.update(caps=caps, rgb=rgb, **kw))
    cm.side_by_side(default_model, ascents, tmp_path / "m.png")
    caps = captured["caps"]
    assert [c.split(":")[0] for c in caps] == ["paper", "Fourier", "paper", "Fourier"]
    assert all("\np=" in c for c in caps) and captured["rgb"].shape == (4, 3, 224, 224)
    assert len(captured["muted"]) == 4
