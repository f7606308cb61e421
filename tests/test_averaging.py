"""The averaging wrappers (10 crops, SmoothGrad, VarGrad, multi-scale) around any attributor, each against a
naive loop that is its specification; their composition; nothing left behind after an exception."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import attribkit
from attribkit import MultiScale, SmoothGrad, TenCrop, VarGrad
from attribkit.errors import OptionError, PluginError, TargetError
from conftest import tiny_cnn


def naive_gradient(model: torch.nn.Module, x: torch.Tensor, cls: int) -> torch.Tensor:
    """One image ``[C, H, W]``, one class, one backward (the model in eval mode)."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x[None])[0, cls], x)
    return grad


class OneChannel:
    """A stand-in for Grad-CAM's shape: ``[N, K, 1, H, W]``, here the gradient's channel sum times the input's."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.gradient = attribkit.create_attributor("saliency", model)

    def attribute(self, inputs, target=None, *, top_k=None, additional_forward_args=None):  # type: ignore[no-untyped-def]
        g = self.gradient.attribute(inputs, target, top_k=top_k, additional_forward_args=additional_forward_args)
        x = inputs if g.ndim == 4 else inputs.unsqueeze(1)
        return (g * x).sum(-3, keepdim=True)


def one_channel_naive(model: torch.nn.Module, x: torch.Tensor, cls: int) -> torch.Tensor:
    return (naive_gradient(model, x, cls) * x).sum(0, keepdim=True)


def naive_ten_crop(explain, x: torch.Tensor, classes: list[int], fraction: float = 224 / 256) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """The paper's 10 crops one at a time: ``explain(crop [C, h, w], class) -> [C', h, w]``."""
    n, _, height, width = x.shape
    h, w = round(height * fraction), round(width * fraction)
    places = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w),
              ((height - h) // 2, (width - w) // 2)]
    out = []
    for i in range(n):
        total, cover = None, torch.zeros(height, width, dtype=x.dtype)
        for y0, x0 in places:
            for flip in (False, True):
                crop = x[i, :, y0 : y0 + h, x0 : x0 + w]
                a = explain(crop.flip(-1) if flip else crop, classes[i])
                a = a.flip(-1) if flip else a
                if total is None:
                    total = torch.zeros(a.shape[0], height, width, dtype=x.dtype)
                total[:, y0 : y0 + h, x0 : x0 + w] += a
                cover[y0 : y0 + h, x0 : x0 + w] += 1
        out.append(total / cover)
    return torch.stack(out)


def naive_noise(explain, x: torch.Tensor, classes: list[int], samples: int, noise: float,  # type: ignore[no-untyped-def]
                chunk: int = 8, seed: int = 0) -> torch.Tensor:
    """Every noisy copy of every image explained alone: ``[samples, N, C', H, W]``.

    The noise is SmoothGrad's documented draw: one CPU generator seeded with ``seed``, ``randn`` of
    ``[m, C, H, W]`` per chunk of m copies, the same ε for every image, σ = noise (max − min) per image.
    """
    generator = torch.Generator().manual_seed(seed)
    eps = []
    done = 0
    while done < samples:
        m = min(chunk, samples - done)
        eps.extend(torch.randn((m, *x.shape[1:]), generator=generator).to(x))
        done += m
    copies = []
    for e in eps:
        copies.append(torch.stack([
            explain(x[i] + noise * float(x[i].max() - x[i].min()) * e, classes[i]) for i in range(x.shape[0])
        ]))
    return torch.stack(copies)


def naive_scales(explain, x: torch.Tensor, classes: list[int], scales: tuple[float, ...]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """Each image at each scale alone; maps resized back, mean 1 each, averaged: ``[N, 1, H, W]``."""
    out = []
    for i in range(x.shape[0]):
        maps = []
        for s in scales:
            xs = x[i : i + 1] if s == 1.0 else F.interpolate(x[i : i + 1], scale_factor=s, mode="bilinear",
                                                             align_corners=False)
            m = explain(xs[0], classes[i]).abs().amax(0)
            m = F.interpolate(m[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
            maps.append(m / m.mean() if len(scales) > 1 else m)
        out.append(torch.stack(maps).mean(0, keepdim=True))
    return torch.stack(out)


@pytest.fixture
def model() -> torch.nn.Module:
    return tiny_cnn()


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(3)
    return torch.randn(2, 3, 24, 24, dtype=torch.float64)


# -- each wrapper against its naive loop ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gradient", "one channel"])
def test_ten_crop_equals_the_naive_loop(model, x, kind):
    base = attribkit.create_attributor("saliency", model) if kind == "gradient" else OneChannel(model)
    explain = (lambda c, k: naive_gradient(model, c, k)) if kind == "gradient" else (
        lambda c, k: one_channel_naive(model, c, k))
    got = TenCrop(base).attribute(x, target=[3, 7])
    want = naive_ten_crop(explain, x, [3, 7])
    assert got.shape == want.shape == (2, 3 if kind == "gradient" else 1, 24, 24)
    torch.testing.assert_close(got, want)


def test_ten_crop_of_the_gradient_engine_is_the_wrapper_bit_for_bit(model, x):
    """``create_attributor(..., ten_crop=True)`` is the wrapper, not a second copy. (It also compared
    ``GradientAttributor(ten_crop=True)``, a compatibility path removed in issue 20.)"""
    targets = torch.tensor([[1, 4], [0, 9]])
    wrapped = TenCrop(attribkit.GradientAttributor(model)).attribute(x, target=targets)
    composed = attribkit.create_attributor("saliency", model, ten_crop=True).attribute(x, target=targets)
    assert torch.equal(wrapped, composed)
    odd = attribkit.create_attributor("saliency", model, ten_crop=True, crop_fraction=0.5).attribute(x, target=1)
    assert torch.equal(odd, TenCrop(attribkit.GradientAttributor(model), crop_fraction=0.5).attribute(x, target=1))


@pytest.mark.parametrize("samples", [3, 11])  # one chunk; a chunk of 8 and one of 3
def test_smoothgrad_equals_the_naive_loop(model, x, samples):
    got = SmoothGrad(attribkit.create_attributor("saliency", model), samples=samples, noise=0.2).attribute(
        x, target=[2, 5])
    want = naive_noise(lambda c, k: naive_gradient(model, c, k), x, [2, 5], samples, 0.2).mean(0)
    torch.testing.assert_close(got, want)


def test_vargrad_equals_the_naive_variance(model, x):
    got = VarGrad(OneChannel(model), samples=10, noise=0.3).attribute(x, target=[2, 5])
    copies = naive_noise(lambda c, k: one_channel_naive(model, c, k), x, [2, 5], 10, 0.3)
    torch.testing.assert_close(got, copies.var(0, unbiased=False))
    assert got.shape == (2, 1, 24, 24) and (got >= 0).all()


def test_multiscale_equals_the_naive_loop(model, x):
    scales = (0.5, 1.0, 1.5)
    got = MultiScale(attribkit.create_attributor("saliency", model), scales=scales).attribute(x, target=[2, 5])
    want = naive_scales(lambda c, k: naive_gradient(model, c, k), x, [2, 5], scales)
    assert got.shape == (2, 1, 24, 24)
    torch.testing.assert_close(got, want)
    # One scale other than 1: the map at that scale, resized back, not rescaled.
    one = MultiScale(attribkit.create_attributor("saliency", model), scales=(0.5,)).attribute(x, target=[2, 5])
    torch.testing.assert_close(one, naive_scales(lambda c, k: naive_gradient(model, c, k), x, [2, 5], (0.5,)))


def test_composition_equals_the_naive_nesting(model, x):
    """``create_attributor`` nests MultiScale(SmoothGrad(TenCrop(method))): check it against the loops."""
    composed = attribkit.create_attributor("saliency", model, ten_crop=True, smoothgrad=2, noise=0.1,
                                           scales=(0.75, 1.0))
    assert isinstance(composed, MultiScale)
    assert isinstance(composed.attributor, SmoothGrad) and isinstance(composed.attributor.attributor, TenCrop)
    got = composed.attribute(x, target=[2, 5])

    def ten(crop, cls):  # type: ignore[no-untyped-def]
        return naive_ten_crop(lambda c, k: naive_gradient(model, c, k), crop[None], [cls])[0]

    def smooth(image, cls):  # type: ignore[no-untyped-def]
        return naive_noise(ten, image[None], [cls], 2, 0.1).mean(0)[0]

    want = naive_scales(smooth, x, [2, 5], (0.75, 1.0))
    torch.testing.assert_close(got, want)


# -- the contract: shapes, targets, extra arguments ---------------------------------------------------------


WRAPPERS = {
    "ten_crop": lambda a: TenCrop(a),
    "smoothgrad": lambda a: SmoothGrad(a, samples=3),
    "vargrad": lambda a: VarGrad(a, samples=3),
    "multiscale": lambda a: MultiScale(a, scales=(0.5, 1.0)),
}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=list(WRAPPERS))
def test_shapes_follow_the_target_and_classes_come_from_the_clean_input(model, x, wrap):
    wrapped = wrap(attribkit.create_attributor("saliency", model))
    channels = 1 if isinstance(wrapped, MultiScale) else 3
    assert isinstance(wrapped, attribkit.Attributor) and wrapped.model is model
    assert wrapped.attribute(x).shape == (2, channels, 24, 24)
    assert wrapped.attribute(x, target=4).shape == (2, channels, 24, 24)
    assert wrapped.attribute(x, target=[1, 2]).shape == (2, channels, 24, 24)
    assert wrapped.attribute(x, target=torch.tensor([[1, 2, 3], [4, 5, 6]])).shape == (2, 3, channels, 24, 24)
    top = wrapped.attribute(x, top_k=2)
    with torch.no_grad():
        order = model.eval()(x).topk(2).indices
    torch.testing.assert_close(top, wrapped.attribute(x, target=order))
    torch.testing.assert_close(wrapped.attribute(x), wrapped.attribute(x, target=order[:, 0]))


def test_explicit_classes_cost_no_extra_forward(model, x):
    calls = []
    handle = model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        TenCrop(attribkit.create_attributor("saliency", model)).attribute(x, target=1)
        assert calls == [20]  # the 10 crops of both images, one forward
        calls.clear()
        TenCrop(attribkit.create_attributor("saliency", model)).attribute(x, top_k=2)
        assert calls == [2, 20]  # the whole images' classes, then the crops
    finally:
        handle.remove()


def test_batched_arguments_follow_their_images_into_the_copies(x):
    class Scaled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_cnn()

        def forward(self, inputs, scale):  # type: ignore[no-untyped-def]
            return self.net(inputs) * scale

    model = Scaled()
    scale = torch.tensor([[2.0], [5.0]], dtype=torch.float64)
    # Linear in the score for the signed means, squared for the variance; MultiScale's mean-1 maps do not
    # see a per-image factor at all.
    factors = {"ten_crop": scale.view(2, 1, 1, 1), "smoothgrad": scale.view(2, 1, 1, 1),
               "vargrad": scale.view(2, 1, 1, 1) ** 2, "multiscale": 1.0}
    for name, wrap in WRAPPERS.items():
        got = wrap(attribkit.create_attributor("saliency", model)).attribute(
            x, target=1, additional_forward_args=(scale,))
        plain = wrap(attribkit.create_attributor("saliency", model.net)).attribute(x, target=1)
        torch.testing.assert_close(got, plain * factors[name])


def test_smoothgrad_is_deterministic_batch_invariant_and_leaves_global_rng_alone(model, x):
    smooth = SmoothGrad(attribkit.create_attributor("saliency", model), samples=4)
    state = torch.random.get_rng_state()
    both = smooth.attribute(x, target=[2, 5])
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.testing.assert_close(both, smooth.attribute(x, target=[2, 5]), rtol=0, atol=0)
    torch.testing.assert_close(both[1:], smooth.attribute(x[1:], target=[5]))
    other = SmoothGrad(attribkit.create_attributor("saliency", model), samples=4, seed=1).attribute(x, target=[2, 5])
    assert not torch.allclose(both, other)


def test_noise_zero_is_the_plain_attribution(model, x):
    plain = attribkit.create_attributor("saliency", model).attribute(x, target=3)
    torch.testing.assert_close(SmoothGrad(attribkit.create_attributor("saliency", model), samples=3,
                                          noise=0.0).attribute(x, target=3), plain)
    # E[a²] − E[a]² of equal copies: zero up to rounding (the formula Captum's vargrad uses).
    var = VarGrad(attribkit.create_attributor("saliency", model), samples=3, noise=0.0).attribute(x, target=3)
    torch.testing.assert_close(var, torch.zeros_like(plain), rtol=0, atol=1e-18)


# -- options and errors -------------------------------------------------------------------------------


def test_create_attributor_takes_averaging_and_method_options(model):
    assert type(attribkit.create_attributor("saliency", model)).__name__ == "Saliency"
    plain = attribkit.create_attributor("saliency", model, scales=[1.0])
    assert not isinstance(plain, attribkit.attribution.Averaging)
    var = attribkit.create_attributor("random", model, vargrad=4, noise=0.05, seed=3)
    assert isinstance(var, VarGrad) and var.attributor.seed == 3 and var.noise == 0.05
    with pytest.raises(OptionError, match="unknown option 'ten_krop' for saliency"):
        attribkit.create_attributor("saliency", model, ten_krop=True)
    with pytest.raises(OptionError, match="not both"):
        attribkit.create_attributor("saliency", model, smoothgrad=2, vargrad=2)
    # The plain path builds the method alone and checks its own options.
    reg = attribkit.get_registry().get("attributor", "random")
    with pytest.raises(OptionError, match="unknown option 'smoothgrad' for random"):
        reg.create(model, smoothgrad=2)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda a: TenCrop(a, crop_fraction=0.0), "crop_fraction"),
        (lambda a: TenCrop(a, crop_fraction=1.5), "crop_fraction"),
        (lambda a: SmoothGrad(a, samples=0), "samples"),
        (lambda a: SmoothGrad(a, samples=2.5), "samples"),
        (lambda a: VarGrad(a, noise=-0.1), "noise"),
        (lambda a: SmoothGrad(a, chunk=0), "chunk"),
        (lambda a: MultiScale(a, scales=()), "scales"),
        (lambda a: MultiScale(a, scales=(1.0, -2.0)), "scales"),
    ],
)
def test_bad_wrapper_options(model, make, message):
    with pytest.raises(ValueError, match=message):
        make(attribkit.create_attributor("saliency", model))


def test_wrapping_something_that_is_not_an_attributor(model):
    with pytest.raises(TypeError, match="wraps an attributor"):
        TenCrop(model)


def test_bad_targets_surface_as_target_errors(model, x):
    for wrap in WRAPPERS.values():
        wrapped = wrap(attribkit.create_attributor("saliency", model))
        with pytest.raises(TargetError, match="out of range"):
            wrapped.attribute(x, target=10)
        with pytest.raises(TargetError, match="2 images"):
            wrapped.attribute(x, target=[1, 2, 3])
        with pytest.raises(TargetError, match="not both"):
            wrapped.attribute(x, target=1, top_k=2)


def test_an_attributor_breaking_the_shape_contract_is_named(model, x):
    class Flat:
        def __init__(self, model: torch.nn.Module) -> None:
            self.model = model

        def attribute(self, inputs, target=None, **_):  # type: ignore[no-untyped-def]
            return inputs  # ignores K

    with pytest.raises(PluginError, match=r"Flat.attribute\(\) broke the contract"):
        TenCrop(Flat(model)).attribute(x, target=1)


# -- nothing left behind ---------------------------------------------------------------------------------


def _hooks(model: torch.nn.Module) -> list[int]:
    return [len(d) for m in model.modules() for d in (m._forward_hooks, m._forward_pre_hooks,
                                                      m._backward_hooks, m._backward_pre_hooks)]


class ExplodesOnCopies(torch.nn.Module):
    """Raises on any batch larger than the caller's: inside the wrapper, after the whole-image forward."""

    def __init__(self, net: torch.nn.Module, batch: int) -> None:
        super().__init__()
        self.net, self.batch = net, batch

    def forward(self, inputs):  # type: ignore[no-untyped-def]
        out = self.net(inputs)
        if inputs.shape[0] > self.batch:
            raise RuntimeError("boom")
        return out


@pytest.mark.parametrize("method", ["saliency", "deconvnet", "guided_backprop", "random"])
@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=list(WRAPPERS))
def test_mode_flags_and_hooks_restored_after_an_exception_inside_a_wrapper(x, method, wrap):
    model = ExplodesOnCopies(tiny_cnn(), batch=2).train()
    model.net[0].weight.requires_grad_(False)  # a mixed set of flags must come back exactly
    flags, hooks = [p.requires_grad for p in model.parameters()], _hooks(model)
    wrapped = wrap(attribkit.create_attributor(method, model))
    if isinstance(wrapped, MultiScale):
        wrapped = MultiScale(TenCrop(wrapped.attributor))  # make the copies outnumber the images
    with pytest.raises(RuntimeError, match="boom"):
        wrapped.attribute(x, top_k=2)
    assert model.training and all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert _hooks(model) == hooks and torch._C._len_torch_function_stack() == 0
    assert all(p.grad is None for p in model.parameters())
    # ... and the model's plain gradient is the plain gradient again.
    model.batch = 10**6
    model.eval()
    torch.testing.assert_close(
        attribkit.create_attributor("saliency", model).attribute(x, target=1)[0],
        naive_gradient(model, x[0], 1),
    )
