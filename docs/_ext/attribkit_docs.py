"""The site's own Sphinx pieces: the API reference from ``__all__``, the landing page's table of contents,
and the gallery's hooks (where the examples write, and how their PNGs reach the page).

The examples are plain scripts that save their pictures with :func:`attribkit.render.save_panel` (or a
matplotlib ``Figure`` of their own) into the folder given as their first argument; they never open a pyplot
window. sphinx-gallery's matplotlib scraper only sees pyplot figures, so :func:`png_scraper` instead picks
up the PNG files an example wrote, block by block, and :func:`example_argv` gives each example a folder of
its own to write them in.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parents[1]

#: The public modules in the order the reference lists them; any other public subpackage of attribkit
#: (a name without a leading underscore) follows, by name, so a new one joins the reference by itself. A
#: name several of them export is described once (see :func:`home_of`) and the others link to it.
REFERENCE_ORDER = (
    "attribkit",
    "attribkit.errors",
    "attribkit.hookspecs",
    "attribkit.data",
    "attribkit.models",
    "attribkit.attribution",
    "attribkit.rules",
    "attribkit.visualise",
    "attribkit.localisation",
    "attribkit.metrics",
    "attribkit.render",
    "attribkit.study",
)

#: Subpackages without a Python API of their own to describe, and where they are documented instead.
NOT_REFERENCED = {
    "attribkit.cli": "the command line: `attribkit --help`, the README and the guides",
    "attribkit.methods": "the built-in plugins, used by name (`attribkit plugins` lists them)",
    "attribkit.datasets": "the deprecated old name of attribkit.data",
}


def public_modules() -> tuple[str, ...]:
    """:data:`REFERENCE_ORDER`, then every other public subpackage of attribkit, by name."""
    import pkgutil

    import attribkit

    found = sorted(f"attribkit.{info.name}" for info in pkgutil.iter_modules(attribkit.__path__)
                   if info.ispkg and not info.name.startswith("_"))
    rest = [m for m in found if m not in REFERENCE_ORDER and m not in NOT_REFERENCED]
    return REFERENCE_ORDER + tuple(rest)


def page_of(module: str) -> str:
    """The reference page of ``module``: ``reference/data`` for ``attribkit.data``."""
    return "reference/" + (module.rpartition(".")[2] if "." in module else module)


#: Guides in reading order on the landing page; any other ``docs/*.md`` page joins after them, sorted.
GUIDES = ("saliency", "rules", "class_model", "localisation", "studies", "trustworthy", "models", "plugins",
          "annotations", "benchmarks")
#: Pages the landing page lists elsewhere (the API overview goes with the reference).
NOT_GUIDES = ("index", "api")


# --- the API reference -------------------------------------------------------------------------------------

def _exports(module: str) -> list[str]:
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    if names is None:  # hookspecs: its hook specifications and the Registrar protocol
        names = [n for n, obj in vars(mod).items() if not n.startswith("_")
                 and getattr(obj, "__module__", None) == module and (inspect.isfunction(obj) or inspect.isclass(obj))]
    return list(names)


def home_of(module: str, name: str) -> str:
    """The public module that describes ``module.name``: ``attribkit`` for the names it exports (the import
    path the README and the guides use), else the object's ``__module__`` when that module exports it, else
    the first public module that does (constants and aliases have no ``__module__`` of their own)."""
    obj = getattr(importlib.import_module(module), name)
    if name in _exports("attribkit") and getattr(importlib.import_module("attribkit"), name) is obj:
        return "attribkit"
    origin = getattr(obj, "__module__", None)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        if origin in public_modules() and name in _exports(origin):
            return origin
    for public in public_modules():
        if name in _exports(public) and getattr(importlib.import_module(public), name) is obj:
            return public
    return module


def _attribute_doc(module: str, name: str) -> list[str]:
    """The ``#:`` comment above ``name``'s assignment in the module that defines it (a constant's only
    documentation; autodoc would look in the public ``__init__``, which only imports it)."""
    package = importlib.import_module(module)
    candidates = [module]
    if hasattr(package, "__path__"):
        candidates += sorted(f"{module}.{p.stem}" for p in Path(package.__path__[0]).glob("_*.py")
                             if not p.stem.startswith("__"))  # never __main__: importing it runs the CLI
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source: nothing to read
            continue
        if ("", name) in docs:
            return list(docs[("", name)])
    return []


def _defining_module(obj: type) -> str | None:
    """The private module whose source defines class ``obj`` (its ``__module__`` now names the public one)."""
    import sys

    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("attribkit.") or not any(p.startswith("_") for p in modname.split(".")):
            continue
        if vars(module).get(obj.__name__) is not obj:
            continue
        try:
            if ModuleAnalyzer.for_module(modname).find_tags().get(obj.__qualname__, ("",))[0] == "class":
                return modname
        except Exception:  # noqa: BLE001 - no source: not this one
            continue
    return None


def _attribute_docs_of_published_classes(app: Sphinx) -> None:
    """Give autodoc the attribute docstrings (``#:`` comments, strings after a field) of published classes.

    :func:`attribkit._core.exports.publish` sets a class's ``__module__`` to the public module, so autodoc
    reads attribute docs in that module's source, where the class is only imported. Here the public
    module's analyzer is given the entries of the private module that defines the class (the cached
    analyzer is the one autodoc uses)."""
    for public in public_modules():
        for name in _exports(public):
            obj = getattr(importlib.import_module(public), name)
            if not inspect.isclass(obj) or obj.__module__ not in public_modules():
                continue
            private = _defining_module(obj)
            if private is None:
                continue
            source = ModuleAnalyzer.for_module(private)
            target = ModuleAnalyzer.for_module(obj.__module__)
            target.analyze()
            for key, doc in source.find_attr_docs().items():
                if key[0] == obj.__qualname__ or key[0].startswith(obj.__qualname__ + "."):
                    target.attr_docs.setdefault(key, doc)
                    target.tagorder.setdefault(".".join(key).lstrip("."), len(target.tagorder))


class PublicModule(SphinxDirective):
    """``.. public-module:: attribkit.data``: the module's docstring, then every name of its ``__all__``
    described (autodoc + napoleon) or linked to where it is described."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module = self.arguments[0]
        lines = [f".. automodule:: {module}", "   :no-members:", ""]
        elsewhere = [(name, home_of(module, name)) for name in _exports(module)]
        elsewhere = [(name, home) for name, home in elsewhere if home != module]
        if elsewhere:
            lines += [f"Importable from ``{module}`` too, and described once, on the page each link leads to: "
                      + ", ".join(f":py:obj:`{home}.{name}`" for name, home in elsewhere) + ".", ""]
        for name in _exports(module):
            obj = getattr(importlib.import_module(module), name)
            if home_of(module, name) != module:
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                lines += [f".. autoexception:: {module}.{name}", "   :show-inheritance:", ""]
            elif inspect.isclass(obj):
                lines += [f".. autoclass:: {module}.{name}", "   :members:", "   :show-inheritance:", ""]
            elif inspect.isfunction(obj):
                lines += [f".. autofunction:: {module}.{name}", ""]
            else:  # constants, type aliases, pluggy's marker
                doc = _attribute_doc(module, name) or [f"``{type(obj).__name__}``; see the guides."]
                lines += [f".. py:data:: {name}", f"   :module: {module}", ""]
                lines += [f"   {line}" if line.strip() else "" for line in doc] + [""]
        node = nodes.section()
        node.document = self.state.document
        self.state.nested_parse(StringList(lines, source=f"<public-module {module}>"), self.content_offset, node)
        return node.children


