"""A small annotated set that ships: the sample photos with hand-drawn boxes, written as ``boxes.json``.

Every docs example that needs ground truth (``attribkit evaluate``, ``attribkit study``, the tutorials)
uses this set, so a user can run it as written: the photos come with scikit-image, scikit-learn and
matplotlib (:data:`~attribkit.data.SAMPLE_PHOTOS`), the boxes live here. They were drawn by eye on a
50-pixel grid over each photo, around every instance of the class, as inclusive pixel corners (the
format :func:`~attribkit.data.read_json` reads by default). Seven photos measure nothing: they show how
the commands run and what they write, not how good a method is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from attribkit.errors import InputError


@dataclass(frozen=True)
class SampleBoxes:
    """Ground truth of one sample photo.

    Attributes
    ----------
    label
        The ImageNet class name (as :func:`attribkit.imagenet_classes` spells it).
    index
        Its ILSVRC-2012 class index (0-999).
    boxes
        ``(x0, y0, x1, y1)`` inclusive pixel corners on the photo, one per instance.
    note
        What is boxed, and why this class.
    """

    label: str
    index: int
    boxes: tuple[tuple[int, int, int, int], ...]
    note: str


#: Sample photo name -> its ground truth. Photo sizes are fixed by the packages that ship them.
SAMPLE_BOXES: dict[str, SampleBoxes] = {
    "chelsea": SampleBoxes("tabby", 281, ((0, 0, 385, 299),),
                           "the cat's head, which fills the photo; ImageNet's tabby / tiger cat / Egyptian cat "
                           "are hard to tell apart, and the default model ranks tabby third"),
    "coffee": SampleBoxes("espresso", 967, ((172, 15, 415, 305),), "the cup with its handle, not the saucer"),
    "astronaut": SampleBoxes("space shuttle", 812, ((352, 0, 472, 278),),
                             "the shuttle model behind the astronaut, with its stand; the default model misses "
                             "it (a hard case on purpose)"),
    "rocket": SampleBoxes("missile", 657, ((302, 126, 340, 405),),
                          "the rocket on its pad, nose to base, without the launch towers"),
    "china": SampleBoxes("palace", 698, ((60, 28, 370, 392),), "the pagoda of the Summer Palace, spire to base"),
    "flower": SampleBoxes("daisy", 985, ((168, 85, 447, 360), (288, 373, 470, 426)),
                          "two dahlias (ImageNet's nearest class is daisy, of the same family): the open one "
                          "and the one cut off at the bottom edge"),
    "grace_hopper": SampleBoxes("military uniform", 652, ((18, 22, 511, 599),),
                                "the uniform with its cap, the whole figure"),
}


def write_sample_dataset(folder: str | Path, *, quality: int = 95) -> Path:
    """Write the sample photos as JPEG files and their boxes as ``boxes.json`` into ``folder``.

    The result is what ``attribkit evaluate --data`` and ``attribkit study --data`` read (the format is
    documented in :mod:`attribkit.data._annotations` and on the site's annotation-formats page); the
    shell's way is ``attribkit samples --out FOLDER``. Existing files of the same names are overwritten;
    nothing else in ``folder`` is touched.

    Parameters
    ----------
    folder
        Where to write (made, with its parents, when missing).
    quality
        JPEG quality, 1-95 (Pillow's scale).

    Returns
    -------
    Path
        ``folder / "boxes.json"``: one entry per photo (``file``, ``label``, ``wnid``, ``width``,
        ``height``, ``boxes`` as inclusive corners, ``note``).

    Raises
    ------
    InputError
        ``quality`` is outside 1-95, or ``folder`` exists and is not a folder.

    Example
    -------
    >>> from attribkit.data import read_json, write_sample_dataset
    >>> entries = read_json(write_sample_dataset(tmp_path))              # doctest: +SKIP
    >>> entries[0].path.name, entries[0].labels                         # doctest: +SKIP
    ('chelsea.jpg', ['n02123045'])
    """
    from PIL import Image

    from attribkit.data._samples import sample_photo
    from attribkit.models._imagenet import imagenet_wnids

    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise InputError(f"quality must be a whole number from 1 to 95; got {quality!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    wnids = imagenet_wnids()
    entries = []
    for name, truth in SAMPLE_BOXES.items():
        rgb = sample_photo(name)
        height, width = rgb.shape[:2]
        Image.fromarray(rgb).save(folder / f"{name}.jpg", quality=quality)
        entries.append({"file": f"{name}.jpg", "label": truth.label, "wnid": wnids[truth.index],
                        "width": width, "height": height, "boxes": [list(b) for b in truth.boxes],
                        "note": truth.note})
    path = folder / "boxes.json"
    description = ("attribkit's sample photos with boxes drawn by eye (attribkit samples); boxes are inclusive "
                   "pixel corners [x0, y0, x1, y1]")
    # One photo a line: the file reads as a table, and diffs of a corrected box stay one line.
    lines = ",\n".join(f"  {json.dumps(entry, ensure_ascii=False)}" for entry in entries)
    path.write_text(f'{{\n "description": {json.dumps(description)},\n "images": [\n{lines}\n ]\n}}\n',
                    encoding="utf-8")
    return path
