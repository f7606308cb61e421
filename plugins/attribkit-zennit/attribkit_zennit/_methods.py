"""The bridged Zennit composites (Montavon et al. 2019, "Layer-wise relevance propagation: an overview";
Kohlbrenner et al. 2020, "Towards best practice in explaining neural network decisions with LRP")."""

from __future__ import annotations

from zennit.composites import EpsilonAlpha2Beta1, EpsilonPlus, EpsilonPlusFlat

from attribkit_zennit._bridge import ZennitAttributor


class ZennitEpsilonPlus(ZennitAttributor):
    """LRP-z+ on convolutions, LRP-epsilon on fully connected layers."""

    composite_class = EpsilonPlus


class ZennitEpsilonAlpha2Beta1(ZennitAttributor):
    """LRP-alpha2-beta1 on convolutions (positive contributions twice, negative once), LRP-epsilon on
    fully connected layers."""

    composite_class = EpsilonAlpha2Beta1


class ZennitEpsilonPlusFlat(ZennitAttributor):
    """As :class:`ZennitEpsilonPlus`, with the flat rule on the first linear layer (relevance spread
    evenly over its receptive field, independent of the input values)."""

    composite_class = EpsilonPlusFlat
