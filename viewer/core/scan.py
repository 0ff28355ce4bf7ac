"""Folder scan: every radiograph under a folder, headers only, streamed as it goes.

``scan_folder`` walks a folder recursively and yields one ``ScannedImage`` per image it finds
(DICOM read with ``stop_before_pixels``; PNG/JPEG/BMP/TIFF only sniffed and their size read from
the header) and one ``SkippedFile`` per file it does not show, with the reason. Nothing stops
it: symlink loops, unreadable files and folders, and file names that are not valid UTF-8 become
``SkippedFile`` entries or are handled, never exceptions. Links to folders outside the scanned
folder are not followed (reported) unless ``follow_links`` is given (``walk.py``).

Patients, studies and series get pseudonymous keys (1, 2, 3, ... in the order first seen) that
are stable within one scan. Identifying header values (PatientID, PatientName) only ever reach
``patient_label``/``patient_id``, which are for the UI browser (and ``--include-patient-id``);
they are left out of ``repr`` so that logging a scanned image cannot leak them.

``patient_tree`` arranges the scanned images as patients -> studies -> series.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.tag import BaseTag, Tag

from .dicom_values import date_text, int_value, text_value
from .errors import CxrError, ImageLoadError, display_name
from .identity import Identity
from .loader.dicom_header import NotDicomError, missing_image_reason, read_header
from .loader.headers import file_reader, raster_dimensions
from .loader.sniff import HEAD_BYTES, claimed_format, is_dicom_candidate, sniff_format
from .nih import DataEntryError, NihEntry, find_data_entry, read_data_entry
from .pseudonyms import KeyNumbers
from .radiograph import SourceFormat
from .walk import os_reason, walk_files

ProgressCallback = Callable[[int, "int | None"], None]

_NIH_NAME = re.compile(r"^(\d{4,})_(\d{3,})\.(?:png|jpe?g)$", re.IGNORECASE)
_DICOM_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_MAX_AGE = 150  # years: a larger AS value is a typo or garbage, not an age
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
# Only these elements are converted; pydicom skips the values of all others (faster headers).
_HEADER_TAGS: list[BaseTag | int] = [Tag(keyword) for keyword in (
    "SOPClassUID", "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "PatientAge", "StudyInstanceUID",
    "StudyDate", "StudyTime", "StudyDescription", "StudyID", "SeriesInstanceUID", "SeriesNumber",
    "SeriesDescription", "InstanceNumber", "Modality", "ViewPosition", "Rows", "Columns",
    "NumberOfFrames", "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime",
)]
# When an image was taken, in the order the header is asked: the acquisition, else the content
# (the image's creation, which a CR or a secondary capture may have alone).
_WHEN = (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime"))
_ISO_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):?([0-5][0-9])")  # TM HHMM..., or HH:MM... (ACR-NEMA)
_PROGRESS_INTERVAL = 0.05  # seconds between progress calls: a UI needs no more than 20 a second


class ScanError(CxrError):
    """The scan could not start: the folder does not exist or cannot be opened."""


@dataclass(frozen=True, slots=True)
class ScannedImage:
    """One image found by the scan, described from its header alone.

    ``patient_key``/``study_key``/``series_key`` are pseudonymous numbers, stable within one
    scan. ``patient_label`` and ``patient_id`` may hold DICOM PatientName/PatientID: show them in
    the browser, never write them to logs, errors or CSV files. ``labels`` are the NIH
    Data_Entry findings (empty tuple = "No Finding"), or None when the image has no entry.
    ``identity`` holds the header's name, ID and birth date, for outputs to remove them from
    the paths they write (``identity.Scrubber``); it is in no ``repr``.
    """

    path: Path
    relative_path: Path
    format: SourceFormat
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
    acquired: str | None = None  # when the image was taken: "2024-01-31 10:22", or the date alone
    # when its study was ("2024-01-31 10:22", or the date alone): orders the priors; kept out of
    # repr like the study label, which may show it
    study_date: str | None = field(default=None, repr=False)
    identity: Identity | None = field(default=None, repr=False, compare=False)  # to scrub outputs with

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
    folder that could not be entered: whatever it holds was not scanned; ``link_not_followed``
    is True as well when that folder is a link the scan chose not to follow (it leads out of
    the scanned folder).
    """

    path: Path
    relative_path: Path
    reason: str
    claimed_format: SourceFormat | None = None
    folder: bool = False
    link_not_followed: bool = False

    @property
    def name(self) -> str:
        return display_name(self.path.name)

    @property
    def display_path(self) -> str:
        return display_name(self.relative_path.as_posix())


