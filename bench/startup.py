"""Start-up of the command line: ``attribkit --help`` and a one-photo ``attribkit saliency``, against
``python -c pass`` and ``python -c "import torch"`` measured in the same run (issue 15).

Each command runs in a fresh interpreter, interleaved with the others, ``--repeats`` times; the table
gives medians and ratios to ``import torch``, so a busy machine moves the seconds but hardly the ratios.
``--before DIR`` adds the same two commands run from another checkout (e.g. the commit before the
change), first on ``PYTHONPATH``::

    python bench/startup.py --repeats 5 --before /path/to/old/checkout

Targets on a quiet machine: ``--help`` <= 0.3 s, one-photo saliency <= 2.5 s.
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
        "attribkit saliency (1 photo)": [*entry, "saliency", str(photo), "--out", str(out)],
    }


def _env(checkout: Path | None) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if checkout is not None:
        paths = [checkout, checkout / "plugins" / "attribkit-captum", checkout / "plugins" / "attribkit-template"]
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


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
    print(f"| command | median s (of {args.repeats}) | / import torch |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / torch_s:.2f} |")


if __name__ == "__main__":
    main()
