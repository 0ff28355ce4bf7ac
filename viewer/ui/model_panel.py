"""The model panel: the model card in words, or why there is no model."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

NOT_FOR_DIAGNOSIS = "Not for diagnostic use."


class ModelPanel(QWidget):
    """What the model is, what it was trained on, how good it is per label, its thresholds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.text = QTextBrowser()
        self.text.setObjectName("modelCard")
        self.text.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.text)
        self.show_loading(None)

    def show_loading(self, model_path: str | None) -> None:
        what = f"Opening model {html.escape(model_path)}\N{HORIZONTAL ELLIPSIS}" if model_path else "No model loaded yet."
        self.text.setHtml(f"<p>{what}</p>{_warning()}")

    def show_unavailable(self, reason: str) -> None:
        """No model: the viewer works as a plain viewer; say why and how to get one."""
        self.text.setHtml(
            "<h3>No model: plain viewer</h3>"
            f"<p>{html.escape(reason)}</p>"
            "<p>Images, windowing, tags and measurements work as usual. To see findings, start "
            "with <code>--model NAME.onnx</code> (with <code>NAME.gradcam.onnx</code> beside it), "
            "as written by <code>cxr-train export</code>.</p>" + _warning()
        )

    def show_card(self, card: Any) -> None:
        """Render a ``ModelCard``."""
        self.text.setHtml(card_html(card))


def _warning() -> str:
    return (f"<p style='color:#c0392b'><b>{NOT_FOR_DIAGNOSIS}</b> Research and education only: the "
            "findings and heatmaps are not a diagnosis and must not guide patient care.</p>")


def card_html(card: Any) -> str:
    """The card as HTML: identity, training data, per-label AUROC and threshold, intended use."""
    e = html.escape
    training = card.training or {}
    rows = []
    thresholds = card.threshold_values()
    auroc = (card.metrics or {}).get("auroc", {})
    for label in card.labels:
        entry = auroc.get(label)
        value = card.auroc(label)
        if value is None:
            auroc_text = "n/a"
        else:
            auroc_text = f"{value:.3f}"
            ci = entry.get("ci") if isinstance(entry, dict) else None
            if isinstance(ci, (list, tuple)) and len(ci) == 2:
                auroc_text += f" <small>({ci[0]:.2f}\N{EN DASH}{ci[1]:.2f})</small>"
        rows.append(f"<tr><td>{e(label.replace('_', ' '))}</td><td align='right'>{auroc_text}</td>"
                    f"<td align='right'>{thresholds[label]:.3f}</td></tr>")
    splits = (card.metrics or {}).get("split_sizes") or (card.metrics or {}).get("splits")
    split_text = f"<p><b>Split sizes:</b> {e(_short(splits))}</p>" if splits else ""
    return (
        f"<h3>{e(card.name)}</h3>"
        f"<p><b>Architecture:</b> {e(card.arch)}, input {card.input.width}\N{MULTIPLICATION SIGN}"
        f"{card.input.height} grey<br><b>Model id:</b> <code>{e(card.model_id[:16])}\N{HORIZONTAL ELLIPSIS}</code></p>"
        f"<p><b>Trained on:</b> {e(_short(training.get('data')))}<br>"
        f"<b>Epochs:</b> {e(_short(training.get('epochs')))}, <b>seed</b> {e(_short(training.get('seed')))}, "
        f"<b>date</b> {e(_short(training.get('date')))}<br>"
        f"<b>Trainer:</b> {e(_short(training.get('trainer_version')))} "
        f"(commit {e(_short(training.get('git_commit'))[:12])})</p>"
        f"{split_text}"
        f"<p><b>Thresholds:</b> {e(_short(card.thresholds.get('rule')))}<br>"
        f"<b>Calibration:</b> {e(_short(card.calibration.get('method')))}<br>"
        f"<b>Out-of-distribution check:</b> {e(_short(card.ood.get('method')))}</p>"
        "<table cellspacing='0' cellpadding='2' width='100%'>"
        "<tr><th align='left'>Label</th><th align='right'>Test AUROC (95% CI)</th>"
        "<th align='right'>Threshold</th></tr>" + "".join(rows) + "</table>"
        f"<p><b>Intended use:</b> {e(card.intended_use)}</p>" + _warning()
    )


def _short(value: Any, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + "\N{HORIZONTAL ELLIPSIS}"
