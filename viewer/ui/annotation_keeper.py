"""The window's measurements and annotations across images and sessions: one store, each image's shapes.

One ``AnnotationStore`` per window (SQLite in the user's data folder, never the image's folder).
When a canvas shows an image, the image frame's shapes are read from the store (the first time
this session; the ``EditHistory`` is kept in memory after that, so undo still works after a visit
to another image) and handed to the canvas with the image's calibration. When the canvas says a
change is complete (``shapes_edited``: a release, a delete, an undo; never a mouse move) the
frame's list is saved, in one transaction. The key comes with the image from the decoding thread
(``LoadedImage.annotation_key``): what the image is, so a moved or copied folder keeps them.

A store that cannot be opened, read or written is one line in the errors panel naming the file
and the reason; the viewer then goes on with the shapes in memory, for the session only. The
panel lists an opened folder's problems and is emptied with each folder: a store that could not
be opened is said again with the next image shown (once: the panel lists a line once).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from viewer.core.annotation_store import AnnotationStore, AnnotationStoreError
from viewer.core.errors import display_name
from viewer.core.measure_spacing import usable_mm
from viewer.viewmodel.edit_history import EditHistory
from viewer.viewmodel.shapes import Shape, shapes_from_dicts

from .canvas import ImageCanvas
from .errors_panel import ErrorsPanel
from .image_session import ImageSession
from .workers import LoadedImage

Frame = tuple[str, int]  # (image key, frame index)
UNKEYED = "session:"  # an image without a key: its shapes are kept in memory only, by path


class AnnotationKeeper(QObject):
    """The shapes of every image the window's canvases show, loaded from and saved to the store
    at ``path`` (None: kept in memory only). Problems go to ``errors``."""

    def __init__(self, path: Path | None, errors: ErrorsPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.errors = errors
        self.path = path
        self.store: AnnotationStore | None = None
        self._histories: dict[Frame, EditHistory] = {}
        self._calibrations: dict[str, float | None] = {}
        self._shown: dict[ImageCanvas, Frame] = {}  # what each canvas shows
        self._standing: tuple[str, str] | None = None  # the store's problem while the window lasts
        if path is not None:
            try:
                self.store = AnnotationStore(path)
            except AnnotationStoreError as exc:
                self._standing = (display_name(exc.path), f"annotations: {exc.reason}")
            else:
                if self.store.read_only:
                    self._standing = (display_name(path), self.store.read_only_reason)
        if self._standing is not None:
            self.errors.add_error(*self._standing)

    def attach(self, canvas: ImageCanvas, session: ImageSession) -> None:
        """Give ``canvas`` the shapes of each image ``session`` shows, and keep its changes."""
        session.image_shown.connect(lambda loaded, c=canvas: self.show(c, loaded))
        canvas.shapes_edited.connect(lambda c=canvas: self.save(c))
        canvas.destroyed.connect(lambda _=None, c=canvas: self._shown.pop(c, None))

    def key_of(self, canvas: ImageCanvas) -> Frame | None:
        """The (image key, frame) ``canvas`` shows, or None."""
        return self._shown.get(canvas)

    def show(self, canvas: ImageCanvas, loaded: LoadedImage) -> None:
        """Hand ``canvas`` the shapes of ``loaded`` (on the canvas now) and its calibration."""
        if self._standing is not None:
            self.errors.add_error(*self._standing)
        rg = loaded.radiograph
        key = loaded.annotation_key or f"{UNKEYED}{loaded.path}"
        frame = (key, rg.frame_index)
        history = self._histories.get(frame)
        if history is None:
            history = self._histories[frame] = EditHistory(self._load(frame))
        self._shown[canvas] = frame
        canvas.set_annotations(history, self.calibration(key))

    def save(self, canvas: ImageCanvas) -> None:
        """Keep the shapes ``canvas`` shows (a change to them is complete)."""
        frame = self._shown.get(canvas)
        if frame is None:
            return
        for other, shown in self._shown.items():  # the same image in another viewport
            if other is not canvas and shown == frame:
                other.select_measurement(other.selected_measurement)
        if self._storable(frame[0]):
            assert self.store is not None
            try:
                self.store.save(frame[0], frame[1], self._histories[frame].to_dicts())
            except (AnnotationStoreError, ValueError) as exc:
                self._report(exc)

    def calibration(self, key: str) -> float | None:
        """The mm per pixel the user calibrated image ``key`` with (None: none)."""
        if key not in self._calibrations:
            value = None
            if self._storable(key, writing=False):
                assert self.store is not None
                try:
                    value = self.store.calibration(key)
                except AnnotationStoreError as exc:
                    self._report(exc)
            self._calibrations[key] = value if value is not None and usable_mm(value) else None
        return self._calibrations[key]

    def calibrate(self, canvas: ImageCanvas, mm_per_pixel: float | None) -> None:
        """Measure the image on ``canvas`` (in every viewport showing it) with ``mm_per_pixel``,
        kept for the image; None forgets the calibration."""
        frame = self._shown.get(canvas)
        if frame is None:
            return
        key = frame[0]
        self._calibrations[key] = mm_per_pixel
        for other, shown in self._shown.items():
            if shown[0] == key:
                other.set_calibration(mm_per_pixel)
        if self._storable(key):
            assert self.store is not None
            try:
                self.store.set_calibration(key, mm_per_pixel)
            except (AnnotationStoreError, ValueError) as exc:
                self._report(exc)

    def close(self) -> None:
        """Close the store (the window is closing)."""
        if self.store is not None:
            self.store.close()
            self.store = None

    def _load(self, frame: Frame) -> list[Shape]:
        """The stored shapes of ``frame`` (none when there is no store, or it cannot be read)."""
        if not self._storable(frame[0], writing=False):
            return []
        assert self.store is not None
        try:
            shapes, problems = shapes_from_dicts(self.store.load(*frame))
        except AnnotationStoreError as exc:
            self._report(exc)
            return []
        for problem in problems:
            self.errors.add_error(display_name(self.store.path), problem)
        return shapes

    def _storable(self, key: str, *, writing: bool = True) -> bool:
        return (self.store is not None and not key.startswith(UNKEYED)
                and not (writing and self.store.read_only))

    def _report(self, exc: AnnotationStoreError | ValueError) -> None:
        if isinstance(exc, AnnotationStoreError):
            self.errors.add_error(display_name(exc.path), f"annotations: {exc.reason}")
        elif self.path is not None:
            self.errors.add_error(display_name(self.path), f"annotations not saved: {exc}")
