"""Measuring the GUI thread without clocks: how often its event loop ran, and how much work it
did. Both are counts, so they do not depend on how busy the machine is."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

from PySide6.QtCore import QTimer

from tests.ui.conftest import WAIT_MS


class Ticks:
    """Counts how often the GUI event loop ran a zero-interval timer. It fires only when the
    loop is free, so a GUI thread that is kept busy counts (almost) nothing."""

    def __init__(self) -> None:
        self.count = 0
        self.timer = QTimer()
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.count += 1

    def __enter__(self) -> Ticks:
        self.timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.timer.stop()


class GuiWork:
    """Counts the function calls (Python and C) the GUI thread makes inside the block.

    ``sys.setprofile`` hooks the calling thread only: the workers' decoding is not counted,
    only what the GUI thread itself does (slots, widget updates). Work that grows with the
    square of the number of files shows up here long before it shows up as a frozen window
    on a fast machine. Past ``budget`` the counting stops and ``over`` is set. The ticks of a
    ``Ticks`` timer are not counted.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.calls = 0
        self.over = False
        self._ignore = {Ticks._tick.__code__}

    def _hook(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event in ("call", "c_call") and frame.f_code not in self._ignore:
            self.calls += 1
            if self.calls > self.budget:
                self.over = True
                sys.setprofile(None)

    def __enter__(self) -> GuiWork:
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *_exc: object) -> None:
        sys.setprofile(None)


def open_and_wait(qtbot: Any, window: Any, path: Path) -> tuple[str, str]:
    """Open one file as File > Open File does; ('shown', '') or ('failed', reason)."""
    outcome: list[tuple[str, str]] = []

    def shown(loaded: Any) -> None:
        if loaded.path == path:
            outcome.append(("shown", ""))

    def failed(_path: str, reason: str) -> None:
        outcome.append(("failed", reason))

    window.image.image_shown.connect(shown)
    window.image.image_failed.connect(failed)
    try:
        window.image.open(path)
        qtbot.waitUntil(lambda: bool(outcome), timeout=WAIT_MS)
    finally:
        window.image.image_shown.disconnect(shown)
        window.image.image_failed.disconnect(failed)
    return outcome[0]
