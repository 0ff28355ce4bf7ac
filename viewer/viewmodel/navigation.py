"""Moving through a folder's images by study: where the next or previous study starts.

The browser lists a study's images together, so a study is a run of images with the same study
key; the keys here are the scan's pseudonymous numbers, in the order the browser shows them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def study_step(studies: Sequence[Hashable], at: int, delta: int) -> int | None:
    """The position of the first image of the study after (``delta`` > 0) or before (< 0) the
    study of the image at ``at``, in a list of each image's study key; None when there is none."""
    if not 0 <= at < len(studies) or delta == 0:
        return None
    start = at
    while start > 0 and studies[start - 1] == studies[at]:
        start -= 1
    if delta > 0:
        following = next((i for i in range(at + 1, len(studies)) if studies[i] != studies[at]), None)
        return following
    if start == 0:
        return None
    previous = start - 1
    while previous > 0 and studies[previous - 1] == studies[start - 1]:
        previous -= 1
    return previous
