"""A folder of any size made of links to real images, plus junk: the 100,000-file folder of
issue 19 without copying a single image (the disk is small).

``make_big_folder(root, count, sources)`` writes ``count`` entries, deterministically for a
seed, laid out as the two kinds of archive a user opens:

* ``nih/images_001/00100002_001.png``: the NIH download's flat folders of up to 5,000 PNGs,
  named as NIH names them (patient number, follow-up), so the scan makes a patient per number
  and a study per follow-up, each a link to one of the source PNGs.
* ``pacs/P00001/S01/SE01/IM00001.dcm``: a PACS export, patient / study / series folders of 1 to
  4 images, half the files without an extension (as many exports name them), each a symbolic
  link to one of the source DICOMs. The scan groups DICOMs by their headers, so every link to
  the same source file lands in that file's one series: a few series of thousands of images,
  the worst case for a series row.
* junk among them (``junk_share`` of the entries): empty files, notes and logs, ``Thumbs.db``
  and ``.DS_Store``, a ``.png`` holding text, broken links, and real files cut short (the first
  kilobytes of a source PNG or DICOM). Junk is written for real: it is tiny.

The sources are the shared data's NIH PNGs and DICOMs (``real_sources``) or, where it is
absent, small generated PNGs and DICOMs (``synthetic_sources``), so a clone without the shared
data still builds and scans such a folder.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PNGS_PER_FOLDER = 5000
DICOM_SHARE = 0.3  # of the links: the rest are NIH-style PNGs
JUNK_SHARE = 0.08
SEED = 19


@dataclass(frozen=True)
class Sources:
    """The files the links point at, and what they are (for the bench's and tests' words)."""

    pngs: tuple[Path, ...]
    dicoms: tuple[Path, ...]
    what: str


@dataclass(frozen=True)
class BigFolder:
    """What ``make_big_folder`` wrote. ``links`` are images (each a link to a real, whole
    file); ``cut_pngs`` are junk that still looks like an image to the scan (a PNG's header
    with its data cut off: the scan lists it, decoding it fails); ``junk`` counts every junk
    entry, those included."""

    root: Path
    links: int
    dicom_links: int
    png_links: int
    junk: int
    cut_pngs: int

    @property
    def entries(self) -> int:
        return self.links + self.junk


def real_sources(shared: Path) -> Sources | None:
    """The shared data's NIH sample PNGs and real DICOMs, with pydicom-data's beside them;
    None when the shared data is absent."""
    pngs = sorted((shared / "nih-sample" / "images").glob("*.png"))
    dicoms = sorted((shared / "dicom").glob("*.dcm"))
    if not pngs or not dicoms:
        return None
    return Sources(tuple(pngs), tuple(dicoms),
                   f"links to {len(pngs)} NIH sample PNGs and {len(dicoms)} real DICOMs")


def synthetic_sources(folder: Path, pngs: int = 12, dicoms: int = 4) -> Sources:
    """Small generated chest-like PNGs (256 x 256, 8 bits) and DICOMs (256 x 256, 12 bits, two
    patients), written once into ``folder``: the sources where the shared data is absent."""
    folder.mkdir(parents=True, exist_ok=True)
    png_paths, dicom_paths = [], []
    for i in range(pngs):
        path = folder / f"synthetic_{i:02d}.png"
        if not path.exists():
            ok, data = cv2.imencode(".png", (_chest(256, 256, i) >> 4).astype(np.uint8))
            if not ok:
                raise RuntimeError("OpenCV could not encode a PNG")
            path.write_bytes(data.tobytes())
        png_paths.append(path)
    for i in range(dicoms):
        path = folder / f"synthetic_{i:02d}.dcm"
        if not path.exists():
            _write_dicom(path, _chest(256, 256, 100 + i), patient=i % 2, series=i)
        dicom_paths.append(path)
    return Sources(tuple(png_paths), tuple(dicom_paths),
                   f"links to {pngs} generated PNGs and {dicoms} generated DICOMs (no shared data)")


def sources_for(shared: Path | None, scratch: Path) -> Sources:
    """The real sources when the shared data is there, else generated ones under ``scratch``."""
    found = real_sources(shared) if shared is not None else None
    return found or synthetic_sources(scratch / "synthetic-sources")


def make_big_folder(root: Path, count: int, sources: Sources, *, seed: int = SEED,
                    junk_share: float = JUNK_SHARE) -> BigFolder:
    """Write ``count`` entries under ``root`` (which must not exist yet): links to ``sources``
    and junk, the same for the same arguments. See the module's docstring for the layout."""
    if not sources.pngs or not sources.dicoms:
        raise ValueError("the sources need PNGs and DICOMs")
    root.mkdir(parents=True)
    rng = random.Random(seed)
    junk = round(count * junk_share)
    links = count - junk
    dicom_links = round(links * DICOM_SHARE)
    png_links = links - dicom_links
    pngs = [p.resolve() for p in sources.pngs]
    dicoms = [p.resolve() for p in sources.dicoms]
    junk_at = _JunkMaker(pngs[0], dicoms[0])

    # Where the junk goes: spread over the whole folder, decided up front so that the layout
    # does not depend on the order things are written in.
    junk_slots = sorted(rng.sample(range(links), min(junk, links))) if junk else []
    junk_left = list(reversed(junk_slots))
    written_junk = cut_pngs = 0

    def junk_here(folder: Path, index: int) -> None:
        nonlocal written_junk, cut_pngs
        while junk_left and junk_left[-1] == index:
            junk_left.pop()
            cut_pngs += junk_at.write(folder, written_junk, rng)
            written_junk += 1

    # the PACS export: patients with 1-3 studies of 1-2 series of 1-4 images
    index = 0
    patient = 0
    while index < dicom_links:
        patient += 1
        for study in range(1, rng.randint(1, 3) + 1):
            for series in range(1, rng.randint(1, 2) + 1):
                folder = root / "pacs" / f"P{patient:05d}" / f"S{study:02d}" / f"SE{series:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                for image in range(1, rng.randint(1, 4) + 1):
                    if index >= dicom_links:
                        break
                    name = f"IM{image:05d}" + (".dcm" if rng.random() < 0.5 else "")
                    os.symlink(rng.choice(dicoms), folder / name)
                    junk_here(folder, index)
                    index += 1

    # the NIH-style download: flat folders of PNGs named PATIENT_FOLLOWUP.png
    number = 100000
    written = 0
    while written < png_links:
        number += rng.randint(1, 3)
        for follow_up in range(rng.randint(1, 4)):
            if written >= png_links:
                break
            folder = root / "nih" / f"images_{written // PNGS_PER_FOLDER + 1:03d}"
            if written % PNGS_PER_FOLDER == 0:
                folder.mkdir(parents=True)
            path = folder / f"{number:08d}_{follow_up:03d}.png"
            os.symlink(rng.choice(pngs), path)
            junk_here(folder, index)
            index += 1
            written += 1
    return BigFolder(root, links, dicom_links, png_links, written_junk, cut_pngs)


