"""Part of the main window: the measurements and annotations kept across sessions, and their commands.

A mixin of ``MainWindow``: the window's ``AnnotationKeeper`` (one store, the user's data folder),
the slots of the shapes' commands (delete, clear, undo, redo: on the viewport the user works in,
the reading one unless another has the focus) and of Calibrate Ruler (a selected ruler's known
length in mm, kept for the image), and the status bar's lines: what the selected shape
measures, where its mm come from, and what to do next while a shape is drawn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QApplication, QInputDialog

from viewer.core.annotation_store import default_store_path
from viewer.core.measure_spacing import calibrate

from .annotation_keeper import AnnotationKeeper

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from collections.abc import Callable

    from PySide6.QtWidgets import QMainWindow as _Window

    from .canvas import ImageCanvas
    from .errors_panel import ErrorsPanel
    from .plain_text import PlainLabel
else:
    _Window = object

DEFAULT_KNOWN_MM = 10.0  # what the calibration dialog proposes for a ruler of no known length


class WindowAnnotationsMixin(_Window):
    """``annotations`` (the keeper) and the shapes' commands."""

    canvas: ImageCanvas
    errors: ErrorsPanel
    measure_label: PlainLabel
    spacing_label: PlainLabel
    show_message: Callable[..., None]
    _canvases: Callable[[], list[ImageCanvas]]

    def _build_annotations(self) -> None:
        """The keeper, on the store in the user's data folder (a problem: a line in the errors
        panel, and the shapes kept in memory)."""
        self.annotations = AnnotationKeeper(default_store_path(), self.errors, self)
        self._hint = ""

    def _connect_annotations(self, canvas: ImageCanvas) -> None:
        """The status bar follows ``canvas`` (the reading viewport's)."""
        canvas.measurement_changed.connect(lambda _shape: self._show_measurement())
        canvas.spacing_changed.connect(lambda _note: self._show_measurement())
        canvas.hint_changed.connect(self._show_hint)

    def _show_measurement(self) -> None:
        self.measure_label.setText(self.canvas.measurement_text())
        self.spacing_label.setText(self.canvas.spacing_note())
        spacing = self.canvas.spacing if self.canvas.radiograph is not None else None
        self.spacing_label.setToolTip(spacing.source if spacing is not None else "")

    def _show_hint(self, hint: str) -> None:
        """What to do next while a shape is drawn, in the status bar until it is done."""
        bar = self.statusBar()
        if hint:
            bar.showMessage(hint)
        elif self._hint and bar.currentMessage() == self._hint:
            bar.clearMessage()
        self._hint = hint

    def _working_canvas(self) -> ImageCanvas:
        """The viewport the user works in: the one with the focus, else the reading one."""
        focused = QApplication.focusWidget()
        return next((c for c in self._canvases() if c is focused), self.canvas)

    def delete_shape(self) -> None:
        self._working_canvas().delete_selected_measurement()

    def clear_shapes(self) -> None:
        self._working_canvas().clear_measurements()

    def undo_shapes(self) -> None:
        if not self._working_canvas().undo():
            self.show_message("Nothing to undo on this image.", 3000)

    def redo_shapes(self) -> None:
        if not self._working_canvas().redo():
            self.show_message("Nothing to redo on this image.", 3000)

    def calibrate_ruler(self) -> None:
        """Ask the selected ruler's length in mm and measure the image with it from now on."""
        canvas = self._working_canvas()
        ruler = canvas.editor.selected_distance() if canvas.radiograph is not None else None
        if ruler is None:
            self.show_message("Select a ruler first (click it): Calibrate Ruler gives it its length in mm.")
            return
        (ax, ay), (bx, by) = ruler.points
        pixels = math.hypot(bx - ax, by - ay)
        spacing = canvas.spacing
        known = math.hypot((bx - ax) * spacing.col_mm, (by - ay) * spacing.row_mm) if spacing else DEFAULT_KNOWN_MM
        mm, ok = QInputDialog.getDouble(self, "Calibrate Ruler",
                                        f"The selected ruler is {pixels:.1f} pixels long.\nIts length in mm:",
                                        round(known, 2), 0.01, 100_000.0, 2)
        if not ok:
            return
        try:
            new = calibrate(pixels, mm)
        except ValueError as exc:
            self.show_message(f"Not calibrated: {exc}")
            return
        self.annotations.calibrate(canvas, new.row_mm)
        self.show_message(f"Calibrated: {new.row_mm:.4g} mm per pixel, kept for this image.")
