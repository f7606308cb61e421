"""AttnLRP (Achtibat et al., ICML 2024) and CP-LRP (Ali et al., ICML 2022) as backward rules.

Both are LRP in the Gradient×Input framework: the relevance of a tensor is the tensor times its modified
gradient, and the explanation is ``input ⊙ grad_input`` under the rules. Operations without a rule keep
their gradient, which in this framework is LRP-0 for convolutions and additions (a residual connection
splits relevance in proportion to each branch's contribution). The rules follow the authors' own
implementation, the ``lxt`` package (``lxt.efficient``), equation for equation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from attribkit.errors import OptionError
from attribkit.rules._relevance import (
    identity_rule, layer_norm_identity, linear_epsilon, linear_zplus, normalised_sum, scale_gradient,
)
from attribkit.rules._rule import Rule


class AttnLRP(Rule):
    """AttnLRP (Achtibat et al., "AttnLRP: Attention-Aware Layer-Wise Relevance Propagation for
    Transformers", ICML 2024), section 3 and Table 1:

    * elementwise activations (GELU, SiLU, ..., ReLU): the identity rule, Eq. 9, ``R_in = R_out``;
    * softmax: Eq. 13, ``R_in = x ⊙ (R_out − s · Σ R_out)``, which *is* Gradient×Input of the softmax
      (its gradient is kept);
    * products of two activations (``q kᵀ``, ``A v``): the uniform rule, Eq. 7, half the relevance to
      each factor (``1/n`` for an ``n``-fold ``einsum``);
    * LayerNorm: the identity rule on the division by the standard deviation (the centring is linear);
    * linear layers: LRP-ε, Eq. 4, with ``epsilon`` (``0``: the gradient, as ``lxt.efficient`` does).

    Parameters
    ----------
    epsilon
        The stabiliser of the ε-rule at linear layers, ``≥ 0``.
    """

    name = "attnlrp"

    def __init__(self, *, epsilon: float = 1e-6) -> None:
        if not float(epsilon) >= 0:
            raise OptionError(f"epsilon must be >= 0; got {epsilon!r}")
        self.epsilon = float(epsilon)

    def activation(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return identity_rule(call, x)

    def softmax(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return call(x)

    def bilinear(self, operands: Sequence[torch.Tensor], call: Callable[..., torch.Tensor]) -> torch.Tensor:
        share = 1.0 / len(operands)
        return call(*(scale_gradient(t, share) for t in operands))

    def layer_norm(
        self,
        x: torch.Tensor,
        normalized_shape: Sequence[int],
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        return layer_norm_identity(x, normalized_shape, weight, bias, eps)

    def linear(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        return linear_epsilon(x, weight, bias, self.epsilon) if self.epsilon else call(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self.epsilon!r})"


class CPLRP(AttnLRP):
    """CP-LRP (Ali et al., "XAI for Transformers: Better Explanations through Conservative Propagation",
    ICML 2022), section 3: the attention probabilities are held constant (no relevance flows through the
    softmax into queries and keys, the "AH-rule"), so ``A v`` is linear in ``v``; LayerNorm's scale is held
    constant (the "LN-rule"). Outside the attention it is AttnLRP (identity rule at activations, ε at
    linear layers), as in ``lxt``'s CP-LRP for torchvision's ViT.

    Parameters
    ----------
    epsilon
        The stabiliser of the ε-rule at linear layers, ``≥ 0``.
    """

    name = "cplrp"

    def softmax(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return call(x).detach()


class CheferLRP(Rule):
    """The LRP of Chefer, Gur & Wolf ("Transformer Interpretability Beyond Attention Visualization", CVPR
    2021, section 3.1-3.2), as their published code (``modules/layers_ours.py``, ``ViT_LRP.py``) applies
    it with ``alpha=1``; it supplies the relevance ``R_A`` of each block's attention in ``chefer2021``.

    * linear layers: LRP-αβ with ``α = 1, β = 0`` (:func:`~attribkit.rules.linear_zplus`), bias ignored;
    * products of two activations (``q kᵀ``, ``A v``): Gradient×Input to each factor, halved (their
      ``einsum.relprop`` then ``/= 2``): the uniform rule;
    * residual sums: Gradient×Input shares rescaled to each branch's absolute share
      (:func:`~attribkit.rules.normalised_sum`, their ``Add.relprop``);
    * GELU, softmax, LayerNorm: relevance passed through unchanged (their ``RelProp.relprop``), which in
      Gradient×Input is the identity rule ``grad · f(x)/x`` elementwise.
    """

    name = "chefer_lrp"

    def activation(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return identity_rule(call, x)

    def softmax(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return identity_rule(call, x)

    def bilinear(self, operands: Sequence[torch.Tensor], call: Callable[..., torch.Tensor]) -> torch.Tensor:
        share = 1.0 / len(operands)
        return call(*(scale_gradient(t, share) for t in operands))

    def add(self, operands: Sequence[torch.Tensor], call: Callable[..., torch.Tensor]) -> torch.Tensor:
        return normalised_sum(operands[0], operands[1], call)

    def layer_norm(
        self,
        x: torch.Tensor,
        normalized_shape: Sequence[int],
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        return identity_rule(call, x)

    def linear(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        return linear_zplus(x, weight, bias)
