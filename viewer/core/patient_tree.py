"""Scanned images as patients -> studies -> series -> images, the browser's and the batch's order.

``PatientTree`` grows one image at a time as a scan streams in (every level kept sorted), and
``group_images`` builds it from a finished scan. ``series_order`` and ``image_order`` are the
orders of a study's series and of a series' images, which the browser's folder order keeps
too. Labels may be identifying (DICOM names): they are left out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .scan import ScanItem, ScannedImage


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
            study.series.sort(key=lambda s: series_order(s.number, s.key))
        series.images.append(image)
        series.images.sort(key=image_order)
        return patient, study, series


def group_images(images: Iterable[ScanItem]) -> list[PatientGroup]:
    """Patients -> studies -> series -> images for the images of a scan (skipped files ignored)."""
    tree = PatientTree()
    for image in images:
        if isinstance(image, ScannedImage):
            tree.add(image)
    return tree.patients


def series_order(number: int | None, key: int) -> tuple[bool, int, int]:
    """A study's series by series number (those without one last), then as first seen."""
    return (number is None, number or 0, key)


def image_order(image: ScannedImage) -> tuple[bool, int, str]:
    """A series' images by instance number (those without one last), then by path."""
    return (image.instance_number is None, image.instance_number or 0, image.relative_path.as_posix())
