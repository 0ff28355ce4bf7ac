"""The trainer's own expected errors: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

from viewer.core.errors import CxrError


class TrainerError(CxrError):
    """Something the user can fix went wrong (bad data folder, bad option, bad weights file)."""


class ExportCheckError(TrainerError):
    """An exported model failed one of the export checks; the files were removed."""
