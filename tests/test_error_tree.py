"""One error tree (issue 20, item 3): every error a user can cause is an ``AttribkitError``, and the command
line maps the tree to exit statuses in one table, reporting nothing else as a user error."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import attribkit
from attribkit import errors
from attribkit.cli import main
from attribkit.cli._common import EXIT_STATUSES, FAILED, USAGE, USAGE_ERRORS, CommandError, exit_status

ROOT = Path(__file__).resolve().parents[1]

#: Built-in exceptions a user's argument, file or model can trigger: raised by attribkit for a user's
#: mistake they must be a class of the tree instead (which keeps the built-in as a mixin).
BUILT_IN = {"ValueError", "TypeError", "KeyError", "RuntimeError", "LookupError", "IndexError",
            "OverflowError", "ZeroDivisionError", "ArithmeticError", "Exception"}

#: Internal invariants: raises no user input reaches, as (file, a piece of the raise) → why.
ALLOWED = {
    ("attribkit/study/_batches.py", "every photo needs 1 to"):
        "the runner pads class lists it built itself from top_k, which run_study checked",
    ("attribkit/study/_batches.py", "exceeds the batch size"):
        "the runner never cuts a batch larger than the map batch it pads to",
    ("attribkit/study/_manifest.py", "not a JSON object"):
        "caught two lines below and raised again as the OptionError naming study.json",
    ("attribkit/cli/_outputs.py", "not JSON serialisable"):
        "json's default= hook must raise TypeError; reaching it is a bug in what the CLI writes",
    ("attribkit/metrics/_road_solver.py", "did not converge"):
        "conjugate gradients on a positive definite system; the step limit is 5x the most any mask needed",
}


def _sources() -> list[Path]:
    files = sorted((ROOT / "attribkit").rglob("*.py"))
    for plugin in sorted((ROOT / "plugins").iterdir()):
        files += sorted(p for p in plugin.rglob("*.py") if "tests" not in p.relative_to(plugin).parts)
    return files


def _built_in_raises() -> list[tuple[str, int, str]]:
    """``(file, line, source)`` of every ``raise ValueError(...)`` (or another of :data:`BUILT_IN`)."""
    found = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in BUILT_IN:
                found.append((path.relative_to(ROOT).as_posix(), node.lineno, ast.get_source_segment(text, node) or ""))
    return found


def _matches(entries: set[tuple[str, str]] | dict[tuple[str, str], str], file: str, source: str) -> bool:
    return any(file == f and piece in source for f, piece in entries)


def test_no_built_in_exception_is_raised_for_a_user_error():
    raises = _built_in_raises()
    bare = [f"{f}:{line}: {src.splitlines()[0]}" for f, line, src in raises
            if not _matches(ALLOWED, f, src)]
    assert bare == [], "raise an attribkit.errors class (see docs/api.md), or allow-list an internal invariant"


def test_every_allowed_raise_still_exists():
    raises = _built_in_raises()
    stale = [key for key in ALLOWED if not any(f == key[0] and key[1] in src for f, _, src in raises)]
    assert stale == [], "converted or gone: remove these entries from the list"


def test_every_error_class_the_code_defines_is_in_the_tree():
    """``class XError(LookupError)`` in a module or plugin (the Captum bridge's ``LayerError`` was one)
    escapes ``except AttribkitError`` and the CLI's table: every error class derives from the tree."""
    tree = set(errors.__all__)
    outside = []
    for path in _sources():
        if path == ROOT / "attribkit" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Exception")):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if not bases & tree:
                    outside.append(f"{path.relative_to(ROOT).as_posix()}: {node.name}({', '.join(sorted(bases))})")
    assert outside == []


def test_the_captum_layer_error_is_the_option_error_gradcam_raises():
    captum = pytest.importorskip("attribkit_captum")
    assert issubclass(captum.LayerError, errors.OptionError) and issubclass(captum.LayerError, LookupError)
    assert str(captum.LayerError("no layer 'x'")) == "no layer 'x'"


def test_unknown_names_stay_key_errors_in_one_unquoted_line():
    from attribkit.data import sample_photo

    with pytest.raises(KeyError) as info:
        sample_photo("cofee")
    assert isinstance(info.value, errors.UnknownNameError) and isinstance(info.value, errors.OptionError)
    assert str(info.value).startswith("unknown sample photo 'cofee'. Did you mean 'coffee'? Known: chelsea")


def test_a_study_of_misspelt_sample_photos_is_a_usage_error_with_a_suggestion(tmp_path, capsys):
    from attribkit.cli import main
    from attribkit.study import run_study

    with pytest.raises(errors.UnknownNameError, match="Did you mean 'coffee'"):
        run_study(attribkit_model(), "samples:chelsea,cofee", methods=["saliency"], out=tmp_path / "a")
    assert main(["study", "--data", "samples:cofee", "--methods", "saliency", "--out", str(tmp_path / "b")]) == 2
    assert "Did you mean 'coffee'" in capsys.readouterr().err


# -- exit statuses -----------------------------------------------------------------------------------------

#: The documented table (docs/api.md, README "Exit status"), one entry per class of the tree.
DOCUMENTED = {
    "AttribkitError": FAILED,
    "PluginError": FAILED,
    "UnknownMethodError": USAGE,
    "OptionError": USAGE,
    "UnknownNameError": USAGE,
    "TargetError": USAGE,
    "ModelError": USAGE,
    "ImageError": FAILED,
    "AnnotationError": FAILED,
    "InputError": FAILED,
    "ModelInUseError": FAILED,
    "UnsupportedActivationError": FAILED,
}


def _instance(cls: type[BaseException]) -> BaseException:
    return cls("attributor", "x", []) if cls is errors.UnknownMethodError else cls("x")


def test_every_error_family_has_its_documented_status():
    classes = {n for n in errors.__all__ if not issubclass(getattr(errors, n), Warning)}
    assert classes == set(DOCUMENTED), "a new error class needs its row in the table"
    got = {name: exit_status(_instance(getattr(errors, name))) for name in DOCUMENTED}
    assert got == DOCUMENTED
    assert exit_status(CommandError("bad", status=USAGE)) == USAGE and exit_status(OSError("disk")) == FAILED
    assert set(USAGE_ERRORS) == {c for c, status in EXIT_STATUSES if status == USAGE}


@pytest.fixture
def failing_usage_check(monkeypatch):
    """``attribkit plugins`` (no model, no photo) whose usage check raises what the test says."""
    from attribkit.cli import _usage

    def failing(exc: BaseException) -> None:
        def check(args: object) -> None:
            raise exc
        monkeypatch.setattr(_usage, "check_usage", check)

    return failing


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_main_reports_each_family_in_one_line_with_its_status(name, failing_usage_check, capsys):
    failing_usage_check(_instance(getattr(errors, name)))
    assert main(["plugins"]) == DOCUMENTED[name]
    err = capsys.readouterr().err
    assert err.startswith("attribkit plugins: error: ") and err.count("\n") == 1


def test_a_plugins_own_error_class_is_mapped_by_its_family(failing_usage_check, capsys):
    class LayerLike(errors.OptionError, LookupError):
        pass

    failing_usage_check(LayerLike("no layer 'fetures'"))
    assert main(["plugins"]) == USAGE
    assert "no layer 'fetures'" in capsys.readouterr().err


def test_a_file_the_os_refuses_is_a_failure_in_one_line(failing_usage_check, capsys):
    failing_usage_check(PermissionError(13, "Permission denied", "/out/report.json"))
    assert main(["plugins"]) == FAILED
    assert "Permission denied: '/out/report.json'" in capsys.readouterr().err


@pytest.mark.parametrize("exc", [ValueError("a bug"), TypeError("a bug"), KeyError("a bug"),
                                 RuntimeError("a bug"), IndexError("a bug")], ids=lambda e: type(e).__name__)
def test_an_exception_outside_the_tree_is_a_bug_not_a_user_error(exc, failing_usage_check, capsys):
    failing_usage_check(exc)
    with pytest.raises(type(exc), match="a bug"):
        main(["plugins"])
    assert "error:" not in capsys.readouterr().err


# -- the same mistake, the same class ------------------------------------------------------------------------

def test_metrics_raise_the_tree_and_keep_their_built_in_bases():
    import numpy as np
    import torch

    from attribkit import metrics

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(errors.OptionError, match="order must be 'morf' or 'lerf'"):
        metrics.road(model, x, torch.rand(2, 8, 8), order="up")
    with pytest.raises(ValueError, match="maps must be"):  # an InputError, still a ValueError
        metrics.road(model, x, torch.rand(2, 4, 4))
    with pytest.raises(errors.InputError, match="saliency must be"):
        metrics.deletion_curve(model, x, torch.rand(3, 8, 8), target=0)
    with pytest.raises(errors.OptionError, match="steps must be a positive int"):
        metrics.deletion_curve(model, x, torch.rand(2, 8, 8), target=0, steps=0)
    with pytest.raises(errors.InputError, match="boxes must be"):
        metrics.iou(np.zeros(3), np.zeros(4))
    with pytest.raises(errors.OptionError, match="confidence must be in"):
        metrics.bootstrap_interval([1.0, 2.0], confidence=2)


def test_study_arguments_raise_option_errors(tmp_path):
    from attribkit.study import run_study

    with pytest.raises(errors.OptionError, match="at least one method"):
        run_study(object(), [], methods=[], out=tmp_path)


def test_localisers_and_averaging_raise_option_errors():
    from attribkit.attribution import SmoothGrad

    with pytest.raises(errors.OptionError, match="components and iterations must be >= 1"):
        attribkit.create_localiser("graphcut", iterations=0)
    with pytest.raises(errors.OptionError, match="bad averaging option: samples must be an int >= 1"):
        SmoothGrad(attribkit.create_attributor("saliency", attribkit_model()), samples=0)


def attribkit_model():
    import torch

    return torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


class _StrictPlugin:
    """A third-party plugin whose factories check their own options with plain built-in errors."""

    @attribkit.hookimpl
    def attribkit_register(self, registry):
        def attributor(model, *, level: int = 1):
            if level < 1:
                raise ValueError(f"level must be >= 1; got {level}")
            return attribkit.create_attributor("saliency", model)

        def localiser(*, size: int = 1):
            raise TypeError(f"size {size!r} is not usable")

        registry.add_attributor("strict", attributor)
        registry.add_localiser("strict_box", localiser)


def test_a_plugin_factorys_plain_errors_reach_callers_as_option_errors():
    """A plugin need not know the tree: ``Registration.create`` re-raises a factory's ``ValueError`` or
    ``TypeError`` as an ``OptionError`` naming the method, the original kept as its cause."""
    registry = attribkit.build_registry([("strict", _StrictPlugin())], entry_points=False)
    with pytest.raises(errors.OptionError, match="bad option for attributor 'strict': level must be >= 1") as info:
        registry.get("attributor", "strict").create(attribkit_model(), level=0)
    assert type(info.value.__cause__) is ValueError
    with pytest.raises(errors.OptionError, match="bad option for localiser 'strict_box': size 3") as info:
        registry.get("localiser", "strict_box").create(size=3)
    assert type(info.value.__cause__) is TypeError
    # An error that is already in the tree passes through unchanged.
    with pytest.raises(errors.OptionError, match="unknown option 'levle'.*Did you mean 'level'"):
        registry.get("attributor", "strict").create(attribkit_model(), levle=2)
