"""Exports: the current view as PNG (with its overlays and a "not for diagnostic use" footer)
and the folder's findings as CSV (the batch CSV's columns, so ``cxr-train evaluate`` reads it).

The PNG never carries the patient's name, ID or birth date: the scene is painted without the
file name (``for_export=True``) and the footer is written from the model and the finding only.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF
from PySide6.QtGui import QColor, QFont, QImage, QImageWriter, QPainter

from viewer.core.errors import CxrError, display_name
from viewer.core.findings import Findings
from viewer.core.identity import Scrubber
from viewer.core.model_card import ModelCard
from viewer.core.predictions_csv import PredictionsFile
from viewer.core.safe_write import write_bytes

from .canvas import ImageCanvas
from .model_panel import NOT_FOR_DIAGNOSIS
from .workers import FolderRow

FOOTER_LINE_HEIGHT = 18


class ExportError(CxrError):
    """An export could not be written (the message names the file and the reason)."""


def footer_lines(card: ModelCard | None, label: str | None, probability: float | None,
                 threshold: float | None, operating_point: str, out_of_distribution: bool = False) -> list[str]:
    """The footer of an exported view: warning, model, shown finding, date. No identifiers."""
    lines = [f"{NOT_FOR_DIAGNOSIS.upper()} Research and education only."]
    if out_of_distribution:
        lines.append("OUT OF DISTRIBUTION: the image does not look like the model's training chest "
                     "X-rays; its findings and heatmaps are not meaningful.")
    if card is not None:
        model = f"Model: {card.name} ({card.arch}, id {card.model_id[:12]})"
        if label is not None and probability is not None and threshold is not None:
            model += (f"   Heatmap: {label.replace('_', ' ')}  p = {probability:.3f}, threshold "
                      f"{threshold:.3f} ({operating_point})")
        lines.append(model)
    else:
        lines.append("No model: image only.")
    stamp = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines.append(f"Exported {stamp} from CXR Viewer")
    return lines


def render_view(canvas: ImageCanvas, lines: list[str]) -> QImage:
    """The canvas as the user sees it (image, heatmap, boxes, ruler, read-outs) plus a footer."""
    width, height = canvas.width(), canvas.height()
    footer = FOOTER_LINE_HEIGHT * len(lines) + 12
    image = QImage(width, height + footer, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    painter = QPainter(image)
    try:
        canvas.paint_scene(painter, QRectF(0, 0, width, height), for_export=True)
        painter.fillRect(QRectF(0, height, width, footer), QColor(25, 25, 25))
        font = QFont(canvas.font())
        font.setPointSizeF(9.0)
        for i, line in enumerate(lines):
            warning = i == 0 or line.startswith("OUT OF DISTRIBUTION")
            font.setBold(warning)
            painter.setFont(font)
            painter.setPen(QColor(255, 120, 100) if warning else QColor(220, 220, 220))
            painter.drawText(QPointF(8, height + 6 + FOOTER_LINE_HEIGHT * (i + 1) - 5), line)
    finally:
        painter.end()
    return image


def save_view_png(canvas: ImageCanvas, lines: list[str], out: Path) -> Path:
    """Render and write the PNG; raises ``ExportError`` when it cannot be written.

    Encoded in memory and written by ``safe_write``: ``QImage.save(path)`` would open the path
    itself and write through a link planted there.
    """
    if canvas.radiograph is None:
        raise ExportError("there is no image on screen to export")
    out = out if out.suffix.lower() == ".png" else out.with_suffix(".png")
    return save_png(render_view(canvas, lines), out)


def save_png(image: QImage, out: Path) -> Path:
    """Write ``image`` as the PNG ``out`` through ``safe_write`` (encoded in memory first:
    ``QImage.save(path)`` opens the path itself and writes through a link planted there);
    raises ``ExportError``."""
    encoded = QByteArray()
    buffer = QBuffer(encoded)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QImageWriter(buffer, QByteArray(b"png"))
    if not writer.write(image):
        raise ExportError(f"{display_name(out)}: the view could not be encoded as PNG ({writer.errorString()})")
    buffer.close()
    try:
        return write_bytes(out, bytes(encoded.data()))
    except OSError as exc:
        raise ExportError(f"{display_name(out)}: could not be written ({exc.strerror or exc})") from None


def write_findings_csv(out: Path, rows: Iterable[FolderRow], labels: tuple[str, ...],
                       thresholds_for: Callable[[Findings], np.ndarray], scrubber: Scrubber | None = None) -> int:
    """Write one row per analysed image as a predictions CSV (``viewer.core.predictions_csv``,
    the batch's columns); returns the row count.

    ``thresholds_for(findings)`` gives the thresholds of the current operating point, so the
    ``flag_`` columns match what the viewer shows. Patient IDs are never written; ``scrubber``
    (the folder's identities) removes names, IDs and birth dates from the names and paths.
    """
    try:
        with PredictionsFile(out, labels, scrubber=scrubber) as writer:
            for row in rows:
                image, f = row.image, row.findings
                if f is None:
                    writer.write_error(image.name, image.display_path, row.error or "not analysed",
                                       patient_key=image.patient_key, study_key=image.study_key)
                else:
                    writer.write_findings(image.name, image.display_path, f.at_thresholds(thresholds_for(f)),
                                          patient_key=image.patient_key, study_key=image.study_key)
            count = writer.rows
    except OSError as exc:
        raise ExportError(f"{display_name(out)}: could not be written ({exc.strerror or exc})") from None
    return count


__all__ = ["ExportError", "footer_lines", "render_view", "save_png", "save_view_png", "write_findings_csv"]
