"""The house's layers, read from the source: who may import whom.

- nothing outside ``attribkit/cli`` imports ``attribkit.cli`` (the library never depends on its shell);
- ``attribkit/_core`` imports no other attribkit layer (only ``errors`` and ``hookspecs``);
- ``hookspecs`` and ``errors`` import nothing from attribkit at all;
- the core never imports a built-in method by name (``attribkit.methods``): methods arrive through
  entry points;
- no import cycles between modules (module-level imports; imports inside functions are deferred on
  purpose and cannot form a cycle at import time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import attribkit

ROOT = Path(attribkit.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """attribkit modules imported by ``path`` (``from a.b import c`` counts ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks do not run
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m == "attribkit" or m.startswith("attribkit.")}


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


# ``attribkit/__main__.py`` is ``python -m attribkit``: the shell's entry point, like the console script.
@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer_of(m) not in ("cli", "__main__")))
def test_nothing_outside_cli_imports_the_cli(module):
    assert not [m for m in _imports(MODULES[module], top_level_only=False) if m.startswith("attribkit.cli")]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer_of(m) == "_core"))
def test_core_imports_no_other_layer(module):
    allowed = ("attribkit._core", "attribkit.errors", "attribkit.hookspecs")
    stray = [m for m in _imports(MODULES[module], top_level_only=False)
             if m != "attribkit" and not m.startswith(allowed)]
    assert stray == []


@pytest.mark.parametrize("module", ["attribkit.hookspecs", "attribkit.errors"])
def test_foundations_import_nothing_from_attribkit(module):
    assert _imports(MODULES[module], top_level_only=False) == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer_of(m) not in ("methods", "cli")))
def test_library_never_imports_a_method_by_name(module):
    assert not [m for m in _imports(MODULES[module], top_level_only=False) if m.startswith("attribkit.methods")]


def test_no_import_cycles():
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for imported in _imports(path, top_level_only=True):
            # `from attribkit.x import y`: y is a module of its own or a name in attribkit.x
            while imported and imported not in MODULES:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    # A package's __init__ importing its own submodules is how packages re-export: not a cycle.
    def edges(node):
        return {t for t in graph[node] if not (node == "attribkit" or t.startswith(node + "."))}

    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for t in sorted(edges(node)):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t, stack + [t])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
