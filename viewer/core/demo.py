"""The demo study: a real PA chest radiograph from the ``pydicom-data`` package, laid out locally.

``demo_study_dir()`` assembles, once, a folder the way a PACS export looks (one patient, one
study, one series) from two files pip installs with ``pydicom-data``: ``RG1_UNCR.dcm`` (PA chest
CR, MONOCHROME1, 15 bits stored, uncompressed) and ``RG1_J2KR.dcm`` (the same image, JPEG 2000
lossless). It lives in the user's cache folder, never in the repository or next to user data.

The files are found through the installed package (``importlib``), never through pydicom's
``get_testdata_file``/fetch helpers, which may try to download missing files.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from importlib import resources as importlib_resources
from pathlib import Path

from .errors import CxrError

DATA_PACKAGE = "data_store"  # what pip's "pydicom-data" installs
# (source file in the package, where it goes in the PACS-like layout)
DEMO_FILES = (
    ("RG1_UNCR.dcm", ("PATIENT1", "STUDY1", "SERIES1", "IM000001.dcm")),
    ("RG1_J2KR.dcm", ("PATIENT1", "STUDY1", "SERIES1", "IM000002.dcm")),
)
DEMO_FOLDER = "demo-study"


class DemoUnavailableError(CxrError):
    """The demo study cannot be assembled (package missing, or the cache is not writable)."""


def user_cache_dir() -> Path:
    """The viewer's cache folder: ``$XDG_CACHE_HOME/cxr-viewer`` or the platform's equivalent."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cxr-viewer"


def demo_source_files() -> list[Path]:
    """The two RG1 files inside the installed ``pydicom-data`` package (found locally only)."""
    if importlib.util.find_spec(DATA_PACKAGE) is None:
        raise DemoUnavailableError(
            "the demo study needs the 'pydicom-data' package, which is not installed "
            "(install it with: pip install pydicom-data)"
        )
    data = importlib_resources.files(DATA_PACKAGE) / "data"
    sources = [Path(str(data / name)) for name, _ in DEMO_FILES]
    missing = [p.name for p in sources if not p.is_file()]
    if missing:
        raise DemoUnavailableError(
            f"the installed pydicom-data package lacks {', '.join(missing)} "
            "(reinstall it with: pip install --force-reinstall pydicom-data)"
        )
    return sources


def demo_study_dir(cache_dir: Path | None = None) -> Path:
    """The folder of the demo study, assembled on first use and checked on every call.

    Each file is hard-linked (or, across file systems, copied) from the installed package and
    verified by size; a missing or truncated copy is replaced. ``cache_dir`` defaults to
    ``user_cache_dir()``. Raises ``DemoUnavailableError`` with the remedy when it cannot.
    """
    root = (cache_dir or user_cache_dir()) / DEMO_FOLDER
    for source, (_, parts) in zip(demo_source_files(), DEMO_FILES):
        target = root.joinpath(*parts)
        try:
            if _same_size(source, target):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _place(source, target)
        except OSError as exc:
            raise DemoUnavailableError(
                f"the demo study cannot be written to {target.parent} ({exc.strerror or exc}); "
                "set XDG_CACHE_HOME to a writable folder"
            ) from None
    return root


def _same_size(source: Path, target: Path) -> bool:
    try:
        return target.stat().st_size == source.stat().st_size
    except FileNotFoundError:
        return False


def _place(source: Path, target: Path) -> None:
    """Link or copy under a temporary name, then rename: a reader never sees half a file."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    os.close(fd)
    os.unlink(temporary)
    try:
        try:
            os.link(source, temporary)  # no extra 11 MB when cache and packages share a disk
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
