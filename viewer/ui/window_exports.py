"""Part of the main window: the File menu's exports, with their dialogs and messages.

A mixin of ``MainWindow``. What is written is ``export.py``'s; here the view on screen and the
window's operating point become its arguments: the PNG footer names the shown finding at the
operating point, and the CSV flags every analysed image of the folder at it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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
else:
    _Window = object


class WindowExportsMixin(_Window):
    """Export View as PNG, Export Folder Findings as CSV."""

    canvas: ImageCanvas
    errors: ErrorsPanel
    models: ModelSession
    image: ImageSession
    folder: FolderSession
    show_message: Callable[..., None]  # the status bar's (window_status)

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
            name, _ = QFileDialog.getSaveFileName(self, "Export View as PNG", "view.png", "PNG image (*.png)")
            if not name:
                return None
            out = Path(name)
        try:
            written = save_view_png(self.canvas, self.export_footer(), Path(out))
        except ExportError as exc:
            self.errors.add_error(display_name(out), str(exc))
            self.show_message(str(exc), MESSAGE_MS)
            return None
        self.show_message(f"Saved {display_name(written)}", 5000)
        return written

    def export_csv(self, out: Path | None = None) -> Path | None:
        """Write the findings of every analysed image (asks where without ``out``)."""
        predictor = self.models.predictor
        if predictor is None:
            self.show_message("No model: there are no findings to export.", MESSAGE_MS)
            return None
        if out is None:
            name, _ = QFileDialog.getSaveFileName(self, "Export Folder Findings", "findings.csv", "CSV (*.csv)")
            if not name:
                return None
            out = Path(name)
        rows = [self.folder.rows[i.path] for i in self.folder.images if i.path in self.folder.rows]
        try:
            count = write_findings_csv(Path(out), rows, tuple(predictor.labels),
                                       self.models.operating_point.thresholds_for, self.folder.scrubber)
        except ExportError as exc:
            self.errors.add_error(display_name(out), str(exc))
            return None
        pending = len(self.folder.images) - count
        more = f" ({pending} not analysed yet)" if pending else ""
        self.show_message(f"Wrote {count} rows to {display_name(out)}{more}", MESSAGE_MS)
        return Path(out)
