"""Weights from a local file: read it, unwrap a training checkpoint, fit it to a model, read class names.

Accepted files: a state dict saved with ``torch.save``; a checkpoint dict holding one under
``"state_dict"``, ``"model"`` or ``"model_state_dict"`` (the keys of PyTorch Lightning, timm's
``train.py`` and the PyTorch tutorials), with the ``module.`` prefix of ``DataParallel`` stripped; a
``.safetensors`` file (read with the ``safetensors`` package); a TorchScript archive
(``torch.jit.save``), which carries its own architecture. Pickled files are read with
``weights_only=True``: a file holding anything but tensors and plain containers is refused, never run.
Every failure is one :class:`~attribkit.ModelError` line naming the file and what was expected.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import torch

from attribkit.errors import ModelError

#: Keys under which training checkpoints keep the model's state dict, tried in order.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")

StateDict = dict[str, torch.Tensor]
#: What :func:`read_weights` returns: a state dict, or a TorchScript module.
Weights = Union[StateDict, torch.jit.ScriptModule]


def read_weights(path: str | Path) -> Weights:
    """The state dict (or TorchScript module) in ``path``; :class:`~attribkit.ModelError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch 2.9+ calls TorchScript deprecated; the files remain
                warnings.simplefilter("ignore", FutureWarning)
                return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ModelError(f"cannot read TorchScript archive {path}: {_first_line(exc)}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(
            f"cannot read weights file {path} as a state dict, checkpoint, .safetensors or TorchScript file "
            f"(loaded with weights_only=True): {_first_line(exc)}"
        ) from None
    return state_dict_in(state, path)


def state_dict_in(state: Any, path: str | Path) -> StateDict:
    """The model state dict in what ``torch.load`` returned (a checkpoint is unwrapped, ``module.`` stripped)."""
    if isinstance(state, Mapping) and not _all_tensors(state):
        for key in CHECKPOINT_KEYS:
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not state:
        raise ModelError(f"weights file {path} holds {_kind(state)}; expected a state dict (parameter name -> "
                         f"tensor) or a checkpoint with one under {' / '.join(map(repr, CHECKPOINT_KEYS))}")
    if not _all_tensors(state):
        bad = next(k for k, v in state.items() if not isinstance(v, torch.Tensor))
        raise ModelError(f"weights file {path} is a dict whose entry {bad!r} is {_kind(state[bad])}, not a tensor; "
                         f"expected a state dict or a checkpoint with one under "
                         f"{' / '.join(map(repr, CHECKPOINT_KEYS))} (keys: {_keys(state)})")
    keys = list(state)
    if all(k.startswith("module.") for k in keys):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def fit_state(model: torch.nn.Module, state: StateDict, path: str | Path, name: str, *, assign: bool = False) -> None:
    """Load ``state`` into ``model`` (strict); one line listing missing, unexpected and mis-shaped keys.

    ``assign``: the model takes ``state``'s tensors instead of copying them (a model built on the meta
    device; ``state`` must not be used elsewhere)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_first(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} of another shape, file vs model ({_first(shapes)})")
    if problems:
        raise ModelError(f"weights file {path} does not fit {name}: keys {'; '.join(problems)}; expected a "
                         f"state dict of {name}")
    if assign:  # copying would have cast a float16 file to the model's float32; taking the tensors must too
        state = {k: v.to(dtype=own[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=assign)


def head_size(state: StateDict, key: str, path: str | Path, name: str) -> int:
    """The number of classes the file's classifier weight ``key`` has (its first dimension)."""
    if key not in state:
        raise ModelError(f"weights file {path} does not fit {name}: it has no classifier weight {key!r} "
                         f"(keys: {_keys(state)})")
    return int(state[key].shape[0])


def read_classes(classes: str | Path | Sequence[str], count: int | None) -> tuple[str, ...]:
    """Class names from a file (UTF-8, one per line, a byte-order mark and blank lines at the end ignored)
    or a sequence.

    Raises :class:`~attribkit.ModelError` when the file is missing, names another number of classes than
    the model has (``count``), or gives one name to two classes (compared as targets are matched, ignoring
    case): a name must pick one class, for ``--target NAME`` and on the panels.
    """
    if isinstance(classes, (str, Path)):
        path = Path(classes)
        try:
            # utf-8-sig: Windows editors start UTF-8 files with a BOM, which would otherwise join the first name.
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read class names file {path}: {exc}") from None
        names = tuple(line.strip() for line in text.rstrip().splitlines())
        where, entry = f"class names file {path}", "lines"
    else:
        names = tuple(str(c) for c in classes)
        where, entry = "classes", "entries"
    if not names or not all(names):
        raise ModelError(f"{where} has an empty name; expected one class name per line")
    if count is not None and len(names) != count:
        raise ModelError(f"{where} names {len(names)} classes but the model has {count} outputs; expected one "
                         "name per line, in output order")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        first = seen.setdefault(name.lower(), i)
        if first != i:
            raise ModelError(f"{where} names {name!r} twice ({entry} {first + 1} and {i + 1}); each class needs "
                             "a name of its own")
    return names


def _read_safetensors(path: Path) -> StateDict:
    try:
        from safetensors.torch import load_file
    except ImportError:  # pragma: no cover - safetensors comes with timm
        raise ModelError(f"reading {path} needs the 'safetensors' package: pip install safetensors") from None
    try:
        return state_dict_in(load_file(str(path), device="cpu"), path)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"cannot read .safetensors file {path}: {_first_line(exc)}") from None


def _is_torchscript(path: Path) -> bool:
    # torch.jit.save writes a zip with a code/ folder; torch.save's zip has data.pkl and no code.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(part == "code" for n in archive.namelist() for part in n.split("/")[1:2])


def _all_tensors(state: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {_keys(value)}" if value else "an empty dict"
    return f"a {type(value).__name__}"


def _keys(state: Mapping[Any, Any]) -> str:
    return _first([str(k) for k in state])


def _first(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
