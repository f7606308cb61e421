"""The study's costly per-map checks, each a record kind of its own on the first photos of the data:

- ``"road"``: ROAD (Rong et al. 2022) MoRF and LeRF curves of the map, removed pixels filled by noisy
  linear imputation (:func:`attribkit.metrics.road`); one sparse solve per fraction and order, so about
  18 solves (~0.2 s each on one core at 224 × 224) per photo and method; on CUDA the nine fractions are
  solved together on the device.
- ``"sanity"``: the cascading model-parameter randomisation test (Adebayo et al. 2018, section 3,
  :func:`attribkit.metrics.model_randomisation`) block by block from the logits down, so one map per
  block per photo and method.

They are records apart from the ``"map"`` record so that a study may give them to fewer photos than the
rest (``run_study(road=N, sanity=M)``) and extend them later: a record is still a function of its key
(photo, method) and of the settings stored in ``study.json`` (:func:`check_settings`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import torch

from attribkit.metrics._road import FRACTIONS
from attribkit.study._records import Record

#: What decides a ROAD record (stored in ``study.json``): the paper's fractions 10%..90%, the reference's
#: noise, the softmax probability of the explained class.
ROAD_SETTINGS: dict[str, Any] = {"fractions": list(FRACTIONS), "noise": 0.01, "score": "probability"}
#: The sanity check randomises the model in at least this many blocks (``parameter_layers(blocks=...)``).
SANITY_BLOCKS = 8
#: Seed of the re-initialisation: every photo and method sees the same randomised models.
SANITY_SEED = 0


def seed_of(*parts: str) -> int:
    """A seed that is a function of names alone (photos, method): the same on every run and shard."""
    return zlib.crc32("|".join(parts).encode())


def check_settings(model: torch.nn.Module, *, road: int, sanity: int) -> dict[str, Any]:
    """The ``study.json`` entries of the checks a study runs (``{}`` when neither). The sanity check's
    blocks are found by one forward pass of a zero input of the model's crop size."""
    from attribkit.metrics import parameter_layers
    from attribkit.models._info import model_info

    settings: dict[str, Any] = {}
    if road:
        settings["road"] = dict(ROAD_SETTINGS)
    if sanity:
        size = model_info(model).preprocessing.crop
        example = torch.zeros(1, 3, size, size)
        settings["sanity"] = {"mode": "cascading", "seed": SANITY_SEED,
                              "layers": list(parameter_layers(model, example, blocks=SANITY_BLOCKS))}
    return settings


def road_record(model: torch.nn.Module, x: torch.Tensor, saliency: torch.Tensor, target: int, image: str,
                method: str) -> Record:
    """One photo's ROAD record: ``x`` ``[1, C, H, W]`` (the model's input), ``saliency`` ``[H, W]``."""
    from attribkit.metrics import road

    record: Record = {"kind": "road", "image": image, "method": method, "localiser": "",
                      "fractions": ROAD_SETTINGS["fractions"]}
    for order in ("morf", "lerf"):
        curve = road(model, x, saliency[None], [target], order=order, fractions=ROAD_SETTINGS["fractions"],
                     noise=ROAD_SETTINGS["noise"], score=ROAD_SETTINGS["score"], seed=seed_of(image, method, order))
        record[order] = curve.scores[0].tolist()
    return record


def sanity_records(model: torch.nn.Module, x: torch.Tensor, targets: torch.Tensor, images: Sequence[str],
                   method: str, factory: Any, layers: Sequence[str]) -> list[Record]:
    """The randomisation records of ``images``: the first ``len(images)`` rows of ``x`` and ``targets``
    (``[B, C, H, W]`` and ``[B]``; the other rows are the batch's padding).

    Each holds, per randomisation step (``layers[: l + 1]`` re-drawn), the similarity of the photo's map
    to the trained model's: Spearman of signed and absolute maps, SSIM, HOG (:func:`map_similarity`).
    """
    from attribkit.metrics import model_randomisation

    # Methods that draw random numbers (SmoothGrad, the random baseline) draw the same ones when the same
    # photos are checked again; the caller's random state is left as it was.
    device = x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed_of(*images, method, "sanity"))
        result = model_randomisation(model, x, targets, factory, mode="cascading", layers=layers,
                                     seed=SANITY_SEED)
    return [
        {"kind": "sanity", "image": image, "method": method, "localiser": "", "layers": list(result.layers),
         **{measure: [float(v) for v in values[:, i]] for measure, values in result.per_input.items()}}
        for i, image in enumerate(images)
    ]
