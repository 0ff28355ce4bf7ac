"""Part of the main window: the File menu's exports, with their dialogs and messages.

A mixin of ``MainWindow``. What is written is ``export.py``'s; here the view on screen and the
window's operating point become its arguments: the PNG footer names the shown finding at the
operating point, and the CSV flags every analysed image of the folder at it. Each dialog
proposes the file its export wrote last (kept in the settings), and each action is off while
there is nothing for it to write: no image on screen, or no model or no analysed image.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from viewer.core.errors import display_name

from .export import ExportError, footer_lines, save_view_png, write_findings_csv
from .window_status import MESSAGE_MS

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .canvas import ImageCanvas
    from .errors_panel import ErrorsPanel
    from .folder_session import FolderSession
    from .image_session import ImageSession
    from .model_session import ModelSession
    from .settings import AppSettings
else:
    _Window = object

# What a dialog proposes before the first export of its kind.
FIRST_NAMES = {"png": "view.png", "csv": "findings.csv"}


class WindowExportsMixin(_Window):
    """Export View as PNG, Export Folder Findings as CSV."""

    canvas: ImageCanvas
    errors: ErrorsPanel
    models: ModelSession
    image: ImageSession
    folder: FolderSession
    settings: AppSettings
    act_export_png: QAction
    act_export_csv: QAction
    show_message: Callable[..., None]  # the status bar's (window_status)

    def _connect_exports(self) -> None:
        """Keep the export actions (menu, toolbar, keys) enabled only when they can write."""
        for signal in (self.image.image_shown, self.image.image_cleared, self.image.image_failed,
                       self.folder.folder_opened, self.folder.rows_analysed,
                       self.models.model_ready, self.models.model_unavailable):
            signal.connect(self._update_export_actions)
        self._update_export_actions()

    def _update_export_actions(self, *_args: object) -> None:
        self.act_export_png.setEnabled(self.canvas.radiograph is not None)
        self.act_export_csv.setEnabled(self.models.predictor is not None and bool(self.folder.rows))

    def _ask_where(self, kind: str, caption: str, file_filter: str) -> Path | None:
        """The save dialog, proposing the file this kind of export wrote last (None: cancelled)."""
        last = self.settings.last_export(kind)
        proposed = str(last) if last is not None and last.parent.is_dir() else FIRST_NAMES[kind]
        name, _ = QFileDialog.getSaveFileName(self, caption, proposed, file_filter)
        return Path(name) if name else None

    def export_footer(self) -> list[str]:
        """Footer of an exported view for what is on screen now."""
        predictor = self.models.predictor
        card = predictor.card if predictor is not None else None
        label = self.canvas.heatmap_label if self.canvas.heatmap_visible else None
        probability = threshold = None
        shown = self.image.state.shown
        if label is not None and shown is not None and label in shown.labels:
            i = shown.index(label)
            probability, threshold = float(shown.probabilities[i]), float(shown.thresholds[i])
        ood = shown is not None and bool(shown.ood_flag)
        return footer_lines(card, label, probability, threshold, self.models.operating_point.footer_text, ood)

    def export_png(self, out: Path | None = None) -> Path | None:
        """Save the view as a PNG (asks where without ``out``); the path written, or None."""
        if out is None:
            out = self._ask_where("png", "Export View as PNG", "PNG image (*.png)")
            if out is None:
                return None
        try:
            written = save_view_png(self.canvas, self.export_footer(), Path(out))
        except ExportError as exc:
            self.errors.add_error(display_name(out), str(exc))
            self.show_message(str(exc), MESSAGE_MS)
            return None
        self.settings.set_last_export("png", written)
        self.show_message(f"Saved {display_name(written)}", MESSAGE_MS)
        return written

    def export_csv(self, out: Path | None = None) -> Path | None:
        """Write the findings of every analysed image (asks where without ``out``)."""
        predictor = self.models.predictor
        if predictor is None:
            self.show_message("No model: there are no findings to export.", MESSAGE_MS)
            return None
        if out is None:
            out = self._ask_where("csv", "Export Folder Findings", "CSV (*.csv)")
            if out is None:
                return None
        rows = [self.folder.rows[i.path] for i in self.folder.images if i.path in self.folder.rows]
        try:
            count = write_findings_csv(Path(out), rows, tuple(predictor.labels),
                                       self.models.operating_point.thresholds_for, self.folder.scrubber)
        except ExportError as exc:
            self.errors.add_error(display_name(out), str(exc))
            return None
        self.settings.set_last_export("csv", Path(out))
        pending = len(self.folder.images) - count
        more = f" ({pending} not analysed yet)" if pending else ""
        self.show_message(f"Wrote {count} rows to {display_name(out)}{more}", MESSAGE_MS)
        return Path(out)
