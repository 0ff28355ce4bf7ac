"""What hangs beside the image the user reads: priors, the other view, and the links between them.

The reading viewport (the first) is the window's own image session. Each other viewport has an
image session of its own (decoding, model, heatmaps), with findings and tags panels that are
never shown: the Comparison panel shows their findings beside the reading image's instead.

When the reading viewport opens an image, the layout is the one hung for its situation (one
image, a study with priors, PA + lateral: ``viewer.viewmodel.comparison``), as the user last
chose it for that situation, and the other viewports get the images the situation puts there.
Compare with Prior hangs the prior beside the image whatever the situation. While views are
linked, a change of window, zoom or pan in any viewport is carried to the others, relative to
each image (``viewer.viewmodel.view_link``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from viewer.core.radiograph import Window
from viewer.core.scan import ScannedImage
from viewer.viewmodel.comparison import (
    DEFAULT_LAYOUTS,
    LAYOUTS,
    Situation,
    finding_changes,
    flagged_count,
    hanging,
    is_lateral,
    later_of,
    prior_of,
    situation_of,
    study_when,
)
from viewer.viewmodel.view_link import link_view, link_window, same_window

from .canvas import ImageCanvas
from .comparison_panel import ComparisonPanel
from .image_session import ImageSession
from .model_session import ModelSession
from .plain_text import elide
from .settings import AppSettings
from .viewports import Viewport, ViewportGrid, make_banner

NOTHING_BESIDE = "No other image of this patient in the folder."
SessionFactory = Callable[[ImageCanvas, QLabel], ImageSession]


@dataclass
class Beside:
    """A viewport beside the reading one, its image session and what it shows."""

    viewport: Viewport
    session: ImageSession
    image: ScannedImage | None = None
    cleared: bool = False  # says it has nothing to show (a new viewport says how to open a folder)
    unavailable: str | None = None  # why its image has no findings (no model, a lateral view...)


class ComparisonSession(QObject):
    """The layout, the images beside the reading one, the links and the Comparison panel.

    Events: ``layout_changed(str)`` (the layout in force: '1x1', '1x2', '2x1', '2x2'),
    ``status_message(str)``.
    """

    layout_changed = Signal(str)
    status_message = Signal(str)

    def __init__(self, grid: ViewportGrid, reading: ImageSession, make_session: SessionFactory,
                 panel: ComparisonPanel, settings: AppSettings, models: ModelSession,
                 images_of: Callable[[ScannedImage], Sequence[ScannedImage]],
                 scrub: Callable[[str], str] = str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.grid, self.reading, self.panel, self.settings, self.models = grid, reading, panel, settings, models
        self.make_session = make_session
        self.images_of = images_of  # an image -> every image of its patient found so far
        self.scrub = scrub
        self.beside: list[Beside] = []
        self.linked = settings.link_views()
        self.situation = Situation.SINGLE
        self.current: ScannedImage | None = None
        self._linking = False  # a linked change is being carried: the changes it makes are not carried back
        self._connect_canvas(reading.canvas)
        reading.findings_shown.connect(lambda _a: self._refresh())
        reading.finding_shown.connect(self._on_reading_finding)
        reading.image_cleared.connect(self._on_reading_cleared)
        reading.image_shown.connect(lambda _loaded: self._on_reading_cleared())  # a stack's next image clears nothing
        reading.findings_unavailable.connect(self._on_reading_unavailable)
        self._reading_unavailable: str | None = None
        findings = reading.findings
        findings.heatmap_toggled.connect(lambda on: self._each(lambda b: b.session.set_heatmap_visible(on)))
        findings.colormap_changed.connect(lambda name: self._each(lambda b: b.session.set_colormap(name)))
        findings.opacity_changed.connect(
            lambda value: self._each(lambda b: b.viewport.canvas.set_heatmap_opacity(value)))
        findings.sensitivity_changed.connect(self._on_sensitivity)

    # -- layouts ------------------------------------------------------------------------------
    @property
    def layout_name(self) -> str:
        return self.grid.layout_name

    def canvases(self) -> list[ImageCanvas]:
        """Every viewport's canvas (shown or not), the reading one first."""
        return [viewport.canvas for viewport in self.grid.viewports]

    def set_layout(self, name: str) -> None:
        """The user chose layout ``name``: used now, and from now on for the situation in force."""
        if name not in LAYOUTS:
            raise ValueError(f"no layout {name!r}")
        self.settings.set_hanging_layout(self.situation.value, name)
        self._hang(name, self.situation)

    def compare_with_prior(self) -> bool:
        """Hang the reading image's prior (else its next study) beside it; False, with a message,
        when its patient has no other study in the folder."""
        current = self.current
        if current is None:
            self.status_message.emit("Open an image first: Compare puts its prior study beside it.")
            return False
        images = self.images_of(current)
        other = prior_of(current, images) or later_of(current, images)
        if other is None:
            self.status_message.emit("No other study of this patient in the folder to compare with.")
            return False
        self.situation = Situation.PRIORS
        self._hang(self.layout_name if self.grid.slots > 1 else "1x2", Situation.PRIORS)
        if prior_of(current, images) is None:
            self.status_message.emit("No earlier study of this patient: compared with the next one.")
        return True

    def open(self, image: ScannedImage) -> None:
        """The reading viewport opened ``image``: hang what its situation puts beside it."""
        self.current = image
        self.situation = situation_of(image, self.images_of(image))
        default = DEFAULT_LAYOUTS[self.situation]
        self._hang(self.settings.hanging_layout(self.situation.value, LAYOUTS) or default, self.situation)

    def images_added(self, images: Sequence[ScannedImage]) -> None:
        """The scan found more images: those of the reading image's patient may be its priors
        or its other view (a big folder's scan finds them after the first image is shown)."""
        current = self.current
        if current is None or not any(image.patient_key == current.patient_key for image in images):
            return
        situation = situation_of(current, self.images_of(current))
        if situation is not self.situation and self.situation is not Situation.PRIORS:
            self.open(current)  # now in another situation: its layout
        elif self.grid.slots > 1:
            self._hang(self.layout_name, self.situation)  # the empty viewports may be filled now

    def clear(self) -> None:
        """No image in the reading viewport (a new folder): nothing beside it either."""
        self.current = None
        for beside in self.beside:
            beside.image = None
            beside.session.clear("")
        self._hang("1x1", Situation.SINGLE)

    def set_linked(self, on: bool) -> None:
        """Link (or unlink) the viewports' window, zoom and pan; remembered."""
        self.linked = on
        self.settings.set_link_views(on)
        if on:
            self._carry_view(self.reading.canvas)
            window = self.reading.canvas.window
            if window is not None:
                self._carry_window(self.reading.canvas, window)

    def shutdown(self) -> None:
        for beside in self.beside:
            beside.session.shutdown()

    def _hang(self, layout: str, situation: Situation) -> None:
        slots = LAYOUTS[layout][0] * LAYOUTS[layout][1]
        while len(self.grid.viewports) < slots:
            self._add_viewport()
        self.grid.set_layout(layout)
        images: list[ScannedImage | None] = [self.current]
        if self.current is not None:
            images = hanging(self.current, self.images_of(self.current), situation, slots)
        for i, beside in enumerate(self.beside):
            wanted = images[i + 1] if i + 1 < len(images) else None
            if wanted is None:
                if beside.image is not None or beside.session.path is not None or not beside.cleared:
                    beside.image = None
                    beside.cleared = True
                    beside.session.clear(NOTHING_BESIDE)
            elif beside.image is None or beside.image.path != wanted.path:
                beside.image = wanted
                beside.session.open(wanted)
        self._refresh()  # the titles too
        self.layout_changed.emit(layout)

    def _add_viewport(self) -> None:
        canvas, banner = ImageCanvas(), make_banner()
        viewport = Viewport(canvas, banner)
        self.grid.add(viewport)
        session = self.make_session(canvas, banner)
        beside = Beside(viewport, session)
        self.beside.append(beside)
        canvas.tool = self.reading.canvas.tool
        canvas.set_layout(self.reading.canvas.bindings.layout.name)
        canvas.set_identity_shown(self.reading.canvas.identity_shown)
        canvas.set_heatmap_opacity(self.reading.canvas.heatmap_opacity)
        canvas.set_heatmap_visible(self.reading.canvas.heatmap_visible)
        session.set_colormap(self.reading.colormap)
        self._connect_canvas(canvas)
        session.image_shown.connect(lambda _loaded, b=beside: self._on_beside_shown(b))
        session.image_cleared.connect(lambda b=beside: setattr(b, "unavailable", None))
        session.findings_unavailable.connect(lambda reason, b=beside: self._on_beside_unavailable(b, reason))
        session.findings_shown.connect(lambda _a, b=beside: self._on_beside_findings(b))

    # -- what the viewports say -----------------------------------------------------------------
    def _role(self, image: ScannedImage) -> str:
        current = self.current
        if current is None:
            return ""
        if image.study_key == current.study_key:
            return "Lateral" if is_lateral(image) else "Frontal"
        return "Prior" if study_when(image) < study_when(current) else "Later"

    def _title(self, image: ScannedImage | None, role: str, session: ImageSession) -> str:
        if image is None:
            return "Empty"
        parts = [role, image.study_label, image.view_position or ""]
        if session.analysed is not None:
            point = self.models.operating_point
            parts.append(f"{flagged_count(point.apply(session.analysed.findings))} flagged")
        return elide(self.scrub(" \N{MIDDLE DOT} ".join(part for part in parts if part)))

    def _titles(self) -> None:
        grid = self.grid.viewports
        several = self.grid.slots > 1
        if several:
            grid[0].set_title(self._title(self.current, "Now", self.reading), reading=True)
        for beside in self.beside:
            image = beside.image
            beside.viewport.set_title(self._title(image, self._role(image) if image else "", beside.session))

    def _compared(self) -> Beside | None:
        """The viewport whose findings the panel compares with the reading one's: the first
        showing another study (a prior), else the first showing anything."""
        shown = [b for b in self.beside[: self.grid.slots - 1] if b.image is not None]
        current = self.current
        for beside in shown:
            if current is not None and beside.image is not None and beside.image.study_key != current.study_key:
                return beside
        return shown[0] if shown else None

    def _refresh(self) -> None:
        """The Comparison panel and the titles, from what the viewports have now."""
        self._titles()
        if self.grid.slots == 1 or self.current is None:
            self.panel.show_message("One image on screen: View > Compare with Prior (or a layout "
                                    "with two viewports) puts the patient's other studies beside it.")
            return
        beside = self._compared()
        if beside is None or beside.image is None:
            self.panel.show_message("No other image of this patient in the folder.")
            return
        now, before = self.reading.analysed, beside.session.analysed
        if now is None and self._reading_unavailable is not None:
            self.panel.show_message(f"No findings to compare on this image: {self._reading_unavailable}")
            return
        if before is None and beside.unavailable is not None:
            self.panel.show_message(f"No findings to compare on the image beside: {beside.unavailable}")
            return
        if now is None or before is None:
            self.panel.show_message("Waiting for the findings of both images\N{HORIZONTAL ELLIPSIS}")
            return
        point = self.models.operating_point
        changes = finding_changes(point.apply(before.findings), point.apply(now.findings))
        others = [(self._title(other.image, self._role(other.image), other.session),
                   point.apply(other.session.analysed.findings) if other.session.analysed is not None else None)
                  for other in self.beside[: self.grid.slots - 1] if other is not beside and other.image is not None]
        self.panel.show_changes(self._title(beside.image, self._role(beside.image), beside.session),
                                self._title(self.current, "Now", self.reading), changes, others)

    # -- events -------------------------------------------------------------------------------
    def _each(self, call: Callable[[Beside], None]) -> None:
        for beside in self.beside:
            call(beside)

    def _on_reading_finding(self, label: str) -> None:
        """The heatmap of the finding selected in the panel, on every image."""
        for beside in self.beside:
            if beside.session.analysed is not None and label in beside.session.analysed.findings.labels:
                beside.session.show_finding(label)

    def _on_beside_shown(self, beside: Beside) -> None:
        if self.linked:
            self._carry_view(self.reading.canvas, only=beside.viewport.canvas)
            window = self.reading.canvas.window
            if window is not None:
                self._carry_window(self.reading.canvas, window, only=beside.viewport.canvas)
        self._titles()

    def _on_beside_findings(self, beside: Beside) -> None:
        label = self.reading.selected_label
        analysed = beside.session.analysed
        if label is not None and analysed is not None and label in analysed.findings.labels:
            beside.session.show_finding(label)
        self._refresh()

    def _on_reading_cleared(self) -> None:
        self._reading_unavailable = None
        self._refresh()

    def _on_reading_unavailable(self, reason: str) -> None:
        self._reading_unavailable = reason
        self._refresh()

    def _on_beside_unavailable(self, beside: Beside, reason: str) -> None:
        beside.unavailable = reason
        self._refresh()

    def _on_sensitivity(self, step: int) -> None:
        for beside in self.beside:
            beside.session.set_sensitivity(step)
        self._refresh()

    # -- links --------------------------------------------------------------------------------
    def _connect_canvas(self, canvas: ImageCanvas) -> None:
        canvas.view_changed.connect(lambda c=canvas: self._carry_view(c))
        canvas.window_changed.connect(lambda window, c=canvas: self._carry_window(c, window))

    def _targets(self, source: ImageCanvas, only: ImageCanvas | None) -> list[ImageCanvas]:
        shown = [viewport.canvas for viewport in self.grid.shown()]
        return [c for c in shown if c is not source and c.radiograph is not None and (only is None or c is only)]

    def _carry_view(self, source: ImageCanvas, only: ImageCanvas | None = None) -> None:
        """Zoom and pan of ``source`` onto the other shown viewports, relative to each image."""
        rg = source.radiograph
        if not self.linked or self._linking or rg is None:
            return
        self._linking = True
        try:
            for target in self._targets(source, only):
                t = target.radiograph
                assert t is not None
                link_view(source.view, (rg.width, rg.height), (source.width(), source.height()),
                          target.view, (t.width, t.height), (target.width(), target.height()))
                target.update()
        finally:
            self._linking = False

    def _carry_window(self, source: ImageCanvas, window: Window | None, only: ImageCanvas | None = None) -> None:
        """``source``'s window onto the other shown viewports, relative to each one's default."""
        renderer = source.renderer
        if not self.linked or self._linking or window is None or renderer is None:
            return
        self._linking = True
        try:
            for target in self._targets(source, only):
                other = target.renderer
                if other is None:
                    continue
                linked = link_window(window, renderer.default_window, other.default_window)
                if not (source.previewing or target.previewing) and same_window(target.window, linked):
                    continue  # already so (a new image's default beside another's): no render
                target.set_window(linked, preview=source.previewing)
        finally:
            self._linking = False
