"""Folder scan: every radiograph under a folder, headers only, streamed as it goes.

``scan_folder`` walks a folder recursively and yields one ``ScannedImage`` per image it finds
(DICOM read with ``stop_before_pixels``; PNG/JPEG/BMP/TIFF only sniffed and their size read from
the header) and one ``SkippedFile`` per file it does not show, with the reason. Nothing stops
it: symlink loops, unreadable files and folders, and file names that are not valid UTF-8 become
``SkippedFile`` entries or are handled, never exceptions.

Patients, studies and series get pseudonymous keys (1, 2, 3, ... in the order first seen) that
are stable within one scan. Identifying header values (PatientID, PatientName) only ever reach
``patient_label``/``patient_id``, which are for the UI browser (and ``--include-patient-id``);
they are left out of ``repr`` so that logging a scanned image cannot leak them.

``PatientTree`` / ``group_images`` arrange scanned images as patients -> studies -> series.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from .errors import CxrError, display_name
from .loader import DICOM_SUFFIXES, missing_image_reason, sniff_format
from .nih import DataEntryError, NihEntry, find_data_entry, read_data_entry

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]

# What a file's name claims it is, for files whose content says otherwise.
_SUFFIX_FORMAT = {**{s: "dicom" for s in DICOM_SUFFIXES}, ".png": "png", ".jpg": "jpeg",
                  ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp"}
_NIH_NAME = re.compile(r"^(\d{4,})_(\d{3,})\.(?:png|jpe?g)$", re.IGNORECASE)
_DICOM_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
# Only these elements are converted; pydicom skips the values of all others (faster headers).
_HEADER_TAGS = [
    "SOPClassUID", "PatientID", "PatientName", "PatientSex", "PatientAge", "StudyInstanceUID",
    "StudyDate", "StudyDescription", "StudyID", "SeriesInstanceUID", "SeriesNumber",
    "SeriesDescription", "InstanceNumber", "Modality", "ViewPosition", "Rows", "Columns",
    "NumberOfFrames",
]
_PROGRESS_INTERVAL = 0.05  # seconds between progress calls: a UI needs no more than 20 a second
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ScanError(CxrError):
    """The scan could not start: the folder does not exist or cannot be opened."""


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One image found by the scan, described from its header alone.

    ``patient_key``/``study_key``/``series_key`` are pseudonymous numbers, stable within one
    scan. ``patient_label`` and ``patient_id`` may hold DICOM PatientName/PatientID: show them in
    the browser, never write them to logs, errors or CSV files. ``labels`` are the NIH
    Data_Entry findings (empty tuple = "No Finding"), or None when the image has no entry.
    """

    path: Path
    relative_path: Path
    format: str  # "dicom", "png", "jpeg", "tiff" or "bmp"
    patient_key: int
    study_key: int
    series_key: int
    patient_label: str = field(repr=False)
    patient_id: str | None = field(repr=False)
    study_label: str = field(repr=False)  # may contain the study date
    series_number: int | None = None
    series_description: str = ""
    instance_number: int | None = None
    modality: str | None = None
    view_position: str | None = None
    sex: str | None = None
    age: int | None = None  # years
    rows: int | None = None
    columns: int | None = None
    frames: int = 1
    follow_up: int | None = None  # NIH follow-up number
    labels: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        """The file name, printable even when it is not valid UTF-8."""
        return display_name(self.path.name)

    @property
    def display_path(self) -> str:
        """The path relative to the scanned folder, printable, with forward slashes."""
        return display_name(self.relative_path.as_posix())


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file (or folder) the scan does not show, and why.

    ``claimed_format`` is the format the file claims to be by its name or first bytes (for
    example a ``.png`` that is not a PNG, or a DICOM file without an image), or None for files
    that do not pretend to be images (notes, CSVs, hidden files). ``folder`` is True for a
    folder that could not be entered: whatever it holds was not scanned.
    """

    path: Path
    relative_path: Path
    reason: str
    claimed_format: str | None = None
    folder: bool = False

    @property
    def name(self) -> str:
        return display_name(self.path.name)

    @property
    def display_path(self) -> str:
        return display_name(self.relative_path.as_posix())


ScanItem = ScannedImage | SkippedFile


def scan_folder(
    root: str | os.PathLike[str],
    *,
    on_progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[ScanItem]:
    """Yield a ``ScannedImage`` or ``SkippedFile`` for every file under ``root``, as it goes.

    The folder tree is listed first (cheap: no file is opened), so ``on_progress(done, total)``
    gets a real total while headers are read; during the listing it gets ``(0, None)``.
    ``cancelled()`` is checked before every file and folder; the generator just ends when it
    returns True. ``root`` may also be a single file. Raises ``ScanError`` only when ``root``
    itself does not exist or cannot be opened.
    """
    root_path = Path(os.fsdecode(os.fspath(root)))
    is_cancelled = cancelled or (lambda: False)
    progress = _Progress(on_progress)
    try:
        root_is_dir = root_path.is_dir()
        if not root_is_dir and not root_path.is_file():
            raise ScanError(f"{display_name(root_path)}: no such folder or file")
    except OSError as exc:
        raise ScanError(f"{display_name(root_path)}: cannot be opened ({exc.strerror or exc})") from None

    progress(0, None)
    if root_is_dir:
        work = _list_tree(root_path, is_cancelled)
        if work is None:
            return
    else:
        work = [root_path]
        root_path = root_path.parent
    reader = _HeaderReader(root_path)
    total = len(work)
    progress(0, total)
    for done, entry in enumerate(work, start=1):
        if is_cancelled():
            return
        item = entry if isinstance(entry, SkippedFile) else reader.read(entry)
        progress(done, total, final=done == total)
        yield item


# -- listing ----------------------------------------------------------------------------------
def _list_tree(root: Path, cancelled: Callable[[], bool]) -> list[Path | SkippedFile] | None:
    """Every file under ``root`` in a stable order (sorted by name, depth first), plus skip
    records for folders that cannot be entered. None when cancelled."""
    work: list[Path | SkippedFile] = []
    visited: set[tuple[int, int]] = set()  # real folders seen: a symlink loop ends here
    try:
        info = root.stat()
        visited.add((info.st_dev, info.st_ino))
    except OSError:
        pass
    stack = [root]
    while stack:
        if cancelled():
            return None
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            work.append(SkippedFile(folder, _relative(folder, root),
                                    f"folder cannot be opened ({_os_reason(exc)})", folder=True))
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):  # .DS_Store, ._AppleDouble twins, .git: not images
                work.append(_skip(path, root, "hidden file or folder"))
                continue
            try:
                if entry.is_dir():  # follows symlinks: exports sometimes link series folders
                    info = entry.stat()
                    key = (info.st_dev, info.st_ino)
                    if key in visited:
                        work.append(_skip(path, root, "link to a folder already scanned (a symlink loop or a duplicate)"))
                    else:
                        visited.add(key)
                        subfolders.append(path)
                elif entry.is_file():
                    work.append(path)
                elif entry.is_symlink() and not os.path.exists(path):
                    work.append(_skip(path, root, "broken link: its target does not exist", _claimed(path)))
                else:  # FIFO, socket, device (or a link to one): opening one could block forever
                    work.append(_skip(path, root, "not a regular file (a pipe, socket or device)", _claimed(path)))
            except OSError as exc:
                work.append(_skip(path, root, f"cannot be examined ({_os_reason(exc)})", _claimed(path)))
        stack.extend(reversed(subfolders))  # depth first, in name order
    return work


# -- reading headers --------------------------------------------------------------------------
class _Keys:
    """Pseudonymous numbers 1, 2, 3, ... for identities, in the order they are first seen."""

    def __init__(self) -> None:
        self._numbers: dict[Any, int] = {}

    def __call__(self, identity: Any) -> int:
        return self._numbers.setdefault(identity, len(self._numbers) + 1)


class _HeaderReader:
    """Turns one file into a ``ScannedImage`` or ``SkippedFile``; keeps the scan's keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.patient_keys, self.study_keys, self.series_keys = _Keys(), _Keys(), _Keys()
        self._entries_by_folder: dict[Path, dict[str, NihEntry] | None] = {}
        self._entries_by_csv: dict[Path, dict[str, NihEntry] | None] = {}

    def read(self, path: Path) -> ScanItem:
        claimed = _claimed(path)
        try:
            with open(path, "rb") as handle:
                head = handle.read(132)
                if not head:
                    return _skip(path, self.root, "empty file (0 bytes)", claimed)
                kind = sniff_format(path, head)
                if kind is not None and kind != "dicom":
                    return self._raster(path, kind, _raster_size(handle, kind, head))
        except PermissionError:
            return _skip(path, self.root, "cannot be read: permission denied", claimed)
        except OSError as exc:
            return _skip(path, self.root, f"cannot be read ({_os_reason(exc)})", claimed)
        if kind == "dicom" or claimed == "dicom" or _looks_like_bare_dicom(path, head):
            return self._dicom(path, preamble=kind == "dicom", claimed=claimed or (kind and "dicom"))
        if claimed is not None:
            return _skip(path, self.root, f"named {path.suffix} but its content is not a "
                         f"{path.suffix[1:].upper()} image", claimed)
        suffix = path.suffix.lower()
        what = f"a {suffix} file" if suffix else "a file of unknown type"
        return _skip(path, self.root, f"not an image ({what})")

    # DICOM ------------------------------------------------------------------------------------
    def _dicom(self, path: Path, preamble: bool, claimed: str | None) -> ScanItem:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS,
                                 force=not preamble)
        except InvalidDicomError:
            return _skip(path, self.root, "not a DICOM file", claimed)
        except Exception as exc:  # pydicom raises many types on damaged headers
            return _skip(path, self.root, f"damaged DICOM header ({_short(exc)})", claimed or "dicom")
        sop_class = str(ds.get("SOPClassUID", "") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ""))
        if sop_class == _DICOMDIR_SOP_CLASS:
            return _skip(path, self.root, "DICOMDIR (an index of the export, not an image)")
        rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
        if rows is None or columns is None:
            if not preamble and not sop_class:  # force=True reads almost anything: not DICOM
                return _skip(path, self.root, "not a DICOM file", claimed)
            return _skip(path, self.root, missing_image_reason(ds), "dicom")

        patient_id = _text(ds.get("PatientID"))
        patient_name = _text(ds.get("PatientName"))
        if patient_id:
            patient = ("dicom-id", patient_id)
        elif patient_name:
            patient = ("dicom-name", patient_name)
        else:  # anonymised without even a pseudonym: one patient per study (or folder)
            patient = ("dicom-anonymous", _text(ds.get("StudyInstanceUID")) or str(path.parent))
        study_uid = _text(ds.get("StudyInstanceUID"))
        study_date = _format_date(_text(ds.get("StudyDate")))
        study_description = _text(ds.get("StudyDescription"))
        study = (patient, study_uid or (study_date, _text(ds.get("StudyID")), study_description, str(path.parent)))
        series_number = _int(ds.get("SeriesNumber"))
        series = (study, _text(ds.get("SeriesInstanceUID")) or series_number)
        return ScannedImage(
            path=path,
            relative_path=_relative(path, self.root),
            format="dicom",
            patient_key=self.patient_keys(patient),
            study_key=self.study_keys(study),
            series_key=self.series_keys(series),
            patient_label=_patient_label(patient_name, patient_id),
            patient_id=patient_id or None,
            study_label=" ".join(x for x in (study_date, study_description) if x) or "Study",
            series_number=series_number,
            series_description=_text(ds.get("SeriesDescription")),
            instance_number=_int(ds.get("InstanceNumber")),
            modality=_text(ds.get("Modality")) or None,
            view_position=_text(ds.get("ViewPosition")).upper() or None,
            sex=_text(ds.get("PatientSex")).upper() or None,
            age=_dicom_age(_text(ds.get("PatientAge"))),
            rows=rows,
            columns=columns,
            frames=_int(ds.get("NumberOfFrames")) or 1,
        )

    # PNG / JPEG / ... -------------------------------------------------------------------------
    def _raster(self, path: Path, kind: str, size: tuple[int, int] | None) -> ScannedImage:
        columns, rows = size if size else (None, None)
        match = _NIH_NAME.match(path.name)
        relative = _relative(path, self.root)
        if match is None:
            # No header to group by: each folder is one "patient" and one study.
            folder = relative.parent.as_posix()
            identity = ("folder", folder)
            label = display_name(folder if folder != "." else (self.root.name or str(self.root)))
            study = (identity, "folder")
            return ScannedImage(
                path=path, relative_path=relative, format=kind,
                patient_key=self.patient_keys(identity), study_key=self.study_keys(study),
                series_key=self.series_keys((study, None)), patient_label=label, patient_id=None,
                study_label=label, rows=rows, columns=columns,
            )
        # NIH ChestX-ray14: PATIENT_FOLLOWUP.png, with Data_Entry facts where the CSV has the image.
        entries = self._nih_entries(path.parent)
        entry = entries.get(path.name) if entries else None
        number = entry.patient_id if entry else int(match.group(1))
        follow_up = entry.follow_up if entry else int(match.group(2))
        patient = ("nih", number)
        study = (patient, follow_up)
        return ScannedImage(
            path=path, relative_path=relative, format=kind,
            patient_key=self.patient_keys(patient), study_key=self.study_keys(study),
            series_key=self.series_keys((study, None)),
            patient_label=f"NIH patient {number}", patient_id=str(number),
            study_label=f"Follow-up {follow_up}", follow_up=follow_up,
            view_position=entry.view if entry else None,
            sex=entry.sex if entry else None, age=entry.age if entry else None,
            rows=rows, columns=columns, labels=entry.labels if entry else None,
        )

    def _nih_entries(self, folder: Path) -> dict[str, NihEntry] | None:
        """The Data_Entry rows for images in ``folder`` (found in it or a parent), cached."""
        if folder in self._entries_by_folder:
            return self._entries_by_folder[folder]
        csv_path = find_data_entry(folder)
        entries = None
        if csv_path is not None:
            if csv_path not in self._entries_by_csv:
                try:
                    self._entries_by_csv[csv_path] = read_data_entry(csv_path)
                except DataEntryError as exc:  # labels are a bonus: the images still show
                    log.warning("NIH labels not used: %s", exc)
                    self._entries_by_csv[csv_path] = None
            entries = self._entries_by_csv[csv_path]
        self._entries_by_folder[folder] = entries
        return entries


