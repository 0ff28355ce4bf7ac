"""The main window: it builds the widgets and wires them to the three sessions that do the work.

The sessions (model, folder, image) read files and run the model; the window reads no file and
runs no model itself. Its other jobs are mixins, a module each: the docks and saved layout
(``window_layout``), the actions, menus and toolbar (``window_actions``), the canvas's commands
(``window_canvas``), the measurements and annotations kept across sessions
(``window_annotations``), the status bar (``window_status``) and the exports
(``window_exports``). Here: construction, opening (dialogs, drag and drop), the window presets of
the image on screen, and the glue between sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow

from viewer.core.errors import display_name
from viewer.core.inference import Predictor
from viewer.core.scan import ScannedImage
from viewer.viewmodel.windowing import WindowPresets

from .browser import StudyBrowser
from .canvas import ImageCanvas
from .comparison_session import ComparisonSession
from .display_preferences import DisplayPreferences
from .errors_panel import ErrorsPanel
from .findings_panel import FindingsPanel
from .folder_session import FolderSession
from .image_session import ImageSession
from .model_panel import ModelPanel
from .model_session import ModelSession
from .plain_text import elide, tooltip
from .settings import AppSettings
from .tags_panel import TagsPanel
from .window_actions import WindowActionsMixin
from .window_annotations import WindowAnnotationsMixin
from .window_canvas import WindowCanvasMixin
from .window_compare import WindowCompareMixin
from .window_exports import WindowExportsMixin
from .window_layout import WindowLayoutMixin
from .window_map_check import WindowMapCheckMixin
from .window_stack import WindowStackMixin
from .window_status import WindowStatusMixin
from .workers import AnalysedImage, LoadedImage

APP_TITLE = "CXR Viewer"
# Images after / before the opened one whose analysis is moved to the front of the queue.
PRIORITY_AHEAD = 30
PRIORITY_BEHIND = 10
IMAGE_FILTER = "Radiographs (*.dcm *.dicom *.dic *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)"


class MainWindow(WindowActionsMixin, WindowCanvasMixin, WindowAnnotationsMixin, WindowCompareMixin, WindowStackMixin,
                 WindowMapCheckMixin, WindowStatusMixin, WindowExportsMixin, WindowLayoutMixin, QMainWindow):
    """The viewer window. ``open_path`` opens a folder or file; ``model_path`` (or a reason why
    there is none) decides whether findings are shown; ``follow_links``: the folder scans also
    follow links to folders outside the opened folder."""

    def __init__(self, settings: AppSettings, model_path: Path | None = None,
                 no_model_reason: str | None = None, icon: QIcon | None = None,
                 threads: int | None = None, *, follow_links: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.setWindowTitle(APP_TITLE)
        self._opened_name = ""
        self.setObjectName("mainWindow")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.resize(1500, 950)

        self.canvas = ImageCanvas()
        self.browser = StudyBrowser()
        self.findings = FindingsPanel()
        self.tags = TagsPanel()
        self.errors = ErrorsPanel()
        self.model_panel = ModelPanel()
        self._build_layout()
        self.window_presets = WindowPresets()  # of the image on screen
        self._build_annotations()  # before the viewports' sessions, which it gives their shapes

        self.models = ModelSession(self)
        self.folder = FolderSession(self.browser, self.errors, self.models, self, follow_links=follow_links)
        # The folder's box tables change with the folder: look them up through it each time.
        self.image = self._image_session(self.canvas, self.banner, self.findings, self.tags,
                                         next_of=self.browser.image_after)
        self.annotations.attach(self.canvas, self.image)
        # the viewports beside the reading one: priors, the other view
        self.comparison = ComparisonSession(self.viewport_grid, self.image, self._beside_session,
                                            self.comparison_panel, settings, self.models, self.browser.patient_images,
                                            scrub=lambda text: self.folder.scrubber.scrub(text), parent=self)

        self._build_status_bar()
        self._build_actions()
        self._build_compare_actions()
        self._build_map_check_actions()  # after the compare actions: right under View > Heatmap
        self._build_stack_actions()
        self._connect()
        self._restore_layout()
        self.display_preferences = DisplayPreferences(settings, self.findings, self.browser, self.models, self)

        if model_path is not None:
            self.model_panel.show_loading(display_name(model_path))
            self.models.load(model_path, threads)
        else:
            self.models.set_unavailable(no_model_reason or "No model was given.")

    def _image_session(self, canvas: ImageCanvas, banner: QLabel, findings: FindingsPanel, tags: TagsPanel,
                       next_of: Callable[[ScannedImage], ScannedImage | None] = lambda _image: None) -> ImageSession:
        """An image session of a viewport, reading the open folder's boxes, findings and identities."""
        return ImageSession(canvas, findings, tags, banner, self.errors, self.models,
                            lambda path, w, h: self.folder.boxes.boxes_for(path, w, h), self,
                            scrub=lambda text: self.folder.scrubber.scrub(text),
                            series_of=self.browser.series_members,
                            analysed_for=lambda path: self.folder.findings_for(path), next_of=next_of)

    def _beside_session(self, canvas: ImageCanvas, banner: QLabel) -> ImageSession:
        """The image session of a viewport beside the reading one: its findings and tags panels
        are never shown (the Comparison panel shows its findings); it prepares nothing ahead."""
        findings, tags = FindingsPanel(canvas), TagsPanel(canvas)
        findings.hide()
        tags.hide()
        session = self._image_session(canvas, banner, findings, tags)
        self.annotations.attach(canvas, session)
        session.findings_shown.connect(lambda analysed, s=session: self._record_findings(analysed, s))
        canvas.step_requested.connect(lambda delta: (self.act_next if delta > 0 else self.act_prev).trigger())
        canvas.stack_step_requested.connect(lambda delta: self.step_stack(delta))
        return session

    def _connect(self) -> None:
        self.browser.image_activated.connect(self.image.open)
        self.browser.image_activated.connect(self.comparison.open)
        self.comparison.status_message.connect(self.show_message)
        self.folder.images_found.connect(self.comparison.images_added)
        self.comparison.layout_changed.connect(self._on_layout_changed)
        self.browser.image_activated.connect(self._analyse_around)
        self.image.image_shown.connect(self._record_shown)
        self.image.findings_shown.connect(self._record_findings)
        self.folder.first_image_found.connect(self._on_first_image)
        self.folder.progressed.connect(self._on_progress)
        self.folder.scan_done.connect(self._on_scan_done)
        self.folder.identities_learned.connect(self._update_title)
        self.folder.analysis_done.connect(self._on_analysis_done)
        # the image the user waits for has the cores; the folder analysis takes what is left
        self.image.waiting_for_model.connect(self.folder.give_way)
        self.models.model_ready.connect(self._on_model_ready)
        self.models.model_unavailable.connect(self._on_model_unavailable)
        self.canvas.cursor_moved.connect(self._on_cursor)
        self.canvas.window_changed.connect(self._on_window_changed)
        self._connect_annotations(self.canvas)
        self.image.image_shown.connect(self._on_image_shown)
        self.image.status_message.connect(self.show_message)
        self.findings.heatmap_toggled.connect(self.act_heatmap.setChecked)
        self.image.findings_shown.connect(lambda _a: self._set_findings_actions(True))
        self.image.findings_unavailable.connect(lambda _r: self._set_findings_actions(False))
        self.image.image_shown.connect(lambda _l: self._set_findings_actions(False))
        # The image session moved the operating point first (it connected first): re-flag the folder.
        self.findings.sensitivity_changed.connect(lambda _step: self.folder.refresh_summaries())
        self.errors.errors_changed.connect(self._on_errors_changed)
        self._connect_exports()

    # -- opening ----------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Open a folder (scanned into the browser) or a single file."""
        path = Path(path)
        if not path.exists():
            self.errors.add_error(display_name(path), "no such file or folder")
            self.show_message(f"{display_name(path)}: no such file or folder")
            return
        if path.is_dir():
            self.settings.add_recent_folder(path)
            self._rebuild_recent_menu()
        self.folder.open(path)
        self._opened_name = display_name(path.name or path)
        self._update_title()
        shown = elide(self.folder.scrubber.scrub(self._opened_name))
        self.image.clear(f"Scanning {shown}\N{HORIZONTAL ELLIPSIS}")
        self.comparison.clear()

    def _update_title(self) -> None:
        """The window's title: the open folder's name, without the identities its headers hold
        (a PACS export names the patient's folder after the patient)."""
        if self._opened_name:
            shown = elide(self.folder.scrubber.scrub(self._opened_name))
            self.setWindowTitle(f"{APP_TITLE} \N{EM DASH} {shown}")

    def choose_folder(self) -> None:
        """Ask for a folder and open it."""
        start = str(self.settings.recent_folders()[0]) if self.settings.recent_folders() else ""
        folder = QFileDialog.getExistingDirectory(self, "Open Folder", start)
        if folder:
            self.open_path(Path(folder))

    def choose_file(self) -> None:
        """Ask for one radiograph and open it."""
        name, _ = QFileDialog.getOpenFileName(self, "Open File", "", IMAGE_FILTER)
        if name:
            self.open_path(Path(name))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    # -- window presets -------------------------------------------------------------------------
    def _on_image_shown(self, loaded: LoadedImage) -> None:
        renderer = loaded.renderer
        self.window_presets = WindowPresets.for_image(loaded.radiograph.windows, renderer.default_window,
                                                      renderer.percentiles, renderer.value_min, renderer.value_max)
        self.presets.clear()
        for label, window in zip(self.window_presets.labels(), self.window_presets.windows, strict=True):
            # a header window's label holds its explanation, which is the file's text
            self.presets.addItem(elide(label), window)
            if elide(label) != label:
                self.presets.setItemData(self.presets.count() - 1, tooltip(label), Qt.ItemDataRole.ToolTipRole)
        self.act_invert.setChecked(False)
        self._on_window_changed(self.canvas.window)  # the list names the window on screen

    def apply_preset(self, index: int) -> None:
        """Apply the window preset at ``index`` of the presets list (keys 1-5)."""
        window = self.window_presets.at(index)
        if window is not None:
            self.presets.setCurrentIndex(index)
            self.canvas.set_window(window)

    def reset_view(self) -> None:
        """Default window, no rotation, flip or inversion, fitted."""
        self.act_invert.setChecked(False)
        self.canvas.reset_view()
        if self.presets.count():
            self.presets.setCurrentIndex(0)

    # -- between the sessions ---------------------------------------------------------------------
    def _analyse_around(self, image: ScannedImage) -> None:
        """The images around the opened one (most of them after it, where the user is going)
        get their thumbnails and findings first; the opened one is analysed by the image
        session and recorded from there."""
        order = [i.path for i in self.browser.visible_images()]
        if image.path in order:
            at = order.index(image.path)
            after = order[at + 1: at + 1 + PRIORITY_AHEAD]
            before = order[max(0, at - PRIORITY_BEHIND): at][::-1]
            self.folder.prioritize(after[:PRIORITY_BEHIND] + before + after[PRIORITY_BEHIND:])

    def _record_shown(self, loaded: LoadedImage) -> None:
        if self.image.scanned is not None and self.models.predictor is None and self.models.decided:
            self.folder.record(self.image.scanned, loaded.thumbnail, None)

    def _record_findings(self, analysed: AnalysedImage, session: ImageSession | None = None) -> None:
        session = session if session is not None else self.image
        loaded = session.loaded
        if session.scanned is not None and loaded is not None and loaded.path == analysed.path:
            self.folder.record(session.scanned, loaded.thumbnail, analysed.findings)

    def _on_first_image(self, image: ScannedImage) -> None:
        if self.browser.current_image() is None:
            self.browser.select_path(image.path)

    def _on_layout_changed(self, name: str) -> None:
        """The Comparison panel comes with a layout of several viewports and goes with one."""
        several = name != "1x1"
        if several != self.comparison_dock.isVisible() and not self.reading_mode.active:
            self.comparison_dock.setVisible(several)

    def _on_model_ready(self, predictor: Predictor) -> None:
        self.model_panel.show_card(predictor.card)
        self.show_message(f"Model {predictor.card.name} ready.", 5000)

    def _on_model_unavailable(self, reason: str) -> None:
        self.model_panel.show_unavailable(reason)
        self.show_message(f"No model: {reason}", 10000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_layout()
        self.folder.shutdown()
        self.image.shutdown()
        self.map_check.shutdown()
        self.comparison.shutdown()
        self.models.wait()  # a model still opening would report to a deleted window
        self.annotations.close()
        super().closeEvent(event)
