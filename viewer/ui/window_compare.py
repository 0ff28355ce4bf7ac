"""Part of the main window: the layouts, Compare with Prior and the linked views.

A mixin of ``MainWindow``: View > Layout (1x1, 1x2, 2x1, 2x2, Alt+1..Alt+4), View > Compare with
Prior (C) and View > Link Views (L), all acting on the ``ComparisonSession`` that owns the
viewports beside the reading one. The tools, the mouse layout and the identity toggle reach
every viewport's canvas.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from viewer.viewmodel.comparison import LAYOUTS

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from collections.abc import Callable, Sequence

    from PySide6.QtWidgets import QMainWindow as _Window

    from .comparison_session import ComparisonSession
else:
    _Window = object

LAYOUT_TITLES = {"1x1": "&One Image", "1x2": "Two &Side by Side", "2x1": "Two &Stacked", "2x2": "&Four"}


class WindowCompareMixin(_Window):
    """``layout_actions`` (by layout name), ``act_compare`` and ``act_link_views``."""

    comparison: ComparisonSession
    act_heatmap: QAction
    _action: Callable[..., QAction]
    _insert_after: Callable[[QAction, Sequence[QAction]], None]

    def _build_compare_actions(self) -> None:
        self.layout_menu = QMenu("&Layout", self)
        group = QActionGroup(self)
        group.setExclusive(True)
        self.layout_actions: dict[str, QAction] = {}
        for number, name in enumerate(LAYOUTS, start=1):
            action = QAction(LAYOUT_TITLES[name], self)
            action.setCheckable(True)
            action.setShortcut(f"Alt+{number}")
            action.setStatusTip(f"{name} viewports; remembered for images in the same situation "
                                "(one image, a study with priors, PA + lateral)")
            action.triggered.connect(partial(self._choose_layout, name))
            group.addAction(action)
            self.layout_menu.addAction(action)
            self.addAction(action)
            self.layout_actions[name] = action
        self.layout_actions[self.comparison.layout_name].setChecked(True)
        self.comparison.layout_changed.connect(lambda name: self.layout_actions[name].setChecked(True))
        self.act_compare = self._action("&Compare with Prior", self.comparison.compare_with_prior, "C",
                                        tip="The patient's previous study beside this image, with the "
                                            "change of each finding (Comparison panel)")
        self.act_link_views = self._action("&Link Views", self.comparison.set_linked, "L", checkable=True,
                                           tip="Window, zoom and pan move together in every viewport")
        self.act_link_views.setChecked(self.comparison.linked)
        self._insert_after(self.act_heatmap, [self.layout_menu.menuAction(), self.act_compare, self.act_link_views])

    def _choose_layout(self, name: str, _checked: bool = False) -> None:
        self.comparison.set_layout(name)
