"""``python tests/_study_script.py OUT PHOTOS WORKERS [DELAY]``: a small study in its own process (the
interruption and torchrun tests need one). Works unchanged under ``torchrun``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _study_helpers as helpers  # noqa: E402

from attribkit.study import run_study  # noqa: E402


def main() -> None:
    # A process started in the background by a non-interactive shell (`cmd &`, as some CI runners do)
    # inherits SIGINT ignored, and Python then keeps ignoring it; a person's Ctrl-C is what is tested.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    out, photos, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # The delay slows the localiser without changing its results: an environment variable (inherited by
    # the worker processes), not an option, since a study refuses to resume with other localiser options.
    os.environ[helpers.DELAY_VARIABLE] = sys.argv[4] if len(sys.argv) > 4 else "0"
    helpers.install_registry()
    run_study(
        helpers.tiny_classifier(), photos, methods=["saliency", "random"], localisers=["above_mean"],
        localiser_options={"above_mean": {"noise": 0.5}}, out=out, workers=workers,
        steps=4, gallery=2, progress=False, road=3, sanity=2,
    )


if __name__ == "__main__":
    main()
