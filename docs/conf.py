"""Sphinx configuration of attribkit's documentation site.

Build it (offline; the examples and tutorials run during the build, a few minutes on a laptop CPU):

    pip install -e ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html

The Markdown pages in this folder are the one source (MyST); the API reference is generated from the public
docstrings (autodoc + napoleon, numpydoc style); ``examples/*.py`` run through sphinx-gallery and
``tutorials/`` through myst-nb, so every picture on the site is made by the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import attribkit  # noqa: E402

project = "attribkit"
author = "attribkit contributors"
copyright = "2026, attribkit contributors"  # noqa: A001 - Sphinx's name
release = version = attribkit.__version__

extensions = [
    "myst_nb",  # MyST Markdown pages, and text notebooks executed at build time (brings myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_gallery.gen_gallery",
    "attribkit_docs",  # docs/_ext: the reference from __all__, the landing toctree, the gallery's hooks
]

root_doc = "index"
exclude_patterns = [
    "_build",
    "_ext",
    "**.ipynb_checkpoints",
    # sphinx-gallery writes a notebook beside each example's page, for download; it is not a source.
    "gallery/*.ipynb",
    "gallery/*.py",
    "sg_execution_times.rst",
]
suppress_warnings: list[str] = []

# Every cross-reference must resolve (-n, and -W makes a miss fail the build) -- except to other projects'
# objects: the build is offline, so there is no intersphinx inventory of PyTorch, NumPy or Python to link
# into, and annotations such as ``torch.Tensor`` stay plain text. Private attribkit modules are not on the
# site either; a docstring that names one (for contributors) shows it as text.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy|np|scipy|skimage|PIL|matplotlib|pluggy|collections|pathlib|os|typing|contextlib|"
               r"dataclasses|enum|argparse|concurrent|multiprocessing|threading|json|types|io)(\..*)?"),
    (r"py:.*", r"(Path|Sequence|Mapping|Callable|Iterator|Iterable|Any|Literal)"),
    (r"py:.*", r"attribkit(\.\w+)*\._\w+(\..*)?"),
    # private types that public signatures name (autodoc shows annotations by their short name)
    (r"py:class", r"(Targets|Uncertainty)"),
]

# --- Markdown and notebooks (myst-parser, myst-nb) ---------------------------------------------------------
myst_heading_anchors = 4  # GitHub's anchors (`page.md#a-heading`), which the pages already link to
myst_enable_extensions = ["colon_fence", "deflist"]
nb_execution_mode = "force"  # every tutorial runs in every build: what the site shows is what runs today
nb_execution_timeout = 600  # seconds per cell
nb_execution_raise_on_error = True  # a failing cell fails the build, not a page with a traceback
nb_execution_in_temp = True  # in an empty folder: what a tutorial writes never lands in docs/, and it can
                             # use only what a reader has (the packages, the sample photos)
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference (autodoc + napoleon) --------------------------------------------------------------------
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_class_signature = "separated"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_preprocess_types = False

# --- Gallery (sphinx-gallery) ------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "gallery",
    "filename_pattern": r".*\.py",  # every example runs, not only plot_*.py
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": ("attribkit_docs.png_scraper",),  # the PNGs the scripts save, not pyplot windows
    "reset_argv": "attribkit_docs.example_argv",  # OUT_DIR, as from the shell
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "attribkit_docs.ExampleOrder",  # saliency first, the plugin examples last
    "show_memory": False,
    "plot_gallery": "True",
    "write_computation_times": False,
}

# --- HTML --------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"attribkit {release}"
html_static_path: list[str] = []
html_show_sourcelink = True
