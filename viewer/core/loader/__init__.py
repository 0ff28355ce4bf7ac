"""One loader for every radiograph a workstation meets: DICOM, PNG (8/16 bit), JPEG, TIFF, BMP.

``load_radiograph(path, frame=0)`` returns a ``Radiograph`` (one frame of a multi-frame DICOM,
0-based) or raises ``ImageLoadError`` naming the file, the problem and, where there is one, the
fix; no other exception type escapes it. Dimensions are
read from the file's own header and checked before any pixel buffer is allocated, so a
decompression bomb is refused instead of exhausting memory.

The package's modules, each with one job: ``sniff`` (what a file is), ``headers`` (sizes from
raster and codestream headers), ``guards`` (bomb limits), ``dicom_header`` and ``dicom_pixels``
(the DICOM header, then one frame's pixels), ``dicom_fragments`` (where that frame's bytes are),
``dicom`` and ``raster`` (a file -> ``Radiograph``), ``colour`` (colour -> grey).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import ImageLoadError, one_line
from ..radiograph import Radiograph
from .dicom import load_dicom
from .dicom_header import missing_image_reason
from .guards import MAX_PIXELS
from .raster import load_raster
from .sniff import DICOM_SUFFIXES, HEAD_BYTES, RASTER_SUFFIXES, claimed_format, is_dicom_candidate, sniff_format

__all__ = [
    "DICOM_SUFFIXES",
    "MAX_PIXELS",
    "RASTER_SUFFIXES",
    "claimed_format",
    "is_dicom_candidate",
    "load_radiograph",
    "missing_image_reason",
    "sniff_format",
]


def load_radiograph(path: str | os.PathLike[str] | bytes, frame: int = 0) -> Radiograph:
    """Load any supported radiograph from ``path``: frame ``frame`` (0-based) of a multi-frame
    DICOM, only that frame's bytes read; other files have frame 0 alone.

    Raises ``ImageLoadError`` for anything that cannot be shown, with the file and the reason,
    and for a frame the file does not have.
    """
    path = Path(os.fsdecode(path))
    try:
        return _load(path, frame)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(path, "is too large to load into the memory available") from None
    except RecursionError:
        raise ImageLoadError(path, "has a header nested too deeply to read (damaged file?)") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # one exception type per file; Rust decoders panic as BaseException
        raise ImageLoadError(
            path, f"could not be read: unexpected {type(exc).__name__}: {one_line(exc)}"
        ) from exc


def _load(path: Path, frame: int) -> Radiograph:
    try:
        mode = os.stat(path).st_mode  # follows links: what matters is what would be opened
        if stat.S_ISDIR(mode):
            raise ImageLoadError(path, "is a folder, not an image file")
        if not stat.S_ISREG(mode):  # opening a pipe blocks; reading a device may never end
            raise ImageLoadError(path, "is not a regular file (a pipe, socket or device)")
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except ImageLoadError:
        raise
    except PermissionError:
        raise ImageLoadError(path, "cannot be read: permission denied", "check the file's permissions") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise ImageLoadError(path, "is empty (0 bytes)", "the copy or export was probably interrupted")

    kind = sniff_format(path, head)
    if is_dicom_candidate(path, head, kind):
        return load_dicom(path, frame)
    if kind is not None:
        if frame != 0:
            raise ImageLoadError(path, f"has no frame {frame + 1}: it is a single {kind.upper()} image")
        return load_raster(path, kind)
    claimed = claimed_format(path)
    if claimed is not None:
        raise ImageLoadError(path, f"is named {path.suffix} but its content is not a {path.suffix[1:].upper()} image")
    raise ImageLoadError(path, "is not an image format the viewer reads (DICOM, PNG, JPEG, TIFF, BMP)")
