"""Readers for box annotations: ILSVRC / PASCAL VOC XML files and a simple JSON format.

JSON format (one file for a whole set; paths relative to the JSON file, or to ``images/`` beside it)::

    {"images": [{"file": "cat.jpg", "label": "Egyptian cat", "wnid": "n02124075",
                 "boxes": [[x0, y0, x1, y1], ...]}, ...]}

``label`` may be a class name or index; ``wnid`` (optional) is the ImageNet synset id. Boxes are
inclusive pixel corners, as ILSVRC's and wsolevaluation's are (``[0, 0, 226, 226]`` is the whole of a
227 x 227 photo) and as both dev sets are written; they are read into :data:`attribkit.Box`
(``x1``/``y1`` exclusive) by adding one to ``x1`` and ``y1``. A file of exclusive boxes says so with a
top-level ``"box_format": "exclusive"``. ILSVRC XML boxes are inclusive 1-based pixel indices
(``xmin=1`` is the first column), converted here to ``(xmin - 1, ymin - 1, xmax, ymax)``.

Checks: a box entirely outside the photo is an :class:`~attribkit.errors.AnnotationError` naming the entry;
one that overlaps the photo but extends beyond it is clipped to it, with a warning (the photo's size comes
from the annotation's ``width``/``height`` or ``<size>``; unknown, only the sides at 0 are checked, and
the study checks again against the photo it reads). Photo paths must stay inside the annotation file's
folder (no absolute paths, no ``..`` leading out of it, no symbolic link pointing out of it) unless
``allow_outside=True``: an annotation file from elsewhere should not make attribkit read files anywhere on
the machine.
"""

from __future__ import annotations

import json
import math
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from attribkit._core.interfaces import Box
from attribkit.errors import AnnotationError, AttribkitWarning


@dataclass(frozen=True)
class AnnotatedImage:
    """One photo and its ground truth.

    Attributes
    ----------
    path
        The photo's file.
    objects
        ``(label, box)`` for every annotated object; ``label`` is what the file says (a wnid, a class
        name, or an index as a string).
    width, height
        The photo's size according to the annotation (``0`` when unknown).
    note
        Free text from the annotation, if any.
    source
        Where the annotation was read (``"boxes.json: images[3]"``, an XML file), for messages about it.
    """

    path: Path
    objects: tuple[tuple[str, Box], ...]
    width: int = 0
    height: int = 0
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def labels(self) -> list[str]:
        """The distinct labels, in order of first appearance."""
        return list(dict.fromkeys(label for label, _ in self.objects))

    def boxes(self, label: str | None = None) -> list[Box]:
        """The boxes of ``label`` (default: of the first label)."""
        label = self.labels[0] if label is None else label
        return [b for lab, b in self.objects if lab == label]


#: How a JSON file's ``[x0, y0, x1, y1]`` are meant: pixel corners included (the default) or ``x1``/``y1``
#: one past the box.
BOX_FORMATS = ("inclusive", "exclusive")


def _box(values: Sequence[object], where: str, *, inclusive: bool = False) -> Box:
    # JSON's true is not a coordinate, and 1e999 reads as infinity (round() would raise OverflowError).
    bad = AnnotationError(f"{where}: a box must be four numbers [x0, y0, x1, y1], finite and not true/false; "
                          f"got {values!r}")
    if isinstance(values, (str, bytes)) or any(isinstance(v, bool) for v in values):
        raise bad
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise bad from exc
    if inclusive:
        x1, y1 = x1 + 1, y1 + 1
    if not (x1 > x0 and y1 > y0):
        raise AnnotationError(f"{where}: box {values!r} has no area (need x1 > x0 and y1 > y0)")
    return (x0, y0, x1, y1)


