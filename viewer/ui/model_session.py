"""Which model the viewer runs, opened off the GUI thread; or why there is none.

It also holds the window's operating point (``viewer.viewmodel.operating_point``): the point
moves that model's card thresholds, so its card is set here before anyone hears of the model.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from viewer.core.inference import Predictor
from viewer.viewmodel.operating_point import OperatingPoint

from .workers import ModelEvents, ModelJob, single_thread_pool


class ModelState(Enum):
    NONE = "none"
    LOADING = "loading"
    READY = "ready"
    UNAVAILABLE = "unavailable"


class ModelSession(QObject):
    """Holds the ``Predictor`` once it is open.

    Events: ``model_loading(str)``, ``model_ready(Predictor)``, ``model_unavailable(str)``
    (the reason, for the model panel and status bar; the viewer stays a plain viewer).
    """

    model_loading = Signal(str)
    model_ready = Signal(object)
    model_unavailable = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = single_thread_pool("model")
        self._events = ModelEvents(self)
        self._events.model_loaded.connect(self._on_loaded)
        self._events.model_failed.connect(self._on_failed)
        self.state = ModelState.NONE
        self.predictor: Predictor | None = None
        self.operating_point = OperatingPoint()
        self.reason = ""
        self.path: Path | None = None

    @property
    def decided(self) -> bool:
        """True once the model is ready or known to be unavailable."""
        return self.state in (ModelState.READY, ModelState.UNAVAILABLE)

    def load(self, model_path: Path, threads: int | None = None) -> None:
        """Open ``model_path`` (and its Grad-CAM sidecar) in a worker; ``threads`` is ONNX
        Runtime's thread count (None: all cores)."""
        self.path = model_path
        self.state = ModelState.LOADING
        self.predictor = None
        self.operating_point.card = None
        self.model_loading.emit(str(model_path))
        self._pool.start(ModelJob(model_path, self._events, lambda p: Predictor(p, threads)))

    def set_unavailable(self, reason: str) -> None:
        """No model to open at all (none given, no bundled demo model)."""
        self._on_failed("", reason)

    def wait(self, msecs: int = -1) -> bool:
        """Block until the model job is done (for the command line and tests only)."""
        return self._pool.waitForDone(msecs)

    def _on_loaded(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.operating_point.card = predictor.card
        self.state = ModelState.READY
        self.reason = ""
        self.model_ready.emit(predictor)

    def _on_failed(self, _path: str, reason: str) -> None:
        self.predictor = None
        self.operating_point.card = None
        self.state = ModelState.UNAVAILABLE
        self.reason = reason
        self.model_unavailable.emit(reason)