@dataclass(frozen=True, slots=True)
class DataFileProblem:
    """A data file the scan reads beside the images (the NIH ``Data_Entry`` labels) that could
    not be used: the images still show, without what the file would have added. Reported once
    per file, with the images it concerns still to come."""

    path: Path
    reason: str
    display_path: str  # relative to the scanned folder when inside it, printable


ScanItem = ScannedImage | SkippedFile | DataFileProblem


def scan_folder(
    root: str | os.PathLike[str],
    *,
    on_progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    follow_links: bool = False,
) -> Iterator[ScanItem]:
    """Yield a ``ScannedImage`` or ``SkippedFile`` for every file under ``root``, as it goes,
    and a ``DataFileProblem`` for a label file beside them that cannot be used.

    The folder tree is listed first (cheap: no file is opened), so ``on_progress(done, total)``
    gets a real total while headers are read; during the listing it gets ``(0, None)``.
    ``cancelled()`` is checked before every file and folder; the generator just ends when it
    returns True. ``root`` may also be a single file. Raises ``ScanError`` only when ``root``
    itself does not exist or cannot be opened. ``follow_links``: follow links to folders outside
    ``root`` too (never into ``/proc``, ``/sys`` or ``/dev``); without it they are reported.
    """
    root_path = Path(os.fsdecode(os.fspath(root)))
    is_cancelled = cancelled or (lambda: False)
    progress = _Progress(on_progress)
    try:
        root_is_dir = root_path.is_dir()
        if not root_is_dir and not root_path.is_file():
            raise ScanError(f"{display_name(root_path)}: no such folder or file")
    except OSError as exc:
        raise ScanError(f"{display_name(root_path)}: cannot be opened ({os_reason(exc)})") from None

    progress(0, None)
    if root_is_dir:
        work = _list_tree(root_path, is_cancelled, follow_links)
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
        yield from reader.take_problems()
        progress(done, total, final=done == total)
        yield item


# -- listing ----------------------------------------------------------------------------------
def _list_tree(root: Path, cancelled: Callable[[], bool], follow_links: bool) -> list[Path | SkippedFile] | None:
    """Every file under ``root`` in a stable order (sorted by name, depth first), plus skip
    records for what the walk left out. None when cancelled."""
    work: list[Path | SkippedFile] = []
    for entry in walk_files(root, cancelled, follow_links=follow_links):
        if isinstance(entry, Path):
            work.append(entry)
        else:  # a file that is not regular may still claim to be an image by its name
            claimed = claimed_format(entry.path) if entry.kind == "file" else None
            work.append(SkippedFile(entry.path, _relative(entry.path, root), entry.reason, claimed,
                                    folder=entry.kind in ("folder", "link"), link_not_followed=entry.kind == "link"))
    return None if cancelled() else work


