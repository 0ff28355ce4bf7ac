"""The stack of images the canvas steps through, and cine playback over it, without Qt.

A multi-frame DICOM file and a series of single-frame files are the same thing to the reader:
images to scroll through with the wheel or Up/Down, or to play as a loop. Both are a list of
``StackItem(path, frame)`` here, so the canvas loads ``load_radiograph(item.path, item.frame)``
whichever it is. Scrolling stops at either end (a wheel that wrapped round would jump from the
last image to the first unasked); cine wraps, as a loop does. Cine is arithmetic on elapsed
time: the UI's timer only asks which frame is due now, so a slow decode skips frames instead
of slowing the loop, and the rule is tested without a timer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.core.dicom_values import float_value
from viewer.core.patient_tree import image_order
from viewer.core.scan import ScannedImage

MIN_FPS = 1.0
MAX_FPS = 60.0  # more than a display shows usefully, and more than a decode per frame keeps up with
DEFAULT_FPS = 10.0  # when the header recommends no rate


@dataclass(frozen=True, slots=True)
class StackItem:
    """One image of a stack: frame ``frame`` (0-based) of the file at ``path``."""

    path: Path
    frame: int = 0


class FrameStack:
    """A position in ``count`` images: stepped with clamping, or moved to directly.

    ``noun`` names the images in the counter ("Frame 3/5", "Image 3/12").
    """

    def __init__(self, count: int, index: int = 0, *, noun: str = "Frame") -> None:
        if count < 1:
            raise ValueError(f"a stack needs at least one image, not {count}")
        self._count = count
        self._index = _clamped(index, count)
        self.noun = noun

    @property
    def count(self) -> int:
        """How many images the stack holds."""
        return self._count

    @property
    def index(self) -> int:
        """The image shown, 0-based."""
        return self._index

    def step(self, delta: int) -> bool:
        """Move ``delta`` images (wheel, Up/Down), stopping at either end; whether it moved."""
        return self.go(self._index + delta)

    def go(self, index: int) -> bool:
        """Move to image ``index`` (clamped into the stack); whether it moved."""
        target = _clamped(index, self._count)
        moved = target != self._index
        self._index = target
        return moved

    @property
    def at_start(self) -> bool:
        """Whether the first image is shown (a step back does nothing)."""
        return self._index == 0

    @property
    def at_end(self) -> bool:
        """Whether the last image is shown (a step on does nothing)."""
        return self._index == self._count - 1

    def counter_text(self) -> str:
        """The canvas's counter, 1-based: "Frame 3/5"; empty for a single image."""
        return f"{self.noun} {self._index + 1}/{self._count}" if self._count > 1 else ""


class ItemStack(FrameStack):
    """A ``FrameStack`` over ``StackItem``s: what the canvas loads at each position."""

    def __init__(self, items: Sequence[StackItem], index: int = 0, *, noun: str = "Frame") -> None:
        super().__init__(len(items), index, noun=noun)
        self.items: tuple[StackItem, ...] = tuple(items)

    @property
    def current(self) -> StackItem:
        """The item shown."""
        return self.items[self.index]

    def index_of(self, item: StackItem) -> int | None:
        """Where ``item`` is in the stack, or None (to open a stack at the image chosen)."""
        try:
            return self.items.index(item)
        except ValueError:
            return None


def stack_of_file(path: Path, frames: int, index: int = 0) -> ItemStack:
    """The frames of one file (``ScannedImage.frames`` or ``Radiograph.number_of_frames``)."""
    return ItemStack([StackItem(path, frame) for frame in range(max(1, frames))], index, noun="Frame")


def stack_of_series(images: Iterable[ScannedImage]) -> ItemStack:
    """The images of one series in the browser's order (``patient_tree.image_order``: by
    instance number); a multi-frame image among them gives each of its frames in turn."""
    ordered = sorted(images, key=image_order)
    if not ordered:
        raise ValueError("a series stack needs at least one image")
    items = [StackItem(image.path, frame) for image in ordered for frame in range(max(1, image.frames))]
    return ItemStack(items, noun="Image")


def default_fps(header: Any) -> float:
    """The frame rate a DICOM header recommends, within ``MIN_FPS``..``MAX_FPS``:
    Recommended Display Frame Rate (0008,2144), else Cine Rate (0018,0040), else 1000 / Frame
    Time (0018,1063, ms); ``DEFAULT_FPS`` without a usable one (or without a header)."""
    if header is not None:
        for keyword in ("RecommendedDisplayFrameRate", "CineRate"):
            rate = float_value(header, keyword)
            if rate is not None and rate > 0:
                return bounded_fps(rate)
        frame_time = float_value(header, "FrameTime")
        if frame_time is not None and frame_time > 0:
            return bounded_fps(1000.0 / frame_time)
    return DEFAULT_FPS


def bounded_fps(fps: float) -> float:
    """``fps`` within ``MIN_FPS``..``MAX_FPS``; ``DEFAULT_FPS`` for a value that is no number."""
    if not math.isfinite(fps):
        return DEFAULT_FPS
    return min(MAX_FPS, max(MIN_FPS, fps))


class CinePlayer:
    """Cine playback as arithmetic on a clock the caller reads (seconds, e.g. ``time.monotonic``).

    ``play(now, index)`` starts at ``index``; ``frame_at(now, count)`` is the frame due at
    ``now``, wrapping round ``count`` frames; ``tick(stack, now)`` moves a stack there. Changing
    the rate while playing goes on from the frame then shown, so the loop does not jump.
    """

    def __init__(self, fps: float = DEFAULT_FPS) -> None:
        self._fps = bounded_fps(fps)
        self._start: tuple[float, int] | None = None  # (clock, frame) where playing began

    @property
    def fps(self) -> float:
        """Frames per second, within ``MIN_FPS``..``MAX_FPS``."""
        return self._fps

    @property
    def interval(self) -> float:
        """Seconds between frames: what the UI's timer waits."""
        return 1.0 / self._fps

    @property
    def playing(self) -> bool:
        """Whether ``play`` was called since the last ``stop``."""
        return self._start is not None

    def play(self, now: float, index: int) -> None:
        """Start (or restart) at frame ``index`` at time ``now``."""
        self._start = (now, index)

    def stop(self) -> None:
        """Stop playing; the stack keeps the frame it shows."""
        self._start = None

    def set_fps(self, fps: float, now: float, count: int) -> None:
        """Change the rate (bounded); while playing, go on from the frame due at ``now``."""
        if self._start is not None:
            self._start = (now, self.frame_at(now, count))
        self._fps = bounded_fps(fps)

    def frame_at(self, now: float, count: int) -> int:
        """The frame due at ``now`` among ``count`` (the starting frame while the clock reads
        earlier than the start); ``RuntimeError`` when not playing."""
        if self._start is None:
            raise RuntimeError("the cine player is not playing")
        started, first = self._start
        elapsed = max(0.0, now - started)
        # the epsilon keeps 0.3 s at 10 fps frame 3, not 2 (0.3 * 10 is 2.9999999999999996)
        return (first + math.floor(elapsed * self._fps + 1e-9)) % max(1, count)

    def tick(self, stack: FrameStack, now: float) -> bool:
        """Move ``stack`` to the frame due at ``now``; whether it moved (the image to load)."""
        if self._start is None:
            return False
        return stack.go(self.frame_at(now, stack.count))


def _clamped(index: int, count: int) -> int:
    return min(max(0, index), count - 1)
