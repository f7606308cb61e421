"""The docs keep up with the code: every hook and every public name of the study/metrics API is documented."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import attribkit
import attribkit.metrics
import attribkit.study
from attribkit import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_is_documented_in_the_plugin_guide():
    guide = (DOCS / "plugins.md").read_text()
    hooks = [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("attribkit_")]
    assert hooks and all(f"`{h}(" in guide for h in hooks)


@pytest.mark.parametrize("module", [attribkit, attribkit.metrics, attribkit.study],
                         ids=lambda m: m.__name__)
def test_every_public_name_is_in_the_api_reference(module):
    reference = (DOCS / "api.md").read_text()
    missing = [n for n in module.__all__ if f"`{n}" not in reference and f" {n}(" not in reference
               and f"`{n}(" not in reference and f", `{n}" not in reference]
    assert missing == []


def test_public_names_have_docstrings():
    for module in (attribkit.metrics, attribkit.study):
        assert list(module.__all__) == sorted(module.__all__)
        undocumented = [n for n in module.__all__ if not getattr(module, n).__doc__]
        assert undocumented == []
