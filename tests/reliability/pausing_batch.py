"""``cxr-viewer batch`` that stops after its N-th row: how the interruption tests reach their moment.

    python -m tests.reliability.pausing_batch N batch FOLDER --out OUT [ARGS...]

runs ``cxr-viewer batch ...`` (``viewer.__main__.main``) in this process with the predictions
writer's two row methods wrapped, so that right after the N-th row this process writes, it
leaves ``OUT.paused`` beside the output and waits until that file is removed (at most
``PAUSE_SECONDS``): the test sends its signal meanwhile and then removes the marker, or kills
the process. Nothing is flushed here: what is on disk at the pause is what the batch itself
put there. The batch has no test hook of its own: only this process's writer is wrapped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from viewer.core.predictions_csv import PredictionsWriter

PAUSE_SECONDS = 600  # the test signals or kills the process long before


def pause_after_row(nth: int, marker: Path) -> None:
    """Wrap ``write_findings`` and ``write_error`` so that the ``nth`` row pauses the process."""
    written = 0

    def pausing(method: Any) -> Any:
        def write(self: PredictionsWriter, *args: Any, **kwargs: Any) -> None:
            nonlocal written
            method(self, *args, **kwargs)
            written += 1
            if written == nth:
                marker.write_text("paused")
                waited = 0.0
                while marker.exists() and waited < PAUSE_SECONDS:
                    time.sleep(0.01)  # short sleeps: a signal's handler runs between them
                    waited += 0.01

        return write

    PredictionsWriter.write_findings = pausing(PredictionsWriter.write_findings)  # type: ignore[method-assign]
    PredictionsWriter.write_error = pausing(PredictionsWriter.write_error)  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """``N`` then the ``cxr-viewer`` arguments (``batch ... --out OUT ...``); its exit status."""
    out = Path(argv[argv.index("--out") + 1])
    pause_after_row(int(argv[0]), out.with_name(out.name + ".paused"))
    from viewer.__main__ import main as cxr_viewer

    return cxr_viewer(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
