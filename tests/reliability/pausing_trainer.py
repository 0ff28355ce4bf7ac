"""``cxr-train`` with one checkpoint write stopped half-way: how the kill test reaches its moment.

    python -m tests.reliability.pausing_trainer NAME:N train ARGS...

runs ``cxr-train train ARGS...`` (``trainer.cli.main``) in this process with ``torch.save``
wrapped, so that the N-th write of the checkpoint file ``NAME`` (which the trainer writes into
``NAME.tmp`` and then renames) stops after its first records, flushed to disk, leaves
``NAME.tmp.paused`` beside it and sleeps, for the test to kill the process at that moment.
The trainer has no test hook of its own: only this process's ``torch.save`` is replaced.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

PAUSE_SECONDS = 600  # the test kills the process long before


class PausingFile:
    """A writable file that stops the process after its second write (the zip header and the
    first record are out, the rest is not)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.calls = 0

    def write(self, data: bytes) -> int:
        written = self.handle.write(data)
        self.calls += 1
        if self.calls == 2:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            Path(self.handle.name + ".paused").write_text(str(os.getpid()))
            time.sleep(PAUSE_SECONDS)
        return written

    def flush(self) -> None:
        self.handle.flush()


def pause_nth_write(name: str, nth: int) -> None:
    """Replace ``torch.save`` so that its ``nth`` write into ``name + ".tmp"`` pauses half-way."""
    real_save = torch.save
    writes = 0

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal writes
        if Path(str(getattr(f, "name", ""))).name == name + ".tmp":
            writes += 1
            if writes == nth:
                f = PausingFile(f)
        real_save(obj, f, *args, **kwargs)

    torch.save = save


def main(argv: list[str]) -> int:
    """``NAME:N`` then the ``cxr-train`` arguments; returns ``cxr-train``'s exit status."""
    name, _, nth = argv[0].partition(":")
    pause_nth_write(name, int(nth or 1))
    from trainer.cli import main as cxr_train

    return cxr_train(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