# -- grouping ---------------------------------------------------------------------------------
@dataclass
class SeriesGroup:
    """The images of one series, in instance-number order (then by name)."""

    key: int
    number: int | None
    description: str
    modality: str | None
    images: list[ScannedImage] = field(default_factory=list)


@dataclass
class StudyGroup:
    """One study (DICOM) or follow-up visit (NIH) of a patient."""

    key: int
    label: str = field(repr=False)
    series: list[SeriesGroup] = field(default_factory=list)

    @property
    def images(self) -> list[ScannedImage]:
        return [image for s in self.series for image in s.images]


@dataclass
class PatientGroup:
    """One patient; ``label`` may be identifying (UI only, left out of ``repr``)."""

    key: int
    label: str = field(repr=False)
    studies: list[StudyGroup] = field(default_factory=list)

    @property
    def images(self) -> list[ScannedImage]:
        return [image for s in self.studies for image in s.images]


class PatientTree:
    """Patients -> studies -> series -> images, built one image at a time as a scan streams.

    ``add`` keeps every level sorted, so a browser can rebuild from ``patients`` at any moment.
    """

    def __init__(self) -> None:
        self.patients: list[PatientGroup] = []
        self._patients: dict[int, PatientGroup] = {}
        self._studies: dict[int, StudyGroup] = {}
        self._series: dict[int, SeriesGroup] = {}

    def add(self, image: ScannedImage) -> tuple[PatientGroup, StudyGroup, SeriesGroup]:
        """Place ``image`` in its patient, study and series (created when new)."""
        patient = self._patients.get(image.patient_key)
        if patient is None:
            patient = self._patients[image.patient_key] = PatientGroup(image.patient_key, image.patient_label)
            self.patients.append(patient)  # keys grow in scan order: the list stays sorted
        study = self._studies.get(image.study_key)
        if study is None:
            study = self._studies[image.study_key] = StudyGroup(image.study_key, image.study_label)
            patient.studies.append(study)
            patient.studies.sort(key=lambda s: (s.label, s.key))
        series = self._series.get(image.series_key)
        if series is None:
            series = SeriesGroup(image.series_key, image.series_number, image.series_description, image.modality)
            self._series[image.series_key] = series
            study.series.append(series)
            study.series.sort(key=lambda s: (s.number is None, s.number or 0, s.key))
        series.images.append(image)
        series.images.sort(key=_image_order)
        return patient, study, series


