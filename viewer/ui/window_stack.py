"""Part of the main window: stacks (the frames of a multi-frame file, the images of a series).

A mixin of ``MainWindow``. Up/Down on the canvas, and the wheel in the layouts where it goes
through images (RadiAnt / Weasis, OHIF), move through the stack on screen: a multi-frame file's
frames (each decoded alone, the view and window kept), else the images of the series in the
browser (the image on screen stays until the next is decoded, with the same view); an image in
no stack steps to the next image, as before. Go > Play Cine (V) loops the stack at the rate the
header recommends (the fps box beside it changes it); for a multi-frame file the model runs on
the frame where playing stops (``ImageSession.show_frame``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QSpinBox

from viewer.viewmodel.frame_stack import MAX_FPS, MIN_FPS, CinePlayer, default_fps

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from collections.abc import Callable, Sequence

    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMainWindow as _Window
    from PySide6.QtWidgets import QToolBar

    from .browser import StudyBrowser
    from .canvas import ImageCanvas
    from .image_session import ImageSession
    from .workers import LoadedImage
else:
    _Window = object


class WindowStackMixin(_Window):
    """``act_cine`` and ``fps_box``; ``step_stack(delta)`` is what Up/Down and the wheel do."""

    image: ImageSession
    canvas: ImageCanvas
    browser: StudyBrowser
    act_next: QAction
    act_prev: QAction
    tools_toolbar: QToolBar
    _action: Callable[..., QAction]
    _insert_after: Callable[[QAction, Sequence[QAction]], None]
    show_message: Callable[..., None]

    def _build_stack_actions(self) -> None:
        self.cine = CinePlayer()
        self.cine_timer = QTimer(self)
        self.cine_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.cine_timer.timeout.connect(self._cine_tick)
        self.act_cine = self._action("Play &Cine", self._set_cine, "V", checkable=True,
                                     tip="Play the frames of a multi-frame image in a loop (Up/Down or the wheel "
                                         "step through them)")
        self.fps_box = QSpinBox()
        self.fps_box.setObjectName("cineFps")
        self.fps_box.setRange(int(MIN_FPS), int(MAX_FPS))
        self.fps_box.setSuffix(" fps")
        self.fps_box.setValue(int(self.cine.fps))
        self.fps_box.setToolTip("Cine frames per second (from the header where it recommends a rate)")
        self.fps_box.valueChanged.connect(self._set_fps)
        self._insert_after(self.act_prev, [self.act_cine])
        self.tools_toolbar.addSeparator()
        self.tools_toolbar.addAction(self.act_cine)
        self.tools_toolbar.addWidget(self.fps_box)
        self.canvas.stack_step_requested.connect(self.step_stack)
        self.image.image_cleared.connect(lambda: self.act_cine.setChecked(False))
        self.image.image_shown.connect(self._on_stack_shown)

    def step_stack(self, delta: int) -> None:
        """The next (+1) or previous (-1) frame or series image; the next image without a stack."""
        session = self.image
        if session.loaded is not None and session.frame_count > 1:
            self.act_cine.setChecked(False)
            session.show_frame(session.frame + delta)
            return
        paths = self._series_paths()
        scanned = session.scanned
        if scanned is not None and len(paths) > 1:
            self.act_cine.setChecked(False)
            target = min(max(0, paths.index(scanned.path) + delta), len(paths) - 1)
            if paths[target] != scanned.path:
                session.keep_view_for(paths[target])
                self.browser.select_path(paths[target])
            return
        (self.act_next if delta > 0 else self.act_prev).trigger()

    def _series_paths(self) -> list[Path]:
        """The images of the series on screen, in instance order (empty outside a series)."""
        scanned = self.image.scanned
        paths = [member.path for member in self.browser.series_members(scanned)] if scanned is not None else []
        return paths if scanned is not None and scanned.path in paths else []

    def _on_stack_shown(self, loaded: LoadedImage) -> None:
        """A new file (not another frame of it): the cine rate its header recommends."""
        if loaded.radiograph.frame_index == 0 and not self.cine.playing:
            self.fps_box.setValue(round(default_fps(loaded.radiograph.header)))

    def _set_cine(self, on: bool) -> None:
        session = self.image
        if on and (session.loaded is None or self._stack_size() < 2):
            self.show_message("Cine plays the frames of a multi-frame image or the images of a series; "
                              "this image is alone.", 5000)
            self.act_cine.setChecked(False)
            return
        if on:
            self.cine.set_fps(self.fps_box.value(), time.monotonic(), self._stack_size())
            self.cine.play(time.monotonic(), self._stack_index())
            self.cine_timer.start(max(5, round(500 / self.cine.fps)))  # twice a frame: none is late by more than half
        elif self.cine.playing:
            self.cine.stop()
            self.cine_timer.stop()
            if session.frame_count > 1:
                session.show_frame(session.frame)  # the findings of the frame it stopped on

    def _stack_size(self) -> int:
        """The frames of the multi-frame file on screen, else the images of its series."""
        return self.image.frame_count if self.image.frame_count > 1 else len(self._series_paths())

    def _stack_index(self) -> int:
        if self.image.frame_count > 1:
            return self.image.frame
        paths, scanned = self._series_paths(), self.image.scanned
        return paths.index(scanned.path) if paths and scanned is not None else 0

    def _set_fps(self, fps: int) -> None:
        self.cine.set_fps(fps, time.monotonic(), max(1, self._stack_size()))
        if self.cine.playing:
            self.cine_timer.start(max(5, round(500 / self.cine.fps)))

    def _cine_tick(self) -> None:
        session = self.image
        if session.loaded is None or session.loaded.radiograph.frame_index != session.frame:
            return  # the last image asked for is still decoding: skip images rather than never show one
        if session.frame_count > 1:
            frame = self.cine.frame_at(time.monotonic(), session.frame_count)
            if frame != session.frame:
                session.show_frame(frame, analyse=False)
            return
        paths = self._series_paths()
        if len(paths) > 1 and session.scanned is not None:
            target = paths[self.cine.frame_at(time.monotonic(), len(paths))]
            if target != session.scanned.path:
                session.keep_view_for(target)
                self.browser.select_path(target)
