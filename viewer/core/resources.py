"""Where the files that ship with the viewer are: icons and the bundled demo model.

They live in the top-level ``resources/`` folder of the source tree. ``resource_path`` finds
them in the three ways the viewer runs:

- a PyInstaller bundle: ``viewer.spec`` copies ``resources/`` to ``sys._MEIPASS/resources``;
- an installed wheel: packaged as ``viewer/resources`` (package data), when ``pyproject.toml``
  maps the folder into the package (``package-dir`` in ``pyproject.toml``);
- the source tree and the editable install the README uses: ``<repo>/resources``.

Every caller resolves paths here, so one function decides, and a missing file raises an error
that lists where it was looked for.
"""

from __future__ import annotations

import sys
from importlib import resources as importlib_resources
from pathlib import Path

from .errors import CxrError

RESOURCES = "resources"
DEMO_MODEL = ("models", "demo.onnx")


class MissingResourceError(CxrError, FileNotFoundError):
    """A file that should ship with the viewer is not there."""


def resource_roots() -> list[Path]:
    """The folders searched for resources, most specific first (only those that exist)."""
    candidates: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:  # PyInstaller: the bundle's own copy wins over anything on the machine
        candidates.append(Path(bundle) / RESOURCES)
    try:
        packaged = importlib_resources.files("viewer") / RESOURCES
        candidates.append(Path(str(packaged)))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - viewer is always importable
        pass
    candidates.append(Path(__file__).resolve().parents[2] / RESOURCES)  # the source tree
    seen: list[Path] = []
    for path in candidates:
        if path.is_dir() and path not in seen:
            seen.append(path)
    return seen


def resource_path(*parts: str) -> Path:
    """The path of the shipped file ``resources/<parts...>``.

    Raises ``MissingResourceError`` (a ``FileNotFoundError``) naming the places searched when
    no root has it.
    """
    if not parts:
        raise ValueError("resource_path needs the path of a file inside resources/")
    roots = resource_roots()
    for root in roots:
        path = root.joinpath(*parts)
        if path.exists():
            return path
    searched = ", ".join(str(r) for r in roots) or "no resources folder was found at all"
    raise MissingResourceError(f"{'/'.join(parts)} is not among the viewer's resources (searched: {searched})")


def demo_model_path() -> Path:
    """The bundled demo classifier ``resources/models/demo.onnx`` (its sidecar sits beside it).

    Raises ``MissingResourceError`` with the remedy when the demo model is not there.
    """
    try:
        return resource_path(*DEMO_MODEL)
    except MissingResourceError as exc:
        raise MissingResourceError(
            f"the bundled demo model is missing: {exc}. Train and export it with cxr-train "
            "(see the README), or pass --model NAME.onnx"
        ) from None