def group_images(images: Iterable[ScanItem]) -> list[PatientGroup]:
    """Patients -> studies -> series -> images for the images of a scan (skipped files ignored)."""
    tree = PatientTree()
    for image in images:
        if isinstance(image, ScannedImage):
            tree.add(image)
    return tree.patients


def _image_order(image: ScannedImage) -> tuple[bool, int, str]:
    return (image.instance_number is None, image.instance_number or 0, image.relative_path.as_posix())


# -- small helpers ----------------------------------------------------------------------------
class _Progress:
    """Calls the user's progress callback at most every ``_PROGRESS_INTERVAL`` seconds."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.last = 0.0

    def __call__(self, done: int, total: int | None, final: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if final or done == 0 or now - self.last >= _PROGRESS_INTERVAL:
            self.last = now
            self.callback(done, total)


def _skip(path: Path, root: Path, reason: str, claimed: str | None = None) -> SkippedFile:
    return SkippedFile(path, _relative(path, root), reason, claimed)


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return Path(path.name)


def _claimed(path: Path) -> str | None:
    return _SUFFIX_FORMAT.get(path.suffix.lower())


def _looks_like_bare_dicom(path: Path, head: bytes) -> bool:
    """A DICOM file written without the 128-byte preamble starts with a group 0002 or 0008
    element in little endian (some PACS exports name such files IM000001, without suffix)."""
    return not path.suffix and len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00"


def _raster_size(handle: Any, kind: str, head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or BMP header, reading no more of the file than needed."""
    try:
        if kind == "png" and len(head) >= 24 and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return width, height
        if kind == "bmp" and len(head) >= 26:
            width, height = struct.unpack("<ii", head[18:26])
            return width, abs(height)  # negative height = rows stored top-down
        if kind == "jpeg":
            return _jpeg_size(handle)
    except (OSError, struct.error):
        return None
    return None


