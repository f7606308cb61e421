"""Whether worker processes may be spawned from here: the ``spawn`` start method imports the main script
again in every worker, so a study started from a script's top level, outside ``if __name__ ==
"__main__":``, would start itself again in each worker (which then fails: ``BrokenProcessPool``).

:func:`unguarded_main` tells that case apart by reading the script, so the study can localise in its own
process instead of crashing (what a user pasting the documentation's example into a file gets).
"""

from __future__ import annotations

import ast
import sys
import warnings
from types import FrameType

from attribkit.errors import AttribkitWarning


def unguarded_main() -> str | None:
    """``"<script>:<line>"``, the main script's top-level line this call comes from, when that line is
    outside an ``if __name__ == "__main__":`` block (spawned workers would run it again); ``None`` when
    workers are safe.

    Safe: an interactive session, ``python -c`` or stdin (nothing is imported again), a package's
    ``__main__`` (``python -m pkg``: multiprocessing does not import it again), and a call made under the
    guard. A script whose source cannot be read counts as unsafe (a worker could not import it either).
    """
    main = sys.modules.get("__main__")
    if main is None:
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None and (name == "__main__" or name.endswith(".__main__")):
        return None
    if name is None and getattr(main, "__file__", None) is None:
        return None
    top = _top_level_frame(vars(main))
    if top is None:  # not reached from the script's top-level code (a thread, an atexit hook)
        return None
    path = top.f_code.co_filename
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return f"{path}:{top.f_lineno}"
    line = top.f_lineno
    guarded = any(isinstance(node, ast.If) and _is_main_test(node.test)
                  and node.lineno <= line <= (node.end_lineno or node.lineno) for node in tree.body)
    return None if guarded else f"{path}:{line}"



def stays_in_process(processes: str, work: str, use: str, *, stacklevel: int) -> bool:
    """Whether ``processes`` (``"4 loader processes"``) must not be spawned because the call comes from an
    unguarded script's top level (:func:`unguarded_main`); if so, says with an
    :class:`~attribkit.errors.AttribkitWarning` that ``work`` (``"decoding photos"``) runs in this process
    instead. ``stacklevel`` counts from the caller, as for :func:`warnings.warn`."""
    script = unguarded_main()
    if script is None:
        return False
    warnings.warn(f"{script}: the study runs at the script's top level, outside `if __name__ == "
                  f"'__main__':`, where {processes} would each run the script again; {work} in this process "
                  f"instead (put the call under that guard to use {use})", AttribkitWarning, stacklevel=stacklevel + 1)
    return True

def _top_level_frame(main_globals: dict[str, object]) -> FrameType | None:
    """The frame of the main module's own code (``<module>``) on this call's stack, if any."""
    frame: FrameType | None = sys._getframe(1)
    found = None
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            found = frame
        frame = frame.f_back
    return found


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))
