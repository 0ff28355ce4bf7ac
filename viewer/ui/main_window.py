"""The main window: layout, menus, shortcuts, status bar, drag and drop, saved layout.

It builds the widgets and wires them to the three sessions that do the work (model, folder,
image); it reads no files and runs no model itself.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from viewer.core.errors import display_name
from viewer.core.radiograph import Window
from viewer.viewmodel.measurement import CursorInfo, Measurement
from viewer.viewmodel.windowing import WindowPresets

from .browser import StudyBrowser
from .canvas import TOOL_PAN, TOOL_RULER, ImageCanvas
from .errors_panel import ErrorsPanel
from .export import ExportError, footer_lines, save_view_png, write_findings_csv
from .findings_panel import FindingsPanel
from .folder_session import FolderSession
from .image_session import ImageSession
from .model_panel import ModelPanel
from .model_session import ModelSession
from .settings import AppSettings
from .tags_panel import TagsPanel
from .workers import LoadedImage

APP_TITLE = "CXR Viewer"
PROGRESS_HZ = 10  # status-bar progress updates per second
# Images after / before the opened one whose analysis is moved to the front of the queue.
PRIORITY_AHEAD = 30
PRIORITY_BEHIND = 10
IMAGE_FILTER = "Radiographs (*.dcm *.dicom *.dic *.png *.jpg *.jpeg *.tif *.tiff *.bmp);;All files (*)"


class MainWindow(QMainWindow):
    """The viewer window. ``open_path`` opens a folder or file; ``model_path`` (or a reason why
    there is none) decides whether findings are shown."""

    def __init__(self, settings: AppSettings, model_path: Path | None = None,
                 no_model_reason: str | None = None, icon: QIcon | None = None,
                 threads: int | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.setWindowTitle(APP_TITLE)
        self.setObjectName("mainWindow")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.resize(1500, 950)

        # -- widgets --------------------------------------------------------------------------
        self.canvas = ImageCanvas()
        self.banner = QLabel()
        self.banner.setObjectName("oodBanner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel#oodBanner { background: #f0b429; color: #1a1a1a; padding: 6px;"
                                  " font-weight: bold; }")
        self.banner.hide()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.browser = StudyBrowser()
        self.findings = FindingsPanel()
        self.tags = TagsPanel()
        self.errors = ErrorsPanel()
        self.model_panel = ModelPanel()
        self.browser_dock = self._dock("Studies", "browserDock", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.findings_dock = self._dock("Findings", "findingsDock", self.findings, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tags_dock = self._dock("DICOM tags", "tagsDock", self.tags, Qt.DockWidgetArea.RightDockWidgetArea)
        self.model_dock = self._dock("Model", "modelDock", self.model_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.errors_dock = self._dock("Errors", "errorsDock", self.errors, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.tags_dock, self.model_dock)
        self.tags_dock.raise_()
        self.resizeDocks([self.browser_dock, self.findings_dock], [260, 390], Qt.Orientation.Horizontal)
        self.resizeDocks([self.findings_dock, self.tags_dock], [640, 220], Qt.Orientation.Vertical)
        self.resizeDocks([self.errors_dock], [110], Qt.Orientation.Vertical)
        self.errors_dock.hide()  # appears with the first error (and from the status bar button)
        self._errors_seen = 0

        # -- sessions -------------------------------------------------------------------------
        self.models = ModelSession(self)
        self.folder = FolderSession(self.browser, self.errors, self.models, self)
        self.image = ImageSession(self.canvas, self.findings, self.tags, self.banner, self.errors, self.models,
                                  lambda path, w, h: self.folder.boxes.boxes_for(path, w, h), self)
        self.window_presets = WindowPresets()  # of the image on screen

        self._build_status_bar()
        self._build_actions()
        self._connect()
        self._restore_layout()

        if model_path is not None:
            self.model_panel.show_loading(display_name(model_path))
            self.models.load(model_path, threads)
        else:
            self.models.set_unavailable(no_model_reason or "No model was given.")

    # -- construction ---------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState() needs names
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.cursor_label = QLabel()
        self.cursor_label.setObjectName("cursorReadout")
        self.cursor_label.setMinimumWidth(210)
        self.window_label = QLabel()
        self.window_label.setObjectName("windowReadout")
        self.window_label.setMinimumWidth(170)
        self.measure_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setObjectName("progress")
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self._progress_pending: tuple[str, int, int] | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(1000 // PROGRESS_HZ)
        self._progress_timer.timeout.connect(self._show_progress)
        self.errors_button = QPushButton("No errors")
        self.errors_button.setFlat(True)
        self.errors_button.clicked.connect(lambda: (self.errors_dock.show(), self.errors_dock.raise_()))
        for widget in (self.measure_label, self.cursor_label, self.window_label, self.progress, self.errors_button):
            bar.addPermanentWidget(widget)

    def _action(self, text: str, slot, shortcut: str | QKeySequence | list | None = None,  # noqa: ANN001
                checkable: bool = False, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if action.shortcut() else tip)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        c = self.canvas
        self.act_open_folder = self._action("Open &Folder\N{HORIZONTAL ELLIPSIS}", self.choose_folder,
                                            QKeySequence.StandardKey.Open, tip="Open a folder of radiographs")
        self.act_open_file = self._action("Open &File\N{HORIZONTAL ELLIPSIS}", self.choose_file, "Ctrl+Shift+O",
                                          tip="Open one radiograph")
        # lambdas: triggered(bool) would pass its 'checked' to the exports' optional file name
        self.act_export_png = self._action("Export View as &PNG\N{HORIZONTAL ELLIPSIS}", lambda: self.export_png(),
                                           "Ctrl+E", tip="Save the view with its overlays (not for diagnostic use)")
        self.act_export_csv = self._action("Export Folder Findings as &CSV\N{HORIZONTAL ELLIPSIS}",
                                           lambda: self.export_csv(), "Ctrl+Shift+E",
                                           tip="Save the findings of every analysed image")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.act_fit = self._action("&Fit", c.fit, ["Ctrl+0", "Home"], tip="Fit the image to the window")
        self.act_actual = self._action("&1:1", c.actual_size, "Ctrl+1", tip="One image pixel per screen pixel")
        self.act_zoom_in = self._action("Zoom &In", lambda: c.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = self._action("Zoom &Out", lambda: c.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self.act_rotate = self._action("Rotate &Right", lambda: c.rotate(True), "R", tip="Rotate 90\N{DEGREE SIGN} clockwise")
        self.act_rotate_left = self._action("Rotate &Left", lambda: c.rotate(False), "Shift+R")
        self.act_flip_h = self._action("Flip &Horizontal", lambda: c.flip(True), "X", tip="Mirror left-right")
        self.act_flip_v = self._action("Flip &Vertical", lambda: c.flip(False), "Y", tip="Mirror top-bottom")
        self.act_invert = self._action("&Invert", c.set_invert, "I", checkable=True, tip="Invert grey levels")
        self.act_reset = self._action("&Reset View", self._reset_view, "Ctrl+R",
                                      tip="Default window, no rotation, flip or inversion, fitted")
        self.act_ruler = self._action("&Ruler", self._set_ruler, "M", checkable=True,
                                      tip="Measure a distance by dragging (or Shift+drag)")
        self.act_clear_ruler = self._action("Clear Measurement", c.clear_measurement, "Esc")

        self.act_next = self._action("&Next Image", lambda: self.browser.step(1), ["PgDown", "J"],
                                     tip="Next image in the browser")
        self.act_prev = self._action("&Previous Image", lambda: self.browser.step(-1), ["PgUp", "K"],
                                     tip="Previous image in the browser")
        self.act_next_finding = self._action("Next Finding", lambda: self.findings.step(1), ["F", "]"],
                                             tip="Show the heatmap of the next finding")
        self.act_prev_finding = self._action("Previous Finding", lambda: self.findings.step(-1), ["Shift+F", "["],
                                             tip="Show the heatmap of the previous finding")
        self.act_heatmap = self._action("&Heatmap", self.findings.show_heatmap.setChecked, "H", checkable=True,
                                        tip="Show or hide the heatmap")
        self.act_heatmap.setChecked(True)

        self.presets = QComboBox()
        self.presets.setObjectName("windowPresets")
        self.presets.setToolTip("Window presets: from the header, and lung / soft tissue / bone "
                                "chosen from this image's densities (keys 1-5)")
        self.presets.setMinimumContentsLength(16)
        self.presets.activated.connect(self._on_preset_chosen)
        self.preset_actions = [
            self._action(f"Preset {i}", lambda _=False, i=i: self.apply_preset(i - 1), str(i)) for i in range(1, 6)
        ]

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.act_open_folder, self.act_open_file])
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([self.act_export_png, self.act_export_csv])
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([self.act_fit, self.act_actual, self.act_zoom_in, self.act_zoom_out])
        view_menu.addSeparator()
        view_menu.addActions([self.act_rotate, self.act_rotate_left, self.act_flip_h, self.act_flip_v,
                              self.act_invert, self.act_reset])
        view_menu.addSeparator()
        view_menu.addActions([self.act_ruler, self.act_clear_ruler, self.act_heatmap])
        view_menu.addSeparator()
        for dock in (self.browser_dock, self.findings_dock, self.tags_dock, self.model_dock, self.errors_dock):
            view_menu.addAction(dock.toggleViewAction())
        go_menu = self.menuBar().addMenu("&Go")
        go_menu.addActions([self.act_next, self.act_prev, self.act_next_finding, self.act_prev_finding])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard and Mouse", self._show_help, "F1"))

        toolbar = QToolBar("Tools", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setIconSize(QSize(16, 16))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.act_open_folder, self.act_open_file])
        toolbar.addSeparator()
        toolbar.addActions([self.act_prev, self.act_next])
        toolbar.addSeparator()
        toolbar.addActions([self.act_fit, self.act_actual, self.act_rotate, self.act_flip_h, self.act_invert,
                            self.act_reset])
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Window "))
        toolbar.addWidget(self.presets)
        toolbar.addSeparator()
        toolbar.addActions([self.act_ruler, self.act_heatmap])
        toolbar.addSeparator()
        toolbar.addAction(self.act_export_png)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self._rebuild_recent_menu()

    def _connect(self) -> None:
        self.browser.image_activated.connect(self.image.open)
        self.browser.image_activated.connect(self._analyse_around)
        self.image.image_shown.connect(self._record_shown)
        self.image.findings_shown.connect(self._record_findings)
        self.folder.first_image_found.connect(self._on_first_image)
        self.folder.progressed.connect(self._on_progress)
        self.folder.scan_done.connect(self._on_scan_done)
        self.folder.analysis_done.connect(self._on_analysis_done)
        self.models.model_ready.connect(self._on_model_ready)
        self.models.model_unavailable.connect(self._on_model_unavailable)
        self.canvas.cursor_moved.connect(self._on_cursor)
        self.canvas.window_changed.connect(self._on_window_changed)
        self.canvas.measurement_changed.connect(self._on_measurement)
        self.image.image_shown.connect(self._on_image_shown)
        self.image.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.findings.heatmap_toggled.connect(self.act_heatmap.setChecked)
        self.image.findings_shown.connect(lambda _a: self._set_findings_actions(True))
        self.image.findings_unavailable.connect(lambda _r: self._set_findings_actions(False))
        self.image.image_shown.connect(lambda _l: self._set_findings_actions(False))
        self.findings.sensitivity_changed.connect(lambda _step: self.folder.refresh_summaries())
        self.errors.errors_changed.connect(self._on_errors_changed)

    # -- opening ----------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Open a folder (scanned into the browser) or a single file."""
        path = Path(path)
        if not path.exists():
            self.errors.add_error(display_name(path), "no such file or folder")
            self.statusBar().showMessage(f"{display_name(path)}: no such file or folder", 8000)
            return
        self.setWindowTitle(f"{APP_TITLE} \N{EM DASH} {display_name(path.name or path)}")
        if path.is_dir():
            self.settings.add_recent_folder(path)
            self._rebuild_recent_menu()
        self.image.clear(f"Scanning {display_name(path.name or path)}\N{HORIZONTAL ELLIPSIS}")
        self.folder.open(path)

    def choose_folder(self) -> None:
        start = str(self.settings.recent_folders()[0]) if self.settings.recent_folders() else ""
        folder = QFileDialog.getExistingDirectory(self, "Open Folder", start)
        if folder:
            self.open_path(Path(folder))

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open File", "", IMAGE_FILTER)
        if name:
            self.open_path(Path(name))

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.settings.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(display_name(folder))
            action.triggered.connect(lambda _=False, f=folder: self.open_path(f))
        if folders:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self._clear_recent)
        self.recent_menu.setEnabled(bool(folders))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_folders()
        self._rebuild_recent_menu()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
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
        for label, window in zip(self.window_presets.labels(), self.window_presets.windows):
            self.presets.addItem(label, window)
        self.act_invert.setChecked(False)

    def apply_preset(self, index: int) -> None:
        """Apply the window preset at ``index`` of the presets list (keys 1-5)."""
        window = self.window_presets.at(index)
        if window is not None:
            self.presets.setCurrentIndex(index)
            self.canvas.set_window(window)

    def _on_preset_chosen(self, index: int) -> None:
        self.apply_preset(index)

    def _reset_view(self) -> None:
        self.act_invert.setChecked(False)
        self.canvas.reset_view()
        if self.presets.count():
            self.presets.setCurrentIndex(0)

    def _analyse_around(self, image) -> None:  # noqa: ANN001
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

    def _record_findings(self, analysed) -> None:  # noqa: ANN001
        loaded = self.image.loaded
        if self.image.scanned is not None and loaded is not None and loaded.path == analysed.path:
            self.folder.record(self.image.scanned, loaded.thumbnail, analysed.findings)

    def _set_findings_actions(self, enabled: bool) -> None:
        for action in (self.act_heatmap, self.act_next_finding, self.act_prev_finding):
            action.setEnabled(enabled)

    def _set_ruler(self, on: bool) -> None:
        self.canvas.tool = TOOL_RULER if on else TOOL_PAN

    # -- status -----------------------------------------------------------------------------------
    def _on_cursor(self, info: CursorInfo | None) -> None:
        if info is None:
            self.cursor_label.setText("")
            return
        value = f"{info.value:.0f}" if float(info.value).is_integer() else f"{info.value:.4g}"
        self.cursor_label.setText(f"x {info.x}, y {info.y}: {value}")

    def _on_window_changed(self, window: Window) -> None:
        self.window_label.setText(f"W {window.width:.6g}  L {window.center:.6g}")

    def _on_measurement(self, measurement: Measurement | None) -> None:
        self.measure_label.setText(f"Ruler: {measurement.text}" if measurement else "")

    def _on_progress(self, task: str, done: int, total: int) -> None:
        # QProgressBar.setValue repaints at once (synchronously, with whatever else of the window
        # is dirty): at one call per analysed file that kept the GUI thread busy. The latest
        # value is shown at most PROGRESS_HZ times a second instead.
        self._progress_pending = (task, done, total)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        if self._progress_pending is None:
            return
        task, done, total = self._progress_pending
        self._progress_pending = None
        self.progress.show()
        if total <= 0:
            self.progress.setRange(0, 0)  # busy: the folder is still being listed
            self.progress.setFormat(f"{task}\N{HORIZONTAL ELLIPSIS}")
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress.setFormat(f"{task} {done}/{total}")

    def _on_scan_done(self, count: int) -> None:
        self.statusBar().showMessage(f"Found {count} image(s).", 5000)
        if count == 0:
            self.canvas.clear("No images in this folder.\nSee the Errors panel for files that could not be read.")
            self.progress.hide()

    def _on_analysis_done(self) -> None:
        self._progress_pending = None
        self._progress_timer.stop()
        self.progress.hide()

    def _on_errors_changed(self, count: int) -> None:
        if count and not self._errors_seen:
            self.errors_dock.show()  # non-blocking: the panel appears, nothing takes the focus
        self._errors_seen = count
        self.errors_button.setText(f"{count} error(s)" if count else "No errors")
        self.errors_button.setStyleSheet("color: #dc3c32; font-weight: bold;" if count else "")

    def _on_first_image(self, image) -> None:  # noqa: ANN001
        if self.browser.current_image() is None:
            self.browser.select_path(image.path)

    def _on_model_ready(self, predictor) -> None:  # noqa: ANN001
        self.model_panel.show_card(predictor.card)
        self.statusBar().showMessage(f"Model {predictor.card.name} ready.", 5000)

    def _on_model_unavailable(self, reason: str) -> None:
        self.model_panel.show_unavailable(reason)
        self.statusBar().showMessage(f"No model: {reason}", 10000)

    # -- export -----------------------------------------------------------------------------------
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
        if out is None:
            name, _ = QFileDialog.getSaveFileName(self, "Export View as PNG", "view.png", "PNG image (*.png)")
            if not name:
                return None
            out = Path(name)
        try:
            written = save_view_png(self.canvas, self.export_footer(), Path(out))
        except ExportError as exc:
            self.errors.add_error(display_name(out), str(exc))
            self.statusBar().showMessage(str(exc), 8000)
            return None
        self.statusBar().showMessage(f"Saved {display_name(written)}", 5000)
        return written

    def export_csv(self, out: Path | None = None) -> Path | None:
        predictor = self.models.predictor
        if predictor is None:
            self.statusBar().showMessage("No model: there are no findings to export.", 8000)
            return None
        if out is None:
            name, _ = QFileDialog.getSaveFileName(self, "Export Folder Findings", "findings.csv", "CSV (*.csv)")
            if not name:
                return None
            out = Path(name)
        rows = [self.folder.rows[i.path] for i in self.folder.images if i.path in self.folder.rows]
        try:
            count = write_findings_csv(Path(out), rows, tuple(predictor.labels),
                                       self.models.operating_point.thresholds_for)
        except ExportError as exc:
            self.errors.add_error(display_name(out), str(exc))
            return None
        pending = len(self.folder.images) - count
        more = f" ({pending} not analysed yet)" if pending else ""
        self.statusBar().showMessage(f"Wrote {count} rows to {display_name(out)}{more}", 8000)
        return Path(out)

    # -- layout -----------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.folder.shutdown()
        self.image.shutdown()
        self.models.wait()  # a model still opening would report to a deleted window
        super().closeEvent(event)

    def _show_help(self) -> None:
        QMessageBox.information(self, "Keyboard and mouse", HELP_TEXT)


HELP_TEXT = """Mouse on the image:
  wheel: zoom around the cursor; left-drag: pan; double-click: fit
  right-drag or Ctrl+left-drag: window (left/right) and level (up/down)
  Shift+left-drag, or the Ruler tool (M): measure a distance (mm when the pixel spacing is known)

Keys:
  PgDown / J, PgUp / K: next / previous image
  F or ], Shift+F or [: next / previous finding (its heatmap)
  H: heatmap on/off    1-5: window presets    I: invert    R / Shift+R: rotate
  X / Y: flip    Ctrl+0 / Home: fit    Ctrl+1: 1:1    Ctrl+R: reset    Esc: clear the ruler

Not for diagnostic use."""