def _size(value: object, where: str, name: str) -> int:
    """A photo side from an annotation: a whole number of pixels >= 0 (``0``: unknown)."""
    bad = AnnotationError(f"{where}: '{name}' must be a whole number of pixels; got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad
    try:
        number = float(value)
    except ValueError as exc:
        raise bad from exc
    if not (math.isfinite(number) and number >= 0 and number == int(number)):
        raise bad
    return int(number)


def fit_box(box: Box, width: int, height: int, where: str) -> Box:
    """``box`` checked against a ``width`` x ``height`` photo (``0``: that side unknown).

    Returns the box, clipped to the photo (with an :class:`~attribkit.errors.AttribkitWarning`) when it
    extends beyond it. Raises :class:`~attribkit.errors.AnnotationError` naming ``where`` when the box lies
    entirely outside the photo.
    """
    x0, y0, x1, y1 = box
    if x1 <= 0 or y1 <= 0 or (width and x0 >= width) or (height and y0 >= height):
        size = f"the {width} x {height} photo" if width and height else "the photo"
        raise AnnotationError(f"{where}: box {list(box)} lies outside {size}")
    clipped = (max(x0, 0), max(y0, 0), min(x1, width) if width else x1, min(y1, height) if height else y1)
    if clipped != tuple(box):
        size = f"{width} x {height}" if width and height else "size unknown"
        warnings.warn(f"{where}: box {list(box)} extends beyond the photo ({size}); clipped to {list(clipped)}",
                      AttribkitWarning, stacklevel=3)
    return clipped


def _photo_path(folder: Path, name: str, where: str, allow_outside: bool) -> Path:
    """``folder / name``; :class:`AnnotationError` when ``name`` is absolute or its ``..`` lead out of
    ``folder`` (read lexically, with both ``/`` and ``\\`` as separators), unless ``allow_outside``."""
    if not allow_outside:
        windows = PureWindowsPath(name)
        escapes = bool(windows.anchor) or PurePosixPath(name).is_absolute()
        depth = 0
        for part in () if escapes else windows.parts:
            depth += -1 if part == ".." else 0 if part == "." else 1
            escapes = escapes or depth < 0
        if escapes:
            raise AnnotationError(f"{where}: photo path {name!r} leads outside {folder} (pass allow_outside=True, "
                                  "or --allow-outside-paths, to allow it)")
        # A symbolic link inside the folder can point anywhere: judge where the path really leads (a
        # folder that is itself a link is fine: both sides are resolved).
        real = Path(os.path.realpath(folder / name))
        if not real.is_relative_to(os.path.realpath(folder)):
            raise AnnotationError(f"{where}: photo path {name!r} is a link to {real}, outside {folder} (pass "
                                  "allow_outside=True, or --allow-outside-paths, to allow it)")
    return folder / name


def read_voc_xml(path: str | Path, *, image_dir: str | Path | None = None,
                 allow_outside: bool = False) -> AnnotatedImage:
    """One ILSVRC / PASCAL VOC annotation file → :class:`AnnotatedImage` (labels: each object's ``<name>``).

    The photo is ``<image_dir>/<filename>`` (default: beside the XML file); ``.JPEG`` is added when
    ``<filename>`` has no extension, as in ILSVRC. A ``<filename>`` leading outside that folder, or a box
    outside the ``<size>``, is an :class:`AnnotationError` (see the module; ``allow_outside``).
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationError(f"{path}: not valid XML ({exc})") from exc
    filename = (root.findtext("filename") or "").strip()
    if not filename:
        raise AnnotationError(f"{path}: no <filename>")
    if not Path(filename).suffix:
        filename += ".JPEG"
    size = root.find("size")
    try:
        width = int(size.findtext("width") or 0) if size is not None else 0
        height = int(size.findtext("height") or 0) if size is not None else 0
    except ValueError as exc:
        raise AnnotationError(f"{path}: <size> needs whole numbers ({exc})") from exc
    objects = []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        bnd = obj.find("bndbox")
        if not name or bnd is None:
            raise AnnotationError(f"{path}: object {i} needs <name> and <bndbox>")
        values = [bnd.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
        if any(v is None for v in values):
            raise AnnotationError(f"{path}: object {i} <bndbox> needs xmin, ymin, xmax, ymax")
        x0, y0, x1, y1 = _box(values, f"{path}: object {i}")  # type: ignore[arg-type]
        objects.append((name, fit_box((x0 - 1, y0 - 1, x1, y1), width, height, f"{path}: object {i}")))
    if not objects:
        raise AnnotationError(f"{path}: no <object> with a box")
    folder = Path(image_dir) if image_dir is not None else path.parent
    return AnnotatedImage(_photo_path(folder, filename, str(path), allow_outside), tuple(objects), width, height,
                          source=str(path))


def read_json(path: str | Path, *, allow_outside: bool = False) -> list[AnnotatedImage]:
    """The JSON format above → a list of :class:`AnnotatedImage` (labels: ``wnid`` when given, else
    ``label`` as a string).

    Photo paths leading outside the JSON file's folder, and boxes outside the photo's ``width`` and
    ``height``, are an :class:`AnnotationError` naming the entry (see the module; ``allow_outside``)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: not valid JSON ({exc})") from exc
    entries = data.get("images") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise AnnotationError(f"{path}: expected {{\"images\": [...]}} with at least one entry")
    box_format = data.get("box_format", "inclusive") if isinstance(data, dict) else "inclusive"
    if box_format not in BOX_FORMATS:
        raise AnnotationError(f"{path}: box_format must be one of {', '.join(BOX_FORMATS)}; got {box_format!r}")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}: images[{i}]"
        if not isinstance(entry, dict) or "file" not in entry or "boxes" not in entry:
            raise AnnotationError(f"{where}: needs 'file' and 'boxes'")
        label = entry.get("wnid") or entry.get("label")
        if label is None:
            raise AnnotationError(f"{where}: needs 'label' or 'wnid'")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise AnnotationError(f"{where}: 'label' must be a class name, WordNet id or index; got {label!r}")
        boxes = entry["boxes"]
        if not isinstance(boxes, list) or not boxes:
            raise AnnotationError(f"{where}: 'boxes' must be a non-empty list of [x0, y0, x1, y1]")
        if not isinstance(entry["file"], str) or not entry["file"]:
            raise AnnotationError(f"{where}: 'file' must be a path relative to {path.parent}")
        file = _photo_path(path.parent, entry["file"], where, allow_outside)
        if not file.exists() and (path.parent / "images" / entry["file"]).exists():
            file = _photo_path(path.parent / "images", entry["file"], where, allow_outside)
        width, height = _size(entry.get("width", 0), where, "width"), _size(entry.get("height", 0), where, "height")
        inclusive = box_format == "inclusive"
        objects = tuple((str(label), fit_box(_box(b, f"{where} box {j}", inclusive=inclusive), width, height,
                                             f"{where} box {j}")) for j, b in enumerate(boxes))
        extra = {k: str(v) for k, v in entry.items() if k in ("label", "wnid")}
        out.append(AnnotatedImage(file, objects, width, height, str(entry.get("note", "")), extra, where))
    return out


def read_annotations(source: str | Path, *, allow_outside: bool = False) -> list[AnnotatedImage]:
    """A JSON file, one XML file, or a directory of XML files (ILSVRC's ``val/`` layout: photos beside
    them or in an ``images/`` folder next to it).

    ``allow_outside``: accept photo paths that lead outside the annotations' folder (refused by default)."""
    source = Path(source)
    if source.is_dir():
        xmls = sorted(source.glob("*.xml"))
        if not xmls and (source / "boxes.json").is_file():
            return read_json(source / "boxes.json", allow_outside=allow_outside)
        if not xmls:
            raise AnnotationError(f"{source}: no *.xml annotation files (or boxes.json) in this directory")
        photos = source / "images" if (source / "images").is_dir() else source
        return [read_voc_xml(x, image_dir=photos, allow_outside=allow_outside) for x in xmls]
    if source.suffix.lower() == ".json":
        return read_json(source, allow_outside=allow_outside)
    if source.suffix.lower() == ".xml":
        return [read_voc_xml(source, allow_outside=allow_outside)]
    if not source.exists():
        raise AnnotationError(f"{source}: no such file or directory")
    raise AnnotationError(f"{source}: expected a .json file, a .xml file or a directory of .xml files")
