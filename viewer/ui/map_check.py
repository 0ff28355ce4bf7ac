"""View > Check This Map: the deletion test of the finding's heatmap on the image on screen.

``MapCheck`` runs ``viewer.core.map_faithfulness.map_faithfulness`` off the GUI thread, on a
one-thread pool of its own, the way the image session runs the model: the image is prepared
by THE preprocessing (``Predictor.prepare``), the model runs once for the finding's map (float32,
as the sidecar gives it; the map on screen may be the folder analysis's float16 copy of it) and
once more on the image and its 20 copies with pixels removed (one batch where the model takes
batches). A new check, or another image opened, cancels the one under way; a result that
arrives for an image no longer on screen is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal

from viewer.core.errors import CxrError, display_name
from viewer.core.inference import Predictor
from viewer.core.map_faithfulness import Faithfulness, map_faithfulness
from viewer.core.model import RunStopped
from viewer.core.radiograph import Radiograph

from .workers import CancelToken, Worker, reason_of, single_thread_pool


@dataclass(frozen=True)
class MapCheckRequest:
    """What one check is about: the image (its path and the session's generation) and the finding."""

    path: Path
    generation: int
    label: str


class MapCheckEvents(QObject):
    check_finished = Signal(object, object)  # MapCheckRequest, Faithfulness
    check_failed = Signal(object, str)  # MapCheckRequest, reason


class MapCheckJob(Worker):
    """Prepare the image, compute the finding's map and run the deletion test on it."""

    def __init__(self, request: MapCheckRequest, radiograph: Radiograph, predictor: Predictor,
                 events: MapCheckEvents, token: CancelToken) -> None:
        super().__init__(token)
        self.request, self.radiograph, self.predictor, self.events = request, radiograph, predictor, events

    def work(self) -> None:
        if self.token.cancelled:
            return
        predictor, label = self.predictor, self.request.label
        try:
            prepared = predictor.prepare(self.radiograph)
            findings = predictor.predict_prepared(prepared, stop=self.token.run_stop())
            index = findings.labels.index(label)
            model = predictor.model
            result = map_faithfulness(prepared, findings.heatmaps[index], index, findings.labels,
                                      lambda batch: model.classify(batch, self.token.run_stop())[0],
                                      batch=model.batch_limit)
        except RunStopped:
            return
        except CxrError as exc:
            self.events.check_failed.emit(self.request, reason_of(exc))
            return
        if not self.token.cancelled:
            self.events.check_finished.emit(self.request, result)

    def on_crash(self, exc: BaseException) -> None:
        self.events.check_failed.emit(self.request, reason_of(exc))


class MapCheck(QObject):
    """Runs the checks and says their results: ``reported(str)`` carries the line for the status
    bar; ``finished(MapCheckRequest, Faithfulness)`` the result itself (for the findings panel)."""

    reported = Signal(str)
    finished = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = single_thread_pool("map check")
        self._events = MapCheckEvents(self)
        self._events.check_finished.connect(self._on_finished)
        self._events.check_failed.connect(self._on_failed)
        self._token = CancelToken()
        self._current: MapCheckRequest | None = None
        self.last: tuple[MapCheckRequest, Faithfulness] | None = None

    def start(self, request: MapCheckRequest, radiograph: Radiograph, predictor: Predictor) -> None:
        """Check ``request``'s map (any check under way is cancelled)."""
        self.cancel()
        self._current = request
        self.reported.emit(f"Checking the {request.label} map of {display_name(request.path.name)}: removing its "
                           "top pixels and random ones\N{HORIZONTAL ELLIPSIS}")
        self._pool.start(MapCheckJob(request, radiograph, predictor, self._events, self._token))

    def cancel(self) -> None:
        """The image on screen changed: its check is no longer wanted."""
        self._token.cancel()
        self._token = CancelToken()
        self._current = None

    @property
    def running(self) -> bool:
        return self._current is not None

    def _on_finished(self, request: MapCheckRequest, result: Faithfulness) -> None:
        if request != self._current:
            return  # cancelled: another image or finding since
        self._current = None
        self.last = (request, result)
        self.reported.emit(f"{request.label} map of {display_name(request.path.name)}: {result.summary()}")
        self.finished.emit(request, result)

    def _on_failed(self, request: MapCheckRequest, reason: str) -> None:
        if request != self._current:
            return
        self._current = None
        self.reported.emit(f"Could not check the {request.label} map of {display_name(request.path.name)}: {reason}")

    def shutdown(self) -> None:
        """Stop the check (the window is closing) and drop what it sent that is not delivered."""
        self.cancel()
        self._pool.waitForDone()
        QCoreApplication.removePostedEvents(self, QEvent.Type.MetaCall)