def _jpeg_size(handle: Any) -> tuple[int, int] | None:
    """Walk the JPEG segments (seeking past their bodies: EXIF can be 64 kB) to the SOF."""
    handle.seek(2)
    for _ in range(1000):  # a real file reaches SOF in a few segments; never loop forever
        marker = handle.read(2)
        while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + handle.read(1)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        code = marker[1]
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # stand-alone markers: no length
            continue
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if code in _JPEG_SOF:
            body = handle.read(5)
            if len(body) < 5:
                return None
            height, width = struct.unpack(">HH", body[1:5])
            return width, height
        if code in (0xD9, 0xDA) or length < 2:  # end of image or scan data before any SOF
            return None
        handle.seek(length - 2, os.SEEK_CUR)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else ""
    return str(value).strip()


def _int(value: Any) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        try:
            return int(float(_text(value)))
        except ValueError:
            return None


def _patient_label(name: str, patient_id: str) -> str:
    name = " ".join(part for part in name.replace("^", " ").split())
    if name and patient_id:
        return f"{name} ({patient_id})"
    return name or patient_id or "Unknown patient"


def _format_date(value: str) -> str:
    """DICOM DA ``20040826`` -> ``2004-08-26``; anything else unchanged."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def _dicom_age(value: str) -> int | None:
    """DICOM AS ``045Y`` -> 45; months, weeks and days -> 0 (under a year)."""
    match = _DICOM_AGE.match(value)
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2).upper() or "Y"
    return number if unit == "Y" else 0


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]
