"""
A small comparative study
=========================

Methods x localisers on two sample photos, with deletion/insertion, ROAD, the randomisation sanity check,
95% intervals, paired tests and an HTML report::

    python examples/study.py [OUT_DIR]

The same from the shell: ``attribkit study --methods saliency,random --localisers threshold
--data samples:chelsea,coffee --road 2 --sanity 2 --out OUT_DIR``. Two photos are far too few for a verdict:
the tables say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import attribkit
from attribkit.study import run_study

out = Path(sys.argv[1] if len(sys.argv) > 1 else "example-out") / "study"
model = attribkit.load_model()

# Whatever is installed: the built-ins, Grad-CAM from the Captum bridge, the paper's localisers.
methods = [m for m in ("saliency", "random", "captum:gradcam") if m in attribkit.list_attributors()]
localisers = [loc for loc in ("graphcut", "threshold") if loc in attribkit.list_localisers()]

# road=2, sanity=2: ROAD and the cascading randomisation check on both photos (the costly metrics; a
# large study gives them to its first N photos). workers=0: two photos do not pay for a worker's start.
# %%
# The study: every method's map for each photo's top-1 class, every localiser's box, the metrics and
# their intervals; records land under ``out`` (run it again and nothing is recomputed).
result = run_study(model, "samples:chelsea,coffee", methods=methods, localisers=localisers, out=out,
                   steps=8, workers=0, gallery=2, road=2, sanity=2)
print((result.out / "results.md").read_text())
# %%
# The randomisation check per method: how similar the map stays as the model's weights are re-drawn,
# block after block. A map that does not change explains the image, not the model.
for row in result.rows:
    if row.localiser == localisers[0]:
        low, high = row.intervals["randomisation"]
        # Two photos are too few for a verdict (it needs 8); the similarity is shown all the same.
        print(f"{row.method}: similarity to the trained model's map over the cascade {row.randomisation:.2f} "
              f"[{low:.2f}, {high:.2f}] -> sanity check: {row.sanity}")
print(result.files["html"])
