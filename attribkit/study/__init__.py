"""Comparative studies: every attribution method × localiser over a dataset, with a report.

Example
-------
>>> from attribkit.study import run_study
>>> result = run_study(model, "samples", methods=["saliency", "random"], out="study")  # doctest: +SKIP
>>> print((result.out / "results.md").read_text())                                   # doctest: +SKIP
"""

from attribkit.study._data import StudyImage, study_images
from attribkit.study._records import read_records
from attribkit.study._runner import StudyResult, run_study
from attribkit.study._summary import Row, summarise

__all__ = ["Row", "StudyImage", "StudyResult", "read_records", "run_study", "study_images", "summarise"]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.study", globals(), __all__)