# --- references to re-exported names ------------------------------------------------------------------------

def _resolve_reexport(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    """A Python reference Sphinx did not find, tried under the public modules that describe it.

    Docstrings name things as their own module sees them (``:class:`Targets```, ``:meth:`attribute``` in a
    class, ``attribkit.attribution.with_averaging``), but the reference describes each object once, often
    as ``attribkit.<name>``: the same object under the import path users use. Only a target that then names
    a described object resolves; anything else stays a missing reference (and fails the build)."""
    if node.get("refdomain") != "py":
        return None
    from sphinx.util.nodes import make_refnode

    objects = env.domains["py"].objects
    target = node["reftarget"].lstrip(".~")
    tail = target.split(".")
    klass = node.get("py:class")
    stems = [target]
    if klass:
        stems.insert(0, f"{klass}.{target}")
    if tail[0] == "attribkit" and len(tail) > 2:  # attribkit.<module>.<name...> -> <name...>
        stems.append(".".join(tail[2:]))
    for stem in stems:
        for candidate in [stem] + [f"{public}.{stem}" for public in public_modules()]:
            entry = objects.get(candidate)
            if entry is not None:
                return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, candidate)
    return None


def _names_a_private_object(app: Sphinx, domain: Any, node: Any) -> bool | None:
    """Silence a missing Python reference only when it names a real object of a private module of the
    package whose docstring holds it (``:data:`MAX_NAME``` in ``attribkit.render``'s ``_files.py``): those
    are not on the site and show as text. Any other miss, a typo included, stays a warning (and fails the
    build)."""
    import sys

    if getattr(domain, "name", None) != "py":
        return None
    package = node.get("py:module") or ""
    if package.startswith("attribkit"):
        importlib.import_module(package)  # its private modules are what the name is looked up in
    target = node["reftarget"].lstrip(".~")
    paths = [target.split(".")]
    if node.get("py:class"):  # :meth:`_average` in a class's docstring
        paths.insert(0, [node["py:class"], *target.split(".")])
    for modname, module in list(sys.modules.items()):
        # the package's own private modules, and _core, which every package builds on
        inside = modname.startswith(package + ".") or modname.startswith("attribkit._core.")
        if not (inside and any(p.startswith("_") for p in modname.split("."))):
            continue
        for first, *rest in paths:
            obj = vars(module).get(first)
            for part in rest:
                obj = getattr(obj, part, None)
            if obj is not None:
                return True
    return None


# --- the landing page's table of contents ------------------------------------------------------------------

