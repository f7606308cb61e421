"""Backward rules: how a rectifier passes the backward signal (Simonyan et al. 2013, section 5).

Every activation the engine covers is a *rectifier* ``y = clamp(x, 0, upper)``: ReLU (``upper = inf``)
and ReLU6 / ``hardtanh(x, 0, upper)``. Its true gradient passes ``grad_out`` where the forward input was
strictly inside ``(0, upper)``. A rule replaces that backward and nothing else; convolutions, pooling
switches, batch-norm and linear layers keep their ordinary backward, which is the paper's point: DeconvNet
reconstruction *is* the gradient except at ReLU.

A rule sees the forward *output*; the forward switches follow from it because ``0 < y < upper`` exactly
where ``0 < x < upper``. Under a batched backward (``torch.autograd.grad(..., is_grads_batched=True)``)
``grad_out`` is a batched tensor with the output's logical shape, so a rule should use elementwise torch
operations (they all have batching rules).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


class Rule:
    """Base class of a backward rule for the rectifier ``y = clamp(x, 0, upper)``.

    Subclasses set :attr:`name` and override :meth:`rectifier_backward` (DeconvNet, guided backprop), or
    any of the relevance hooks :meth:`activation`, :meth:`softmax`, :meth:`bilinear`,
    :meth:`layer_norm`, :meth:`linear`, :meth:`add` (AttnLRP, CP-LRP); an operation whose hook a rule does not override
    is left to the next rule in force, or keeps its gradient. Rules are small stateless objects: apply
    one, or several together, with :func:`attribkit.rules.applied`.

    Example
    -------
    >>> class Absolute(Rule):
    ...     name = "absolute"
    ...     def rectifier_backward(self, grad_out, output, upper):
    ...         return self.forward_switch(grad_out.abs(), output, upper)
    """

    #: A short name, used in messages.
    name: str = "rule"

    #: For the smooth and leaky activations (GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish, Softplus):
    #: whether the activation's local derivative ``f'(x)`` multiplies :meth:`activation_signal`
    #: (guided backprop: yes; DeconvNet: no, the activation passes back as the identity).
    keeps_local_derivative: bool = True

    def rectifier_backward(
        self, grad_out: torch.Tensor, output: torch.Tensor, upper: float
    ) -> torch.Tensor:
        """The signal passed back to the rectifier's input.

        Parameters
        ----------
        grad_out
            The backward signal arriving at the rectifier's output.
        output
            The rectifier's forward output (same logical shape as ``grad_out``).
        upper
            The upper clamp: ``math.inf`` for ReLU, ``6.0`` for ReLU6.

        Returns
        -------
        torch.Tensor
            The signal for the rectifier's input, shaped like ``grad_out``.
        """
        raise NotImplementedError

    def activation_signal(self, grad_out: torch.Tensor) -> torch.Tensor:
        """The signal a smooth or leaky activation passes back (times ``f'(x)`` if
        :attr:`keeps_local_derivative`).

        A rule that does not override this leaves those activations their plain gradient, and
        :func:`attribkit.rules.applied` warns that it does not cover them. See ``docs/rules.md``.
        """
        raise NotImplementedError

    # -- Relevance hooks (AttnLRP, CP-LRP and plugins): optional. ------------------------------------------
    # Each receives the operation's inputs and ``call``, the original call with those inputs substituted,
    # and returns a tensor *equal in value* to the call's result whose backward is the rule's (build it
    # with :func:`attribkit.rules.scale_gradient`, :func:`~attribkit.rules.identity_rule`, ``detach()``,
    # ...). A rule that does not override a hook leaves that operation to the next rule in force, or to
    # its plain gradient. See ``docs/rules.md``, "Relevance rules".

    def activation(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """An elementwise activation ``y = f(x)``: GELU, SiLU, ELU, LeakyReLU, Hardswish, Mish, Softplus,
        and the rectifiers too when the rule has no :meth:`rectifier_backward`.

        Takes precedence over :meth:`activation_signal` in the same rule. ``call(x)`` is out of place
        (an in-place model call is written back by the engine). AttnLRP's identity rule (Achtibat et al.
        2024, Eq. 9) is ``identity_rule(call, x)``.
        """
        raise NotImplementedError

    def softmax(self, x: torch.Tensor, call: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``softmax(x, dim)`` however spelled (``F.softmax``, ``torch.softmax``, ``Tensor.softmax``), and
        the softmax of a decomposed ``scaled_dot_product_attention``. ``call(x)`` is the original call."""
        raise NotImplementedError

    def bilinear(
        self, operands: Sequence[torch.Tensor], call: Callable[..., torch.Tensor]
    ) -> torch.Tensor:
        """A product of two or more activations: ``matmul``/``@``/``bmm``/``mm``/``baddbmm``/``einsum``
        whose operands (at least two) all depend on the input, e.g. ``q @ k.T`` and ``attn @ v``.

        ``operands`` are those varying operands in order; ``call(*new_operands)`` recomputes the product
        with them substituted (other arguments, a parameter operand or ``baddbmm``'s additive input, are
        kept). A product with a parameter (``x @ W``) is linear and never reaches this hook. AttnLRP's
        uniform rule (Eq. 7) is ``call(*(scale_gradient(t, 1 / len(operands)) for t in operands))``.
        """
        raise NotImplementedError

    def add(self, operands: Sequence[torch.Tensor], call: Callable[..., torch.Tensor]) -> torch.Tensor:
        """A sum of two activations, ``a + b`` (``Tensor.add``, ``torch.add``, ``+``): a residual
        connection. A sum with a parameter or constant (``x + pos_embed``, ``scores + mask``) never reaches
        this hook; neither does an in-place ``+=`` (it keeps its gradient). ``call(a, b)`` recomputes the
        sum. Without this hook a sum keeps its gradient, which in Gradient×Input splits the relevance in
        proportion to ``a`` and ``b``'s contributions."""
        raise NotImplementedError

    def layer_norm(
        self,
        x: torch.Tensor,
        normalized_shape: Sequence[int],
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """``layer_norm(x, normalized_shape, weight, bias, eps)`` (``nn.LayerNorm``, ``F.layer_norm``,
        ``torch.layer_norm``). ``call(x)`` is the original call."""
        raise NotImplementedError

    def linear(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        call: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """``linear(x, weight, bias)`` (``nn.Linear``, ``F.linear``, the projections inside
        ``nn.MultiheadAttention``). ``call(x)`` is the original call."""
        raise NotImplementedError

    @staticmethod
    def forward_switch(signal: torch.Tensor, output: torch.Tensor, upper: float) -> torch.Tensor:
        """``signal`` where the input was strictly inside ``(0, upper)``, else 0 (a new tensor).

        This is PyTorch's own fused backward kernel of ReLU / hardtanh: one pass over memory, which is
        what keeps a rule as fast as the plain gradient (separate compare, cast and multiply kernels cost
        about 25% of a CPU backward pass on EfficientNet-Lite0).
        """
        if math.isinf(upper):
            return torch.ops.aten.threshold_backward(signal, output, 0.0)
        return torch.ops.aten.hardtanh_backward(signal, output, 0.0, upper)

    @staticmethod
    def upper_switch(signal: torch.Tensor, output: torch.Tensor, upper: float) -> torch.Tensor:
        """``signal`` where the input was below ``upper``, else 0; ``signal`` itself for ReLU."""
        if math.isinf(upper):
            return signal
        return torch.ops.aten.hardtanh_backward(signal, output, -math.inf, upper)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Gradient(Rule):
    """The true gradient: ``grad_out * (0 < x < upper)`` (PyTorch's own backward; a reference)."""

    name = "gradient"

    def rectifier_backward(
        self, grad_out: torch.Tensor, output: torch.Tensor, upper: float
    ) -> torch.Tensor:
        return self.forward_switch(grad_out, output, upper)

    def activation_signal(self, grad_out: torch.Tensor) -> torch.Tensor:
        return grad_out


class DeconvNet(Rule):
    """DeconvNet (Zeiler & Fergus 2014): ReLU applied to the *backward signal*, ``relu(grad_out)``.

    At ReLU the forward sign is ignored, as the paper's section 5 says. At ReLU6's upper clamp we keep
    the forward switch, like a max-pooling switch: where the input was at or above ``upper`` the output did
    not depend on it, so nothing is passed back. In full: ``relu(grad_out) * (x < upper)``.

    Smooth and leaky activations (GELU, SiLU, ...) get the generalisation that keeps DeconvNet's defining
    step and drops the forward switch: ``relu(grad_out)``, whatever ``x`` was.
    """

    name = "deconvnet"
    keeps_local_derivative = False

    def activation_signal(self, grad_out: torch.Tensor) -> torch.Tensor:
        return grad_out.clamp(min=0)

    def rectifier_backward(
        self, grad_out: torch.Tensor, output: torch.Tensor, upper: float
    ) -> torch.Tensor:
        switched = self.upper_switch(grad_out, output, upper)
        # In place only on a tensor we made: grad_out itself may be shared with other graph branches.
        return grad_out.clamp(min=0) if switched is grad_out else switched.clamp_(min=0)


class GuidedBackprop(Rule):
    """Guided backpropagation (Springenberg et al. 2015): both masks, ``relu(grad_out) * (0 < x < upper)``.

    Smooth and leaky activations (GELU, SiLU, ...) get the generalisation that keeps the local derivative
    and rectifies the backward signal: ``f'(x) * relu(grad_out)`` (at ReLU, ``f'(x) = (x > 0)``).
    """

    name = "guided_backprop"

    def activation_signal(self, grad_out: torch.Tensor) -> torch.Tensor:
        return grad_out.clamp(min=0)

    def rectifier_backward(
        self, grad_out: torch.Tensor, output: torch.Tensor, upper: float
    ) -> torch.Tensor:
        return self.forward_switch(grad_out, output, upper).clamp_(min=0)
