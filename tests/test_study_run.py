"""Issue 20: the study's run state is one object (``StudyRun``) passed down, not a dozen parameters per call;
fallbacks are reported; a resumed study follows corrected annotations; the study's smaller faults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from attribkit.study import run_study, study_images
from attribkit.study._run import StudyRun
from attribkit.study._runner import choose_settings, compute_records

import _study_helpers as helpers

#: Records compared bit for bit: one torch thread for every test here (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")

STUDY = Path(__file__).resolve().parent.parent / "attribkit" / "study"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    helpers.write_photos(folder, 3)
    return folder


def _run(out: Path, data, **kw):  # type: ignore[no-untyped-def]
    options = {"methods": ["saliency"], "localisers": ["above_mean"], "steps": 2, "gallery": 1, "workers": 0, **kw}
    return run_study(helpers.tiny_classifier(), data, out=out, progress=False, **options)


def test_the_runner_passes_one_run_object_not_a_dozen_parameters():
    # run_study's keywords are the public sugar; below it, no function of the runner, the compute loop, the
    # workers or the batches takes more than 6 parameters (localise_job's 6 are one job's payload).
    long = []
    for module in ("_runner.py", "_compute.py", "_workers.py", "_batches.py"):
        for node in ast.walk(ast.parse((STUDY / module).read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "run_study":
                a = node.args
                count = len(a.posonlyargs + a.args + a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
                if count > 6:
                    long.append(f"{module}:{node.name} ({count})")
    assert not long, long


def test_compute_records_takes_a_run_and_equals_run_study(tmp_path, photos, study_registry):
    result = _run(tmp_path / "study", photos)
    settings = choose_settings(["saliency"], ["above_mean"], None, None, None)
    run = StudyRun(helpers.tiny_classifier(), tmp_path / "again", steps=2, gallery=1, progress=False)
    computed = compute_records(run, study_images(photos), settings)
    assert computed is not None and computed.records == result.records
