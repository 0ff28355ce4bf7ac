"""The project's own error types. Every message names the file and says how to fix it."""

from __future__ import annotations

from pathlib import Path


class CxrError(Exception):
    """Base of every error the viewer and trainer raise on purpose."""


class FileProblem(CxrError):
    """Something is wrong with one file: the message names it, the problem and (optionally) the fix.

    ``problem`` says what is wrong with the file; ``remedy`` (optional) what would fix it.
    """

    def __init__(self, path: str | Path, problem: str, remedy: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"{display_name(self.path)}: {self.reason}")

    @property
    def reason(self) -> str:
        """The problem and its remedy, without the file name (for a row that names the file)."""
        return f"{self.problem} ({self.remedy})" if self.remedy else self.problem


class ImageLoadError(FileProblem):
    """A file could not be turned into a radiograph."""


class ModelContractError(CxrError):
    """A model file is missing, unreadable, or does not keep the model contract (docs/model-contract.md)."""


class ModelOutputError(CxrError):
    """A model gave outputs that break its contract for one image (NaN or infinite values,
    probabilities outside 0..1): that image has no findings; other images may still have them."""


class ModelCardError(ModelContractError):
    """A model card is missing fields or has fields of the wrong type or value.

    ``problems`` lists every problem found, not just the first.
    """

    def __init__(self, problems: list[str], source: str = "model card") -> None:
        self.problems = list(problems)
        super().__init__(f"{source} is invalid: " + "; ".join(self.problems))


def display_name(path: str | Path) -> str:
    """A path as text that can always be printed: undecodable bytes are shown escaped."""
    text = str(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def one_line(exc: BaseException, limit: int = 300, *, empty: str | None = None) -> str:
    """An exception's message as one printable line of at most ``limit`` characters.

    Library messages can span lines (tracebacks from native decoders, ONNX Runtime's reports);
    a status bar, an errors panel row or a CSV cell holds one. Non-empty lines are joined with
    "; ". An empty message gives ``empty``, or the exception's type name when that is None.
    """
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if not text:
        text = type(exc).__name__ if empty is None else empty
    return display_name(text)[:limit]