# -- reading headers --------------------------------------------------------------------------
class _HeaderReader:
    """Turns one file into a ``ScannedImage`` or ``SkippedFile``; keeps the scan's keys."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.patient_keys, self.study_keys, self.series_keys = KeyNumbers(), KeyNumbers(), KeyNumbers()
        self._entries_by_folder: dict[Path, dict[str, NihEntry] | None] = {}
        self._entries_by_csv: dict[Path, dict[str, NihEntry] | None] = {}
        self._problems: list[DataFileProblem] = []

    def take_problems(self) -> list[DataFileProblem]:
        """The data-file problems found since the last call."""
        problems, self._problems = self._problems, []
        return problems

    def read(self, path: Path) -> ScanItem:
        claimed = claimed_format(path)
        try:
            with open(path, "rb") as handle:
                head = handle.read(HEAD_BYTES)
                if not head:
                    return _skip(path, self.root, "empty file (0 bytes)", claimed)
                kind = sniff_format(path, head)
                if kind is not None and kind != SourceFormat.DICOM:
                    return self._raster(path, kind, raster_dimensions(file_reader(handle, head), kind))
        except PermissionError:
            return _skip(path, self.root, "cannot be read: permission denied", claimed)
        except OSError as exc:
            return _skip(path, self.root, f"cannot be read ({os_reason(exc)})", claimed)
        if is_dicom_candidate(path, head, kind):
            return self._dicom(path, preamble=kind == SourceFormat.DICOM, claimed=claimed or kind)
        if claimed is not None:
            return _skip(path, self.root, f"named {path.suffix} but its content is not a "
                         f"{path.suffix[1:].upper()} image", claimed)
        suffix = path.suffix.lower()
        what = f"a {suffix} file" if suffix else "a file of unknown type"
        return _skip(path, self.root, f"not an image ({what})")

    # DICOM ------------------------------------------------------------------------------------
    def _dicom(self, path: Path, preamble: bool, claimed: SourceFormat | None) -> ScanItem:
        try:  # the loader's header reader: the same bounds, bomb checks and words
            with open(path, "rb") as handle:
                ds, _ = read_header(path, handle, specific_tags=_HEADER_TAGS, defer_size=None)
        except NotDicomError as exc:
            return _skip(path, self.root, exc.reason, claimed)
        except ImageLoadError as exc:
            return _skip(path, self.root, exc.reason, claimed or SourceFormat.DICOM)
        except OSError as exc:
            return _skip(path, self.root, f"cannot be read ({os_reason(exc)})", claimed)
        sop_class = text_value(ds, "SOPClassUID") or text_value(getattr(ds, "file_meta", None),
                                                                 "MediaStorageSOPClassUID")
        if sop_class == _DICOMDIR_SOP_CLASS:
            return _skip(path, self.root, "DICOMDIR (an index of the export, not an image)")
        rows, columns = int_value(ds, "Rows"), int_value(ds, "Columns")
        if rows is None or columns is None:
            if not preamble and not sop_class:  # force=True reads almost anything: not DICOM
                return _skip(path, self.root, "not a DICOM file", claimed)
            return _skip(path, self.root, missing_image_reason(ds), SourceFormat.DICOM)

        patient_id = text_value(ds, "PatientID")
        patient_name = text_value(ds, "PatientName")
        if patient_id:
            patient = ("dicom-id", patient_id)
        elif patient_name:
            patient = ("dicom-name", patient_name)
        else:  # anonymised without even a pseudonym: one patient per study (or folder)
            patient = ("dicom-anonymous", text_value(ds, "StudyInstanceUID") or str(path.parent))
        study_uid = text_value(ds, "StudyInstanceUID")
        study_date = date_text(ds, "StudyDate")
        study_description = text_value(ds, "StudyDescription")
        study = (patient, study_uid or (study_date, text_value(ds, "StudyID"), study_description, str(path.parent)))
        series_number = int_value(ds, "SeriesNumber")  # only sorts: an unusable one is ignored
        series = (study, text_value(ds, "SeriesInstanceUID") or series_number)
        return ScannedImage(
            path=path,
            relative_path=_relative(path, self.root),
            format=SourceFormat.DICOM,
            patient_key=self.patient_keys(patient),
            study_key=self.study_keys(study),
            series_key=self.series_keys(series),
            patient_label=_patient_label(patient_name, patient_id),
            patient_id=patient_id or None,
            study_label=" ".join(x for x in (study_date, study_description) if x) or "Study",
            series_number=series_number,
            series_description=text_value(ds, "SeriesDescription"),
            instance_number=int_value(ds, "InstanceNumber"),
            modality=text_value(ds, "Modality") or None,
            view_position=text_value(ds, "ViewPosition").upper() or None,
            sex=text_value(ds, "PatientSex").upper() or None,
            age=_dicom_age(text_value(ds, "PatientAge")),
            rows=rows,
            columns=columns,
            frames=max(1, int_value(ds, "NumberOfFrames") or 1),
            acquired=_acquired(ds),
            study_date=_when(ds, (("StudyDate", "StudyTime"),)),
            identity=Identity(patient_name, patient_id, text_value(ds, "PatientBirthDate")),
        )

    # PNG / JPEG / ... -------------------------------------------------------------------------
    def _raster(self, path: Path, kind: SourceFormat, size: tuple[int, int] | None) -> ScannedImage:
        columns, rows = size if size else (None, None)
        match = _NIH_NAME.match(path.name)
        relative = _relative(path, self.root)
        if match is None:
            # No header to group by: each folder is one "patient" and one study.
            folder = relative.parent.as_posix()
            group = ("folder", folder)
            label = display_name(folder if folder != "." else (self.root.name or str(self.root)))
            study = (group, "folder")
            return ScannedImage(
                path=path, relative_path=relative, format=kind,
                patient_key=self.patient_keys(group), study_key=self.study_keys(study),
                series_key=self.series_keys((study, None)), patient_label=label, patient_id=None,
                study_label=label, rows=rows, columns=columns,
            )
        # NIH ChestX-ray14: PATIENT_FOLLOWUP.png, with Data_Entry facts where the CSV has the image.
        entries = self._nih_entries(path.parent)
        entry = entries.get(path.name) if entries else None
        number = entry.patient_id if entry else int(match.group(1))
        follow_up = entry.follow_up if entry else int(match.group(2))
        patient = ("nih", number)
        visit = (patient, follow_up)
        return ScannedImage(
            path=path, relative_path=relative, format=kind,
            patient_key=self.patient_keys(patient), study_key=self.study_keys(visit),
            series_key=self.series_keys((visit, None)),
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
                    self._problems.append(DataFileProblem(
                        csv_path, f"NIH labels not used: {exc.reason}", display_name(_shown_path(csv_path, self.root))))
                    self._entries_by_csv[csv_path] = None
            entries = self._entries_by_csv[csv_path]
        self._entries_by_folder[folder] = entries
        return entries


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


def _skip(path: Path, root: Path, reason: str, claimed: SourceFormat | None = None) -> SkippedFile:
    return SkippedFile(path, _relative(path, root), reason, claimed)


def _shown_path(path: Path, root: Path) -> Path:
    """``path`` relative to the scanned folder when it is inside it, else as it is."""
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return Path(path.name)


def _patient_label(name: str, patient_id: str) -> str:
    name = " ".join(part for part in name.replace("^", " ").split())
    if name and patient_id:
        return f"{name} ({patient_id})"
    return name or patient_id or "Unknown patient"


def _acquired(ds: object) -> str | None:
    """``2024-01-31 10:22`` from the acquisition (else the content) date and time; the date
    alone when the time is unusable; None without a usable date (it only describes)."""
    return _when(ds, _WHEN)


def _when(ds: object, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """``2024-01-31 10:22`` from the first (date, time) keywords of ``pairs`` with a usable
    date; the date alone when the time is unusable; None without a usable date."""
    for date_keyword, time_keyword in pairs:
        date = date_text(ds, date_keyword)
        if _ISO_DATE.fullmatch(date):
            clock = _CLOCK.match(text_value(ds, time_keyword))
            return f"{date} {clock.group(1)}:{clock.group(2)}" if clock else date
    return None


def _dicom_age(value: str) -> int | None:
    """DICOM AS ``045Y`` -> 45; months, weeks and days -> 0 (under a year)."""
    match = _DICOM_AGE.match(value)
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2).upper() or "Y"
    if unit != "Y":
        return 0
    return number if number <= _MAX_AGE else None
