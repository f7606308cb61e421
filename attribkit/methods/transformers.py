"""Built-in plugins for vision transformers: ``rollout`` (Abnar & Zuidema 2020), ``attention_flow``
(ibid.), ``gradient_rollout`` (Chefer et al., ICCV 2021) and ``legrad`` (Bousselham et al. 2024). The
implementations are in :mod:`attribkit.transformers`; this plugin only names them. Each explains vision
transformers only: a CNN gets one :class:`~attribkit.errors.ModelError`."""

from __future__ import annotations

from attribkit.hookspecs import Registrar, hookimpl
from attribkit.transformers import AttentionFlow, AttentionRollout, GradientRollout, LeGrad


@hookimpl
def attribkit_register(registry: Registrar) -> None:
    registry.add_attributor(
        "rollout", AttentionRollout,
        description="attention rollout: residual attention multiplied over the blocks, class token's row "
                    "(Abnar & Zuidema 2020; ViT only, the same map for every class)",
    )
    registry.add_attributor(
        "attention_flow", AttentionFlow,
        description="attention flow: max-flow from the class token through the residual attention graph "
                    "(Abnar & Zuidema 2020; ViT only, ~3 s per image at 197 tokens, CPU)",
    )
    registry.add_attributor(
        "gradient_rollout", GradientRollout,
        description="gradient-weighted attention rollout, R += mean_h((grad A * A)^+) R "
                    "(Chefer, Gur & Wolf, ICCV 2021; ViT only)",
    )
    registry.add_attributor(
        "legrad", LeGrad,
        description="LeGrad: positive gradient of each block's class score w.r.t. its attention, averaged "
                    "(Bousselham et al. 2024; ViT only)",
    )
