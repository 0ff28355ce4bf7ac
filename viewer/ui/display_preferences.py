"""The display preferences kept across restarts, between the window's controls and their file.

Applied to the controls when the window opens (the operating point when its model is ready, as
the step last chosen for that ``model_id``), and saved when the user changes a control. The
controls stay the one place a preference is changed: the findings panel's colormap, opacity and
operating point, the browser's order, and the Preferences dialog, which sets those same
controls. This class only listens to them and writes ``viewer.core.preferences``' file.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QComboBox

from viewer.core.inference import Predictor
from viewer.core.preferences import Preferences, PreferencesFile

from .browser import StudyBrowser
from .colormaps import COLORMAPS
from .findings_panel import FindingsPanel
from .model_session import ModelSession
from .settings import AppSettings


def sort_box(browser: StudyBrowser) -> QComboBox:
    """The browser's order as the box that shows it, for the Preferences page to mirror; the
    preference itself goes through the browser's ``sort_mode()`` / ``set_sort_mode()`` /
    ``sort_mode_changed`` (an id such as "triage", not the box's words)."""
    return browser.sort_box


class DisplayPreferences(QObject):
    """Restores the display preferences into the window's controls and saves their changes."""

    def __init__(self, settings: AppSettings, findings: FindingsPanel, browser: StudyBrowser,
                 models: ModelSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.findings, self.browser, self.models = findings, browser, models
        self.file = PreferencesFile(settings.preferences_path())
        self.preferences = self.file.load()
        self._restore()

        # Sliders are saved when their value settles: at each key press or click, and when a drag
        # ends, not at every pixel of it.
        findings.colormap.currentTextChanged.connect(self._on_colormap)
        findings.opacity.valueChanged.connect(self._on_opacity_moved)
        findings.opacity.sliderReleased.connect(self._on_opacity)
        findings.sensitivity.valueChanged.connect(self._on_operating_point_moved)
        findings.sensitivity.sliderReleased.connect(self._on_operating_point)
        browser.sort_mode_changed.connect(self._on_sort_mode)
        models.model_ready.connect(self._on_model_ready)

    def _restore(self) -> None:
        """Set the controls to the saved preferences (each control tells the window, as when the
        user sets it); a saved name the window no longer offers is left alone."""
        saved = self.preferences
        if saved.colormap in COLORMAPS:
            self.findings.colormap.setCurrentText(saved.colormap)
        if saved.heatmap_opacity is not None:
            self.findings.opacity.setValue(saved.heatmap_opacity)
        if saved.sort_mode is not None:
            self.browser.set_sort_mode(saved.sort_mode)  # an id it does not know is refused

    def _on_model_ready(self, predictor: Predictor) -> None:
        step = self.preferences.operating_point(predictor.card.model_id)
        if step is not None:
            slider = self.findings.sensitivity
            slider.setValue(max(slider.minimum(), min(slider.maximum(), step)))

    # -- saving --------------------------------------------------------------------------------
    def _on_opacity_moved(self, _value: int) -> None:
        if not self.findings.opacity.isSliderDown():
            self._on_opacity()

    def _on_operating_point_moved(self, _value: int) -> None:
        if not self.findings.sensitivity.isSliderDown():
            self._on_operating_point()

    def _save(self, preferences: Preferences) -> None:
        if preferences != self.preferences:
            self.preferences = preferences
            self.file.save(preferences)

    def _on_colormap(self, name: str) -> None:
        self._save(replace(self.preferences, colormap=name))

    def _on_opacity(self) -> None:
        self._save(replace(self.preferences, heatmap_opacity=self.findings.opacity.value()))

    def _on_sort_mode(self, mode: str) -> None:
        self._save(replace(self.preferences, sort_mode=mode))

    def _on_operating_point(self) -> None:
        predictor = self.models.predictor
        if predictor is not None:
            self._save(self.preferences.with_operating_point(predictor.card.model_id,
                                                             self.findings.sensitivity.value()))
