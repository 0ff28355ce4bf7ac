"""Part of the main window: the status bar's read-outs, progress and error count.

A mixin of ``MainWindow``: the cursor's pixel value, the window/level (and the presets list
naming it), the labels of the selected measurement and of where its mm come from (which
``window_annotations`` fills), the progress of the scan and analysis (shown at most ``PROGRESS_HZ``
times a second), the errors button that opens the errors dock, and the sign that the patient's
identity is on the canvas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QProgressBar, QPushButton

from viewer.core.radiograph import Window
from viewer.viewmodel.measurement import CursorInfo
from viewer.viewmodel.readout import window_text
from viewer.viewmodel.windowing import WindowPresets

from .plain_text import MESSAGE_ELIDE_AT, PlainLabel, elide

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .canvas import ImageCanvas
    from .folder_session import FolderSession
else:
    _Window = object

PROGRESS_HZ = 10  # status-bar progress updates per second
MESSAGE_MS = 8000  # how long a status message stays


class WindowStatusMixin(_Window):
    """The status bar (its widgets are attributes, for the tests and the screenshot)."""

    canvas: ImageCanvas
    errors_dock: QDockWidget
    folder: FolderSession
    presets: QComboBox
    window_presets: WindowPresets

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_label = PlainLabel()
        self.cursor_label.setObjectName("cursorReadout")
        self.cursor_label.setMinimumWidth(210)
        self.window_label = PlainLabel()
        self.window_label.setObjectName("windowReadout")
        self.window_label.setMinimumWidth(170)
        self.measure_label = PlainLabel()
        self.measure_label.setObjectName("measureReadout")
        self.spacing_label = PlainLabel()
        self.spacing_label.setObjectName("spacingReadout")
        self.spacing_label.setContentsMargins(6, 0, 6, 0)
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self._progress_pending: tuple[str, int, int] | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(1000 // PROGRESS_HZ)
        self._progress_timer.timeout.connect(self._show_progress)
        self._errors_seen = 0
        self.errors_button = QPushButton("No errors")
        self.errors_button.setFlat(True)
        self.errors_button.clicked.connect(self._show_errors_dock)
        # says THAT identifying text is on the canvas, never what it is
        self.identity_indicator = QLabel("Patient identity on screen")
        self.identity_indicator.setObjectName("identityIndicator")
        self.identity_indicator.setStyleSheet("color: #ffbe3c; background: #3a2a00; font-weight: bold; padding: 0 6px;")
        self.identity_indicator.hide()
        for widget in (self.identity_indicator, self.measure_label, self.spacing_label, self.cursor_label,
                       self.window_label,
                       self.progress, self.errors_button):
            bar.addPermanentWidget(widget)

    def show_message(self, text: str, msecs: int = MESSAGE_MS) -> None:
        """A passing message in the status bar, never with the patient's name, ID or birth date:
        callers say files by their display name, and the open folder's identities are removed
        (paths can hold them). The status bar draws plain text; a long message is elided."""
        self.statusBar().showMessage(elide(self.folder.scrubber.scrub(text), MESSAGE_ELIDE_AT), msecs)

    def _on_cursor(self, info: CursorInfo | None) -> None:
        if info is None:
            self.cursor_label.setText("")
            return
        value = f"{info.value:.0f}" if float(info.value).is_integer() else f"{info.value:.4g}"
        self.cursor_label.setText(f"x {info.x}, y {info.y}: {value}")

    def _on_window_changed(self, window: Window | None) -> None:
        """The window in the status bar, rounded as the overlay rounds it, and the presets list
        naming the preset it is, or "Manual"; both empty without an image."""
        if window is None:
            self.window_label.setText("")
            self.window_presets = WindowPresets()
            self.presets.clear()
            self.presets.setPlaceholderText("")
            self.presets.setEnabled(False)
            return
        self.window_label.setText(window_text(window, self.canvas.integer_values))
        self.presets.setEnabled(True)
        index = self.window_presets.index_of(window)
        self.presets.setPlaceholderText("Manual")  # what the list shows when no preset is current
        self.presets.setCurrentIndex(-1 if index is None else index)

    def _on_progress(self, task: str, done: int, total: int) -> None:
        # QProgressBar.setValue repaints at once (synchronously, with whatever else of the window
        # is dirty): at one call per analysed file that kept the GUI thread busy. The latest
        # value is shown at most PROGRESS_HZ times a second instead.
        self._progress_pending = (task, done, total)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        if self._progress_pending is None:
            return
        task, done, total = self._progress_pending
        self._progress_pending = None
        self.progress.show()
        if total <= 0:
            self.progress.setRange(0, 0)  # busy: the folder is still being listed
            self.progress.setFormat(f"{task}\N{HORIZONTAL ELLIPSIS}")
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{task} {done}/{total}")

    def _on_scan_done(self, count: int) -> None:
        self.show_message(f"Found {count} image(s).", 5000)
        if count == 0:
            self.canvas.clear("No images in this folder.\nSee the Errors panel for files that could not be read.")
            self.progress.hide()

    def _on_analysis_done(self) -> None:
        self._progress_pending = None
        self._progress_timer.stop()
        self.progress.hide()

    def _show_errors_dock(self) -> None:
        self.errors_dock.show()
        self.errors_dock.raise_()

    def _on_errors_changed(self, count: int) -> None:
        if count and not self._errors_seen:
            self.errors_dock.show()  # non-blocking: the panel appears, nothing takes the focus
        if bool(count) != bool(self._errors_seen):
            # Only when it changes: a style sheet re-polishes the button (about 8 ms), and a big
            # folder's scan reports errors in hundreds of batches.
            self.errors_button.setStyleSheet("color: #dc3c32; font-weight: bold;" if count else "")
        self._errors_seen = count
        self.errors_button.setText(f"{count} error(s)" if count else "No errors")
