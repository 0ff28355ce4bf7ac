"""The model panel: the model card in words, or why there is no model.

Every string of a card is the model file's (free-form fields included, such as
``metrics.auroc[label].n_pos``): all of them are escaped into the panel's rich text, and the
view loads no resources (``rich_text.RichTextBrowser``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QVBoxLayout, QWidget

from viewer.core.model_card import ModelCard
from viewer.viewmodel.card import auroc_interval, card_interval

from .plain_text import escape
from .rich_text import RichTextBrowser

NOT_FOR_DIAGNOSIS = "Not for diagnostic use."


class ModelPanel(QWidget):
    """What the model is, what it was trained on, how good it is per label, its thresholds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.text = RichTextBrowser()
        self.text.setObjectName("modelCard")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.text)
        self.show_loading(None)

    def show_loading(self, model_path: str | None) -> None:
        what = (f"Opening model {escape(_short(model_path))}\N{HORIZONTAL ELLIPSIS}" if model_path
                else "No model loaded yet.")
        self.text.setHtml(f"<p>{what}</p>{_warning()}")

    def show_unavailable(self, reason: str) -> None:
        """No model: the viewer works as a plain viewer; say why and how to get one."""
        self.text.setHtml(
            "<h3>No model: plain viewer</h3>"
            f"<p>{escape(reason)}</p>"
            "<p>Images, windowing, tags and measurements work as usual. To see findings, start "
            "with <code>--model NAME.onnx</code> (with <code>NAME.gradcam.onnx</code> beside it), "
            "as written by <code>cxr-train export</code>.</p>" + _warning()
        )

    def show_card(self, card: ModelCard) -> None:
        """Render a ``ModelCard``."""
        self.text.setHtml(card_html(card))


def _warning() -> str:
    return (f"<p style='color:#c0392b'><b>{NOT_FOR_DIAGNOSIS}</b> Research and education only: the "
            "findings and heatmaps are not a diagnosis and must not guide patient care.</p>")


def card_html(card: ModelCard) -> str:
    """The card as HTML: identity, training data, per-label AUROC and threshold, intended use."""
    e = escape
    training = card.training or {}
    metrics = card.metrics or {}
    thresholds = card.threshold_values()
    auroc = metrics.get("auroc", {})
    rows = []
    for label in card.labels:
        value = card.auroc(label)
        entry = auroc.get(label)
        positives = entry.get("n_pos") if isinstance(entry, dict) else None
        if value is None:
            auroc_text = "n/a"
        else:
            auroc_text = f"{value:.2f}"
            ci = auroc_interval(card, label)
            if ci is not None:
                auroc_text += f" <small>({ci[0]:.2f}\N{EN DASH}{ci[1]:.2f})</small>"
        rows.append(f"<tr><td>{e(_short(label.replace('_', ' ')))}</td><td align='right'>{auroc_text}</td>"
                    f"<td align='right'>{e(_short(positives))}</td>"
                    f"<td align='right'>{thresholds[label]:.3f}</td></tr>")
    summary = []
    if isinstance(metrics.get("mean_auroc"), (int, float)):
        mean_text = f"mean test AUROC <b>{metrics['mean_auroc']:.3f}</b>"
        mean_ci = card_interval(metrics.get("mean_auroc_ci95"))
        if mean_ci is not None:
            mean_text += f" <small>(95% interval {mean_ci[0]:.2f}\N{EN DASH}{mean_ci[1]:.2f})</small>"
        summary.append(mean_text)
    if isinstance(metrics.get("n_images"), int):
        summary.append(f"on {metrics['n_images']} test images")
    found_split = metrics.get("split")
    split: dict[str, Any] = found_split if isinstance(found_split, dict) else {}
    found_sizes = split.get("sizes")
    sizes: dict[str, Any] | None = found_sizes if isinstance(found_sizes, dict) else None
    split_text = ""
    if sizes:
        split_text = ", ".join(f"{k} {v}" for k, v in sizes.items())
        split_text = f"<br><b>Split</b> ({e(_short(split.get('unit', '')))}): {e(_short(split_text))}"
    return (
        f"<h3>{e(_short(card.name))}</h3>"
        f"<p><b>Architecture:</b> {e(_short(card.arch))}, input {card.input.width}\N{MULTIPLICATION SIGN}"
        f"{card.input.height} grey<br><b>Model id:</b> <code>{e(card.model_id[:16])}\N{HORIZONTAL ELLIPSIS}</code></p>"
        f"<p><b>Trained on:</b> {e(_short(training.get('data')))}<br>"
        f"<b>Epochs:</b> {e(_short(training.get('epochs')))}, <b>seed</b> {e(_short(training.get('seed')))}, "
        f"<b>date</b> {e(_short(training.get('date'))[:10])}<br>"
        f"<b>Trainer:</b> {e(_short(training.get('trainer_version')))} "
        f"(commit {e(_short(training.get('git_commit'))[:12])}){split_text}</p>"
        f"<p><b>Thresholds:</b> {e(_short(card.thresholds.get('rule')))}<br>"
        f"<b>Calibration:</b> {e(_short(card.calibration.get('method')))}<br>"
        f"<b>Out-of-distribution check:</b> {e(_short(card.ood.get('method')))}</p>"
        + (f"<p>{', '.join(summary)}</p>" if summary else "")
        # Cells never wrap: a narrow panel scrolls sideways rather than break a name inside a
        # word ("Cardiom egaly"), which Qt's tables do to fit a column.
        + "<table cellspacing='0' cellpadding='2' width='100%' style='white-space: nowrap'>"
        "<tr><th align='left'>Label</th><th align='right'>AUROC (95% CI)</th>"
        "<th align='right'>Positives</th><th align='right'>Threshold</th></tr>" + "".join(rows) + "</table>"
        + _training_notes(training)
        + f"<p><b>Intended use:</b> {e(_short(card.intended_use, 2_000))}</p>" + _warning()
    )


def _training_notes(training: dict[str, Any]) -> str:
    """Which weights were kept and what the trainer tried (the card's ``chosen_weights`` and
    ``tried``), as HTML; empty for a card without them."""
    parts = []
    if training.get("chosen_weights"):
        parts.append(f"<p><b>Weights kept:</b> {escape(_short(training['chosen_weights']))}</p>")
    tried = training.get("tried")
    if isinstance(tried, list) and tried:
        items = "".join(f"<li>{escape(_short(item, 600))}</li>" for item in tried)
        parts.append(f"<p><b>What was tried:</b></p><ul>{items}</ul>")
    return "".join(parts)


def _short(value: Any, limit: int = 300) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + "\N{HORIZONTAL ELLIPSIS}"
