"""Comparative studies: settings (attributor + map options + localiser + options) or every method ×
localiser over a dataset, with a report; ``attribkit evaluate``'s table is a report over the same records.

Example
-------
>>> from attribkit.study import run_study
>>> result = run_study(model, "samples", methods=["saliency", "random"], out="study")  # doctest: +SKIP
>>> print((result.out / "results.md").read_text())                                   # doctest: +SKIP
"""

from attribkit.study._data import StudyImage, study_images
from attribkit.study._evaluate import Evaluation, evaluate
from attribkit.study._merge import MergeResult, merge_studies
from attribkit.study._records import read_records
from attribkit.study._runner import StudyResult, run_study
from attribkit.study._settings import Setting, named_settings
from attribkit.study._summary import Row, summarise

__all__ = ["Evaluation", "MergeResult", "Row", "Setting", "StudyImage", "StudyResult", "evaluate", "merge_studies",
           "named_settings", "read_records", "run_study", "study_images", "summarise"]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.study", globals(), __all__)
