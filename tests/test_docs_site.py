"""The documentation site builds with warnings as errors: pages, API reference, executed gallery, tutorials.

The full build (``test_the_site_builds_with_warnings_as_errors``) is what CI runs; it needs the ``docs`` extra
and skips without it. The other tests check the site's own Sphinx pieces (docs/_ext/attribkit_docs.py) on
small projects, in seconds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _sphinx(source: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: Sphinx's extensions and the examples must not leak into this one.
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", *extra,
                           str(source), str(out / "html"), "-d", str(out / "doctrees")],
                          capture_output=True, text=True, cwd=out)


def _ext():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import attribkit_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    return attribkit_docs


def test_every_markdown_page_joins_the_landing_page(tmp_path):
    pytest.importorskip("sphinx")
    ext = _ext()
    for name in ("index", "api", "saliency", "rules", "paper", "explorer"):
        (tmp_path / f"{name}.md").write_text(f"# {name}\n")
    # the known guides in reading order, then any page a later change adds, by name; never the landing
    # page, nor the API overview (listed with the reference)
    assert ext.guide_pages(tmp_path) == ["saliency", "rules", "explorer", "paper"]
    assert set(ext.guide_pages(DOCS)) | {"index", "api"} == {p.stem for p in DOCS.glob("*.md")}


def _mini_project(tmp_path: Path, references: str) -> Path:
    source = tmp_path / "src"
    source.mkdir(parents=True)
    (source / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\n"
                                    "extensions = ['attribkit_docs']\nnitpicky = True\n")
    (source / "index.rst").write_text(
        "Title\n=====\n\n.. py:function:: attribkit.load_image(photo, model)\n\n   Described once, here.\n\n"
        f".. py:currentmodule:: attribkit.render\n\n{references}\n")
    return source


@pytest.mark.slow
def test_a_broken_cross_reference_fails_and_a_reexported_name_resolves(tmp_path):
    pytest.importorskip("sphinx")
    # attribkit.data.load_image is described as attribkit.load_image; MAX_NAME is a real constant of a
    # private module of attribkit.render (shown as text). Misspelt, both must fail the build.
    good = _mini_project(tmp_path / "good", ":func:`attribkit.data.load_image` and :data:`MAX_NAME`.")
    result = _sphinx(good, tmp_path / "good")
    assert result.returncode == 0, result.stderr
    bad = _mini_project(tmp_path / "bad", ":func:`attribkit.data.load_imag` and :data:`MAX_NAMEE`.")
    result = _sphinx(bad, tmp_path / "bad")
    assert result.returncode != 0
    assert "attribkit.data.load_imag " in result.stderr and "MAX_NAMEE" in result.stderr


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("myst_nb")
    # A copy: sphinx-gallery writes its pages into the source tree (docs/gallery), which a test must not.
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("_build", "gallery", "jupyter_execute"))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    result = _sphinx(tmp_path / "docs", tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    html = tmp_path / "html"

    # every guide, the annotation formats and the search page are there
    for page in [p.stem for p in DOCS.glob("*.md")] + ["search", "gallery/index", "reference/index"]:
        assert (html / f"{page}.html").is_file(), page
    assert "Search.setIndex" in (html / "searchindex.js").read_text(encoding="utf-8")

    # every example ran and its pictures are on its page (made by this build, not copied from the repo)
    for script in (ROOT / "examples").glob("*.py"):
        page = (html / "gallery" / f"{script.stem}.html").read_text(encoding="utf-8")
        assert re.search(r'<img [^>]*src="../_images/sphx_glr_' + script.stem, page), script.name

    # every public name is described (or linked to its description) in the reference
    import attribkit
    import attribkit.data
    import attribkit.metrics
    import attribkit.study

    index = json.loads((html / "searchindex.js").read_text(encoding="utf-8")
                       .removeprefix("Search.setIndex(").removesuffix(")"))
    # objects: {"attribkit.data": [[doc, type, priority, anchor, "read_json"], ...], ...}
    described = {f"{prefix}.{entry[4]}".lstrip(".") for prefix, entries in index["objects"].items()
                 for entry in entries}
    for module in (attribkit, attribkit.data, attribkit.metrics, attribkit.study):
        for name in module.__all__:
            found = f"{module.__name__}.{name}" in described or f"attribkit.{name}" in described
            assert found, f"{module.__name__}.{name} is not in the API reference"
