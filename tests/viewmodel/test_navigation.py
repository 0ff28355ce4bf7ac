"""Where the next and the previous study start in the browser's order."""

from __future__ import annotations

import pytest

from viewer.viewmodel.navigation import study_step

STUDIES = [1, 1, 1, 2, 2, 3]


@pytest.mark.parametrize("at, delta, expected", [
    (0, 1, 3), (2, 1, 3), (3, 1, 5), (4, 1, 5), (5, 1, None),
    (5, -1, 3), (4, -1, 0), (3, -1, 0), (1, -1, None), (0, -1, None),
])
def test_the_first_image_of_the_next_or_previous_study(at: int, delta: int, expected: int | None) -> None:
    assert study_step(STUDIES, at, delta) == expected


def test_nothing_to_step_to() -> None:
    assert study_step([], 0, 1) is None
    assert study_step([7, 7], 5, 1) is None
    assert study_step([7, 7], 0, 0) is None
