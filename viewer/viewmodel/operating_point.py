"""The operating point: where the sensitivity control has moved the model card's thresholds.

One object serves the whole window, so the findings panel, the browser's summaries, the
exported CSV and the PNG footer always flag at the same thresholds. Step 0 is the card's own
thresholds; each step moves ``viewer.core.inference.adjusted_thresholds``'s sensitivity by
1 / ``SENSITIVITY_STEPS`` (along each label's validation ROC when the card has one). Whether a
probability is flagged at those thresholds is ``viewer.core.findings``' one rule.
"""

from __future__ import annotations

import numpy as np

from viewer.core.findings import Findings, read_only
from viewer.core.inference import adjusted_thresholds
from viewer.core.model_card import ModelCard

SENSITIVITY_STEPS = 5  # steps each way from the card's thresholds (to sensitivity -1 and +1)


class OperatingPoint:
    """The step of the sensitivity control (-``SENSITIVITY_STEPS`` .. +``SENSITIVITY_STEPS``)
    and the card whose thresholds it moves (None: no model, findings keep their thresholds)."""

    def __init__(self, card: ModelCard | None = None, step: int = 0) -> None:
        self._card = card
        self._step = 0
        self._cached: np.ndarray | None = None  # adjusted thresholds of (card, step)
        self.step = step

    @property
    def card(self) -> ModelCard | None:
        return self._card

    @card.setter
    def card(self, card: ModelCard | None) -> None:
        self._card = card
        self._cached = None

    @property
    def step(self) -> int:
        return self._step

    @step.setter
    def step(self, step: int) -> None:
        if not -SENSITIVITY_STEPS <= step <= SENSITIVITY_STEPS:
            raise ValueError(f"operating point step must be between -{SENSITIVITY_STEPS} and "
                             f"{SENSITIVITY_STEPS}, got {step}")
        if step != self._step:
            self._step = int(step)
            self._cached = None

    @property
    def sensitivity(self) -> float:
        """The core's sensitivity setting in [-1, 1] (positive: lower thresholds, more flags)."""
        return self._step / SENSITIVITY_STEPS

    @property
    def at_card_thresholds(self) -> bool:
        return self._step == 0 or self._card is None

    def thresholds_for(self, findings: Findings) -> np.ndarray:
        """The thresholds [L] at this operating point for ``findings``' labels (read-only)."""
        if self.at_card_thresholds:
            return np.asarray(findings.thresholds)
        if self._cached is None:
            # Computed once per step: the browser asks again for every image of the folder.
            assert self._card is not None
            self._cached = read_only(adjusted_thresholds(self._card, self.sensitivity))
        return self._cached

    def apply(self, findings: Findings) -> Findings:
        """``findings`` flagged at this operating point (nothing is recomputed but the flags)."""
        return findings.at_thresholds(self.thresholds_for(findings))

    @property
    def description(self) -> str:
        """What the findings panel says beside the control: 'card thresholds', '+2: more sensitive'."""
        if self._step == 0:
            return "card thresholds"
        direction = "more sensitive" if self._step > 0 else "more specific"
        return f"{self._step:+d}: {direction}"

    @property
    def footer_text(self) -> str:
        """How an exported view's footer names the thresholds: 'card thresholds', 'operating point +2'."""
        return "card thresholds" if self._step == 0 else f"operating point {self._step:+d}"