class _JunkMaker:
    """The junk of a real archive, in turn: what each kind is, and whether the scan takes it
    for an image (only a cut PNG: its header is whole)."""

    KINDS = ("empty", "note", "thumbs", "hidden", "text_png", "broken_link", "cut_png", "cut_dicom", "log")

    def __init__(self, png: Path, dicom: Path) -> None:
        with open(png, "rb") as handle:
            self.png_head = handle.read(2048)
        with open(dicom, "rb") as handle:
            self.dicom_head = handle.read(700)

    def write(self, folder: Path, number: int, rng: random.Random) -> int:
        """Write one junk entry into ``folder``; 1 when it is a cut PNG, else 0."""
        kind = self.KINDS[rng.randrange(len(self.KINDS))]
        name = f"junk{number:06d}"
        if kind == "empty":
            (folder / f"{name}.dcm").write_bytes(b"")
        elif kind == "note":
            (folder / f"{name}.txt").write_text("Exported by the archive. Do not edit.\n")
        elif kind == "thumbs":
            (folder / f"Thumbs{number:06d}.db").write_bytes(bytes(64))
        elif kind == "hidden":
            (folder / f".DS_Store{number:06d}").write_bytes(b"\0\0\0\1Bud1" + bytes(24))
        elif kind == "text_png":
            (folder / f"{name}.png").write_text("not an image\n")
        elif kind == "broken_link":
            os.symlink(f"{name}.missing", folder / f"{name}_broken.png")  # relative: it goes nowhere
        elif kind == "cut_png":
            (folder / f"{name}_cut.png").write_bytes(self.png_head)
            return 1
        elif kind == "cut_dicom":
            (folder / f"{name}_cut.dcm").write_bytes(self.dicom_head)
        else:
            (folder / f"{name}.log").write_text(f"transfer {number} done\n")
        return 0


def _chest(rows: int, columns: int, seed: int) -> np.ndarray:
    """12-bit values with the rough look of a chest radiograph: bright mediastinum, dark lungs."""
    noise = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns]
    image = 2000 + 1500 * np.sin(np.pi * xx / columns) * np.cos(np.pi * (yy - rows / 2) / rows)
    return (image + noise.normal(0, 40, image.shape)).clip(0, 4095).astype(np.uint16)


def _write_dicom(path: Path, pixels: np.ndarray, *, patient: int, series: int) -> None:
    """A CR chest DICOM of ``pixels`` (uint16, 12 bits stored) without names or dates."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    cr = "1.2.840.10008.5.1.4.1.1.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = cr
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[path.name, "instance"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = cr
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = f"SYNTH{patient}"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[str(patient), "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[path.name, "series"])
    ds.SeriesNumber = series + 1
    ds.InstanceNumber = 1
    ds.Modality = "CR"
    ds.ViewPosition = "PA"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
