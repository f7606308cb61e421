"""The one check of what a model returned (attribkit._core.outputs), through every place that takes scores."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

import attribkit
from attribkit import ModelError, class_scores, create_attributor, set_output
from attribkit.metrics import deletion_curve
from attribkit.visualise import ClassModel


class Net(torch.nn.Module):
    """A tiny classifier whose forward returns ``wrap(logits)``."""

    def __init__(self, wrap=lambda s: s, classes: int = 4) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 5, 3, padding=1)
        self.fc = torch.nn.Linear(5, classes)
        self.wrap = wrap

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    def forward(self, x: torch.Tensor):
        return self.wrap(self.logits(x))


class WithLogits:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits
        self.hidden = None


def _x(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(0))


ACCEPTED = {
    "tensor": (lambda s: s, None),
    "logits attribute": (WithLogits, None),
    "logits key": (lambda s: {"logits": s, "aux": s.sum()}, None),
    "ordered dict logits": (lambda s: OrderedDict(logits=s), None),
    "tuple + index": (lambda s: (s, s.detach() * 0), 0),
    "dict + key": (lambda s: {"out": s, "aux": s * 2}, "out"),
    "tuple + callable": (lambda s: (s.detach(), (s,)), lambda raw: raw[1][0]),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_outputs_give_the_plain_gradient(case):
    wrap, output = ACCEPTED[case]
    torch.manual_seed(0)
    model = set_output(Net(wrap), output).eval()
    x = _x()
    got = create_attributor("saliency", model).attribute(x, target=1)
    xr = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(model.logits(xr)[:, 1].sum(), xr)
    torch.testing.assert_close(got, want)


def test_load_model_attaches_output():
    model = attribkit.load_model(Net(lambda s: (s, s)), output=0)
    assert class_scores(model, _x()).shape == (2, 4)


@pytest.mark.parametrize(
    "wrap, message",
    [
        (lambda s: (s, s * 2), r"returned a tuple \(Tensor\[2, 4\], Tensor\[2, 4\]\); say where .* output="),
        (lambda s: {"out": s}, r"returned dict \{'out': Tensor\[2, 4\]\}; say where"),
        (lambda s: s.argmax(1, keepdim=True), r"torch.int64 scores \(2, 1\).*not predicted labels"),
        (lambda s: s[:, 0], r"scores \(2,\) = \[N\]"),
        (lambda s: s[:, :, None, None], r"scores \(2, 4, 1, 1\) = \[N, C, 1, 1\]: flatten"),
        (lambda s: s.detach(), r"do not depend on the input through autograd \(detached"),
        (lambda s: s.reshape(1, 8), r"scores \(1, 8\) for 2 input\(s\)"),
        (lambda s: s.tolist(), r"returned a list"),
    ],
)
def test_bad_outputs_are_one_clear_model_error(wrap, message):
    model = Net(wrap)
    with pytest.raises(ModelError, match=message) as info:
        create_attributor("saliency", model).attribute(_x(), target=0)
    assert "\n" not in str(info.value)


def test_bad_selector_names_the_output():
    model = set_output(Net(lambda s: (s,)), 3)
    with pytest.raises(ModelError, match=r"output=3 does not select anything .* a tuple \(Tensor\[2, 4\]\)"):
        class_scores(model, _x())
    with pytest.raises(TypeError):
        set_output(Net(), 1.5)  # type: ignore[arg-type]


def test_same_check_in_class_model_and_faithfulness():
    model = Net(lambda s: (s, s))
    with pytest.raises(ModelError, match="say where"):
        deletion_curve(model, _x(), torch.rand(2, 8, 8), target=0, steps=2)
    with pytest.raises(ModelError, match="say where"):
        ClassModel(model, size=(8, 8), progress=False).visualise(0, steps=1)
    set_output(model, 0)
    curve = deletion_curve(model, _x(), torch.rand(2, 8, 8), target=0, steps=2)
    assert curve.scores.shape == (2, 3)


def test_detached_scores_are_fine_without_gradient():
    # Scores taken under no_grad (faithfulness, target resolution) need no graph.
    model = Net(lambda s: s.detach())
    with torch.no_grad():
        assert class_scores(model, _x()).shape == (2, 4)
    assert class_scores(model, _x()).shape == (2, 4)  # inputs need no grad: nothing to check
