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
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from attribkit._core.interfaces import Box
from attribkit.errors import AnnotationError


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
    """

    path: Path
    objects: tuple[tuple[str, Box], ...]
    width: int = 0
    height: int = 0
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

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


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 synset ids in class-index order (sorted; torchvision's order)."""
    from timm.data import ImageNetInfo

    return tuple(ImageNetInfo().label_names())


def _box(values: Sequence[object], where: str, *, inclusive: bool = False) -> Box:
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise AnnotationError(f"{where}: a box must be four numbers [x0, y0, x1, y1]; got {values!r}") from exc
    if inclusive:
        x1, y1 = x1 + 1, y1 + 1
    if not (x1 > x0 and y1 > y0):
        raise AnnotationError(f"{where}: box {values!r} has no area (need x1 > x0 and y1 > y0)")
    return (x0, y0, x1, y1)


def read_voc_xml(path: str | Path, *, image_dir: str | Path | None = None) -> AnnotatedImage:
    """One ILSVRC / PASCAL VOC annotation file → :class:`AnnotatedImage` (labels are the ``<name>``s).

    The photo is ``<image_dir>/<filename>`` (default: beside the XML file); ``.JPEG`` is added when
    ``<filename>`` has no extension, as in ILSVRC.
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
        objects.append((name, (x0 - 1, y0 - 1, x1, y1)))
    if not objects:
        raise AnnotationError(f"{path}: no <object> with a box")
    size = root.find("size")
    width = int(size.findtext("width") or 0) if size is not None else 0
    height = int(size.findtext("height") or 0) if size is not None else 0
    folder = Path(image_dir) if image_dir is not None else path.parent
    return AnnotatedImage(folder / filename, tuple(objects), width, height)


def read_json(path: str | Path) -> list[AnnotatedImage]:
    """The JSON format above → a list of :class:`AnnotatedImage` (labels: ``wnid`` when given, else
    ``label`` as a string)."""
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
        boxes = entry["boxes"]
        if not isinstance(boxes, list) or not boxes:
            raise AnnotationError(f"{where}: 'boxes' must be a non-empty list of [x0, y0, x1, y1]")
        file = path.parent / entry["file"]
        if not file.exists() and (path.parent / "images" / entry["file"]).exists():
            file = path.parent / "images" / entry["file"]
        extra = {k: str(v) for k, v in entry.items() if k in ("label", "wnid")}
        out.append(AnnotatedImage(
            file, tuple((str(label), _box(b, f"{where} box {j}", inclusive=box_format == "inclusive")) for j, b in enumerate(boxes)),
            int(entry.get("width", 0)), int(entry.get("height", 0)), str(entry.get("note", "")), extra,
        ))
    return out


def read_annotations(source: str | Path) -> list[AnnotatedImage]:
    """A JSON file, one XML file, or a directory of XML files (ILSVRC's ``val/`` layout: photos beside
    them or in an ``images/`` folder next to it)."""
    source = Path(source)
    if source.is_dir():
        xmls = sorted(source.glob("*.xml"))
        if not xmls and (source / "boxes.json").is_file():
            return read_json(source / "boxes.json")
        if not xmls:
            raise AnnotationError(f"{source}: no *.xml annotation files (or boxes.json) in this directory")
        photos = source / "images" if (source / "images").is_dir() else source
        return [read_voc_xml(x, image_dir=photos) for x in xmls]
    if source.suffix.lower() == ".json":
        return read_json(source)
    if source.suffix.lower() == ".xml":
        return [read_voc_xml(source)]
    if not source.exists():
        raise AnnotationError(f"{source}: no such file or directory")
    raise AnnotationError(f"{source}: expected a .json file, a .xml file or a directory of .xml files")
