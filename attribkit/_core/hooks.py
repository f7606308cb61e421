"""Forward hooks that see only the calling thread's forward passes.

A module hook fires for *every* call of the module, whichever thread makes it: a hook that records or
replaces a layer's output for one attribution would also act on another thread's forward of the same
model (a web service sharing one model). :func:`thread_hooks` registers hooks that act only in the thread
that entered the ``with`` block and removes them on exit, also after an exception. The rule engine
(:func:`attribkit.rules.applied`) counts a model's forward calls with it; Grad-CAM captures its layer's
output with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

PreHook = Callable[[torch.nn.Module, Any], Any]
PostHook = Callable[[torch.nn.Module, Any, Any], Any]


@contextmanager
def thread_hooks(
    module: torch.nn.Module,
    *,
    pre: PreHook | None = None,
    post: PostHook | None = None,
    prepend: bool = False,
    always_call: bool = False,
) -> Iterator[None]:
    """Register ``pre`` (forward pre-hook) and ``post`` (forward hook) on ``module`` for this thread only.

    Each is called as a torch hook would be, and may return a replacement as torch allows, but only for
    forward passes run by the thread that entered the block; other threads' passes go through untouched.

    Parameters
    ----------
    module
        The module to hook.
    pre, post
        ``pre(module, args)`` and ``post(module, args, output)``; either may be ``None``.
    prepend
        Run ``pre`` before the module's other forward pre-hooks (``register_forward_pre_hook``'s option).
    always_call
        Call ``post`` also when the forward raises (``register_forward_hook``'s option).
    """
    owner = threading.get_ident()
    with ExitStack() as stack:
        if pre is not None:
            def scoped_pre(m: torch.nn.Module, args: Any) -> Any:
                return pre(m, args) if threading.get_ident() == owner else None

            stack.callback(module.register_forward_pre_hook(scoped_pre, prepend=prepend).remove)
        if post is not None:
            def scoped_post(m: torch.nn.Module, args: Any, output: Any) -> Any:
                return post(m, args, output) if threading.get_ident() == owner else None

            stack.callback(module.register_forward_hook(scoped_post, always_call=always_call).remove)
        yield
