"""Short ``repr``s for results that hold arrays: the dtype and shape, never the values."""

from __future__ import annotations

from typing import Any


def array_summary(a: Any) -> str:
    """``float32[300, 451]`` for a numpy array or a torch tensor (``torch.float32`` is shown as ``float32``).

    Example
    -------
    >>> import numpy as np
    >>> array_summary(np.zeros((2, 3), dtype=np.uint8))
    'uint8[2, 3]'
    """
    dtype = str(getattr(a, "dtype", type(a).__name__)).removeprefix("torch.")
    shape = getattr(a, "shape", ())
    return f"{dtype}[{', '.join(str(int(s)) for s in shape)}]"