def guide_pages(docs: Path = DOCS) -> list[str]:
    """Every ``docs/*.md`` page but the landing page: the known guides first, in reading order, then any
    other (a page another change adds joins the site without an edit here)."""
    found = sorted(p.stem for p in docs.glob("*.md") if p.stem not in NOT_GUIDES)
    return [g for g in GUIDES if g in found] + [p for p in found if p not in GUIDES]


def _write_reference_pages(app: Sphinx) -> None:
    """``reference/<module>.rst`` for every public module (made by the build, ignored by git): a page is
    one directive, and a new subpackage needs no page written by hand."""
    folder = Path(app.srcdir) / "reference"
    if not (folder / "index.md").is_file():  # a project without the site's reference section
        return
    for module in public_modules():
        title = f"``{module}``"
        text = f"{title}\n{'=' * len(title)}\n\n.. public-module:: {module}\n"
        page = Path(app.srcdir) / f"{page_of(module)}.rst"
        if not page.is_file() or page.read_text(encoding="utf-8") != text:  # unchanged: not re-read
            folder.mkdir(exist_ok=True)
            page.write_text(text, encoding="utf-8")


def _fill_toctrees(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname == "reference/index":
        pages = "".join(f"{page_of(m).removeprefix('reference/')}\n" for m in public_modules())
        source[0] = source[0].replace("<!-- modules -->\n", pages)
        return
    if docname != "index":
        return
    tutorials = "tutorials/index\n" if (Path(app.srcdir) / "tutorials" / "index.md").is_file() else ""
    source[0] = (source[0].replace("<!-- guides -->\n", "".join(f"{p}\n" for p in guide_pages(Path(app.srcdir))))
                 .replace("<!-- tutorials -->\n", tutorials))


# --- the gallery's hooks -----------------------------------------------------------------------------------

_scraped: set[Path] = set()


def example_out(gallery_conf: dict[str, Any], src_file: str) -> Path:
    """The folder an example writes into during the build (its first command-line argument): under the
    docs' ``_build/`` (ignored by git), one folder per example, emptied before it runs."""
    return Path(gallery_conf["src_dir"]) / "_build" / "gallery-out" / Path(src_file).stem


def example_argv(gallery_conf: dict[str, Any], script_vars: dict[str, Any]) -> list[str]:
    """sphinx-gallery's ``reset_argv``: ``[OUT_DIR]``, as a user would run the script. Relative to the
    example's folder, where sphinx-gallery runs it, so the paths it prints read like a user's."""
    out = example_out(gallery_conf, script_vars["src_file"])
    shutil.rmtree(out, ignore_errors=True)
    return [os.path.relpath(out, Path(script_vars["src_file"]).parent)]


def png_scraper(block: Any, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """The PNG files the example wrote since the last block, copied to where sphinx-gallery wants them."""
    from sphinx_gallery.scrapers import figure_rst

    out = example_out(gallery_conf, block_vars["src_file"])
    # A study's gallery/ folder holds one sheet per photo and method; its gallery.png summarises them.
    new = sorted(p for p in out.rglob("*.png") if p not in _scraped and "gallery" not in p.relative_to(out).parts[:-1]) \
        if out.is_dir() else []
    _scraped.update(new)
    paths = []
    for png, target in zip(new, block_vars["image_path_iterator"]):
        shutil.copyfile(png, target)
        paths.append(target)
    # One picture a row, at the page's width: the panels are wide, and a grid of them is unreadable.
    return "".join(figure_rst([path], gallery_conf["src_dir"]) for path in paths)


#: The gallery's reading order (file stems); any other example follows, by name.
EXAMPLE_ORDER = ("saliency", "localise", "faithfulness", "study", "class_model", "custom_rule", "captum_bridge")


class ExampleOrder:
    """sphinx-gallery's ``within_subsection_order``: :data:`EXAMPLE_ORDER`, then the rest by file name."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        stem = Path(filename).stem
        return (EXAMPLE_ORDER.index(stem) if stem in EXAMPLE_ORDER else len(EXAMPLE_ORDER), filename)

    def __repr__(self) -> str:  # sphinx-gallery's cache key
        return f"<{type(self).__name__}>"


def _numpydoc_except_attributes(app: Sphinx) -> None:
    """napoleon for functions, classes and modules, not for attributes and properties.

    napoleon reads an attribute's first line ``"text: more"`` as ``type: description``; attribkit's attribute
    and property docstrings are prose that often holds a colon (``"Photos that could not be used
    (unreadable, ...): name → why."``), with the type in the annotation."""
    from sphinx.ext import napoleon

    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is napoleon._process_docstring:
            app.disconnect(listener.id)

    def process(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
        if what not in ("attribute", "property"):
            napoleon._process_docstring(app, what, name, obj, options, lines)

    app.connect("autodoc-process-docstring", process)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.napoleon")
    _numpydoc_except_attributes(app)
    app.add_directive("public-module", PublicModule)
    app.connect("builder-inited", _write_reference_pages)
    app.connect("builder-inited", _attribute_docs_of_published_classes)
    app.connect("source-read", _fill_toctrees)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("warn-missing-reference", _names_a_private_object)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
