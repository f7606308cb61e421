"""A shadowed copy of a distribution (an editable install of another checkout further down sys.path)
must not add entry points: only the first copy is the one Python imports."""

from __future__ import annotations

from importlib import metadata
from types import SimpleNamespace

import attribkit._core.registry as registry_module


def test_only_the_first_copy_of_a_distribution_contributes_entry_points(monkeypatch):
    def dist(name: str, *entries: str) -> SimpleNamespace:
        eps = [metadata.EntryPoint(e, f"pkg.{e}", "attribkit") for e in entries]
        return SimpleNamespace(metadata={"Name": name}, entry_points=eps)

    fakes = [dist("attribkit", "saliency", "deconvnet"), dist("Attribkit", "saliency", "stale_method"),
             dist("other-plugin", "extra")]
    monkeypatch.setattr(registry_module.metadata, "distributions", lambda: iter(fakes))
    names = [ep.name for ep, _ in registry_module._entry_points()]
    assert sorted(names) == ["deconvnet", "extra", "saliency"]
