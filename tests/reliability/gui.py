"""Measuring the GUI thread without clocks: how often its event loop ran, and how much work it
did. Both are counts, so they do not depend on how busy the machine is."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from PySide6.QtCore import QEventLoop, QTimer

from tests.ui.conftest import WAIT_MS
from viewer.core.errors import display_name


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


class Awaited:
    """Waits for signals by running the event loop until they fire: no polling, so the GUI
    thread's call count does not depend on how long the wait takes.

    Connect first (``Awaited(a, b)``), start the work, then ``wait()``: for every signal
    (``any_of=False``) or for the first one. ``fired`` holds (signal index, arguments) of the
    emissions ``accept(index, args)`` accepted. ``timeout_ms`` bounds a broken build; it is not
    a performance claim.
    """

    def __init__(self, *signals: Any, any_of: bool = False,
                 accept: Callable[[int, tuple[Any, ...]], bool] | None = None) -> None:
        self.signals, self.any_of, self.accept = signals, any_of, accept
        self.fired: list[tuple[int, tuple[Any, ...]]] = []
        self._loop: QEventLoop | None = None
        self._slots = []
        for i, signal in enumerate(signals):
            slot = functools.partial(self._on_args, i)
            signal.connect(slot)
            self._slots.append(slot)

    def _on_args(self, index: int, *args: Any) -> None:
        self._on(index, args)

    def _on(self, index: int, args: tuple[Any, ...]) -> None:
        if self.accept is not None and not self.accept(index, args):
            return
        self.fired.append((index, args))
        if self.done and self._loop is not None:
            self._loop.quit()

    @property
    def done(self) -> bool:
        seen = {i for i, _ in self.fired}
        return bool(seen) if self.any_of else len(seen) == len(self.signals)

    def wait(self, timeout_ms: int = WAIT_MS) -> list[tuple[int, tuple[Any, ...]]]:
        try:
            if not self.done:
                self._loop = QEventLoop()
                QTimer.singleShot(timeout_ms, self._loop.quit)
                self._loop.exec()
                self._loop = None
        finally:
            for signal, slot in zip(self.signals, self._slots):
                signal.disconnect(slot)
        assert self.done, f"waited {timeout_ms} ms for {self.signals}"
        return self.fired


def open_and_wait(window: Any, path: Path) -> tuple[str, str]:
    """Open one file as File > Open File does; ('shown', '') or ('failed', reason)."""
    def about_this_file(index: int, args: tuple[Any, ...]) -> bool:  # not an earlier request's
        return args[0].path == path if index == 0 else args[0] == display_name(path)

    awaited = Awaited(window.image.image_shown, window.image.image_failed, any_of=True, accept=about_this_file)
    window.image.open(path)
    index, args = awaited.wait()[0]
    return ("shown", "") if index == 0 else ("failed", args[1])
