"""Part of the main window: View > Check This Map (the deletion test of the finding's heatmap).

A mixin of ``MainWindow``: the action sits under View > Heatmap and is enabled only while a
finding's heatmap is on the canvas; ``MapCheck`` runs the test off the GUI thread and its
one-line result goes to the status bar and under the finding's details in the Findings panel
("top 20% of the map removed: probability 0.71 -> 0.32; random 20%: 0.69; faithfulness +0.41").
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction

from viewer.core.map_faithfulness import Faithfulness

from .map_check import MapCheck, MapCheckRequest

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from collections.abc import Callable, Sequence

    from PySide6.QtWidgets import QMainWindow as _Window

    from .canvas import ImageCanvas
    from .findings_panel import FindingsPanel
    from .image_session import ImageSession
    from .model_session import ModelSession
else:
    _Window = object

RESULT_MS = 60_000  # the result stays in the status bar for a minute: it takes a while to read


class WindowMapCheckMixin(_Window):
    """``act_check_map`` and the ``map_check`` that runs it."""

    image: ImageSession
    models: ModelSession
    canvas: ImageCanvas
    findings: FindingsPanel
    act_heatmap: QAction
    _action: Callable[..., QAction]
    _insert_after: Callable[[QAction, Sequence[QAction]], None]
    show_message: Callable[[str, int], None]

    def _build_map_check_actions(self) -> None:
        self.map_check = MapCheck(self)
        self.act_check_map = self._action(
            "&Check This Map", self.check_map,
            tip="Does the model use what the heatmap points at? Removes the map's top pixels and as many "
                "random ones and compares the finding's probability (status bar)")
        self.act_check_map.setEnabled(False)
        self._insert_after(self.act_heatmap, [self.act_check_map])
        self.map_check.reported.connect(lambda text: self.show_message(text, RESULT_MS))
        self.map_check.finished.connect(self._show_map_check)
        self.image.finding_shown.connect(lambda _label: self._update_map_check())
        self.image.image_cleared.connect(self._on_image_changed)
        self.image.image_shown.connect(lambda _loaded: self._on_image_changed())
        self.image.findings_unavailable.connect(lambda _reason: self._update_map_check())
        self.act_heatmap.toggled.connect(lambda _on: self._update_map_check())

    def _map_on_screen(self) -> bool:
        """A finding's heatmap is on the canvas of the image on screen."""
        return (self.image.analysed is not None and self.image.loaded is not None
                and self.image.selected_label is not None and self.canvas.heatmap_visible
                and self.models.predictor is not None)

    def _update_map_check(self) -> None:
        self.act_check_map.setEnabled(self._map_on_screen())

    def _on_image_changed(self) -> None:
        self.map_check.cancel()
        self._update_map_check()

    def check_map(self) -> None:
        """Run the deletion test of the shown finding's map on the image on screen."""
        loaded, label, predictor = self.image.loaded, self.image.selected_label, self.models.predictor
        if not self._map_on_screen() or loaded is None or label is None or predictor is None:
            return
        request = MapCheckRequest(loaded.path, self.image.generation, label)
        self.map_check.start(request, loaded.radiograph, predictor)

    def _show_map_check(self, request: MapCheckRequest, result: Faithfulness) -> None:
        """The result under the finding's details, while that finding of that image is shown
        (the next ``show_finding`` replaces the details, and with them the result)."""
        image = self.image
        if image.generation != request.generation or image.selected_label != request.label:
            return
        self.findings.set_details(image.state.details_html(request.label)
                                  + f"<br><b>Map check:</b> {html.escape(result.summary())}")
