"""The house's layers, read from the source: who may import whom.

- nothing outside ``attribkit/cli`` imports ``attribkit.cli`` (the library never depends on its shell);
- ``attribkit/_core`` imports no other attribkit layer (only ``errors`` and ``hookspecs``);
- ``hookspecs`` and ``errors`` import nothing from attribkit at all;
- the core never imports a built-in method by name (``attribkit.methods``): methods arrive through
  entry points;
- no import cycles between modules, counting imports inside functions too: a deferred import is still
  a dependency (it only moves the failure from import time to call time), so it must not point back;
- no cycles between layers (``models`` -> ``data`` -> ``models``): every import points down the house.
Imports under ``if TYPE_CHECKING:`` never run and are left out of the two cycle checks.
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


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (also ``typing.TYPE_CHECKING``, ``_typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, *, runtime_only: bool):
    """Every node under ``node`` (function bodies included); ``runtime_only`` skips ``if TYPE_CHECKING:``
    bodies (their ``else:`` still runs)."""
    for child in ast.iter_child_nodes(node):
        if runtime_only and _is_type_checking(child):
            for other in child.orelse:
                yield other
                yield from _walk(other, runtime_only=runtime_only)
            continue
        yield child
        yield from _walk(child, runtime_only=runtime_only)


def _imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    """attribkit modules imported anywhere in ``path``, inside functions too (``from a.b import c`` counts
    ``a.b`` and ``a.b.c``); ``runtime_only`` leaves out ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _walk(tree, runtime_only=runtime_only):
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
    assert not [m for m in _imports(MODULES[module]) if m.startswith("attribkit.cli")]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer_of(m) == "_core"))
def test_core_imports_no_other_layer(module):
    allowed = ("attribkit._core", "attribkit.errors", "attribkit.hookspecs")
    stray = [m for m in _imports(MODULES[module])
             if m != "attribkit" and not m.startswith(allowed)]
    assert stray == []


@pytest.mark.parametrize("module", ["attribkit.hookspecs", "attribkit.errors"])
def test_foundations_import_nothing_from_attribkit(module):
    assert _imports(MODULES[module]) == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer_of(m) not in ("methods", "cli")))
def test_library_never_imports_a_method_by_name(module):
    assert not [m for m in _imports(MODULES[module]) if m.startswith("attribkit.methods")]


def _module_graph() -> dict[str, set[str]]:
    """module -> the attribkit modules it imports at run time (anywhere in it)."""
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for imported in _imports(path, runtime_only=True):
            # `from attribkit.x import y`: y is a module of its own or a name in attribkit.x
            while imported and imported not in MODULES:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first search meets (empty for an acyclic graph)."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for t in sorted(edges.get(node, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t, stack + [t])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_cycles():
    graph = _module_graph()
    # A package's __init__ importing its own submodules is how packages re-export: not a cycle.
    edges = {node: {t for t in targets if not (node == "attribkit" or t.startswith(node + "."))}
             for node, targets in graph.items()}
    assert _cycles(edges) == []


def test_no_cycles_between_layers():
    """Layers (``attribkit/<layer>/``) import each other one way only: no upward import, even deferred.
    The package's ``__init__`` (the public face, which re-exports every layer) and ``from attribkit
    import ...`` (what plugins, built-in ones included, use) stand above the layers and are left out."""
    edges: dict[str, set[str]] = {}
    examples: dict[tuple[str, str], str] = {}
    for name, targets in _module_graph().items():
        if name == "attribkit":
            continue
        for t in targets:
            a, b = _layer_of(name), _layer_of(t)
            if b and a != b:
                edges.setdefault(a, set()).add(b)
                examples.setdefault((a, b), f"{name} -> {t}")
    cycles = _cycles(edges)
    assert [[examples[(a, b)] for a, b in zip(c, c[1:])] for c in cycles] == []
