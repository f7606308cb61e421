"""Start-up of the command line: ``attribkit --help`` and a one-photo ``attribkit saliency photo.jpg``,
against ``python -c pass`` and ``python -c "import torch"`` measured in the same run (issues 15 and 20).

Each command runs in a fresh interpreter, interleaved with the others, ``--repeats`` times; the table
gives medians and ratios to ``import torch``, so a busy machine moves the seconds but hardly the ratios.
The photo is a real one (scikit-image's ``chelsea``, written to a temporary JPEG). Two saliency runs:
the default (the paper's map and, beside it, SmoothGrad over 25 noisy copies: 26 forward and backward
passes) and ``--smooth 0`` (the paper's map alone: one pass, so nearly all of it is start-up).
``--before DIR`` adds the same commands run from another checkout (e.g. the commit before the change),
first on ``PYTHONPATH``::

    python bench/startup.py --repeats 5 --before /path/to/old/checkout

Goals: ``--help`` <= 0.3 s on a quiet machine; one-photo saliency <= 1.6 x ``import torch``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(photo: Path, out: Path) -> dict[str, list[str]]:
    entry = [sys.executable, "-c", "import sys; from attribkit.cli import main; sys.exit(main())"]
    return {
        "attribkit --help": [*entry, "--help"],
        "attribkit saliency photo.jpg": [*entry, "saliency", str(photo), "--out", str(out)],
        "attribkit saliency photo.jpg --smooth 0": [*entry, "saliency", str(photo), "--smooth", "0",
                                                    "--out", str(out)],
    }


def _env(checkout: Path | None) -> dict[str, str]:
    # One intra-op thread unless the caller says otherwise: on a shared 2-core machine a second thread
    # stalls whenever the other core is busy (issue 20, item 9), which would time the load, not the code.
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if checkout is not None:
        paths = [checkout, checkout / "plugins" / "attribkit-captum", checkout / "plugins" / "attribkit-template"]
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def _load() -> str:
    """The 1-minute load average (other processes running), or "?" where the OS does not say."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to compare against")
    args = parser.parse_args()

    from PIL import Image

    tmp = Path(tempfile.mkdtemp(prefix="attribkit-startup-"))
    photo = tmp / "chelsea.jpg"
    import skimage.data

    Image.fromarray(skimage.data.chelsea()).save(photo)
    runs: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], _env(None)),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], _env(None)),
    }
    for label, checkout in [("after", ROOT), ("before", args.before)]:
        if checkout is None:
            continue
        for name, cmd in _commands(photo, tmp / f"out-{label}").items():
            runs[f"{name} [{label}]"] = (cmd, _env(checkout))

    load_before = _load()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (cmd, env) in runs.items():  # interleaved: load drifts hit every command alike
            start = time.perf_counter()
            # cwd=tmp: `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH.
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
            times[name].append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    torch_s = statistics.median(times["python -c 'import torch'"])
    print(f"OMP_NUM_THREADS={runs['python -c pass'][1]['OMP_NUM_THREADS']}, load average before/after: "
          f"{load_before} / {_load()}")
    print(f"| command | median s (of {args.repeats}) | min-max s | / import torch |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {median / torch_s:.2f} |")


if __name__ == "__main__":
    main()
