"""The bad-input corpus: real malformed files, generated on the spot, each with what must happen.

``build_corpus(folder)`` writes every kind below into ``folder`` and returns the list of
``Case``s. A case says what the core must do with the file: load it (``fragments`` then are in its
notes), or raise ``ImageLoadError`` whose message contains ``fragments``. Every case claims to
be an image by its name or content, so the batch CSV has a row for each and the viewer lists
each one that cannot be shown in its errors panel, with the same words.

Some kinds need the file system's help and are built separately: a file nobody may read
(``unreadable_file``: only binds a process that is not root), and a folder of 10,000 empty
files (``empty_files``).
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
# Identifying values written into every generated DICOM: they must never reach a text output.
PATIENT_NAME = "Corpus^Secretname"
PATIENT_ID = "CORPUS-ID-90210"
BIRTH_DATE = "19451108"


@dataclass(frozen=True)
class Case:
    """One file of the corpus and the behaviour required of it."""

    kind: str  # what is wrong with it, in words
    name: bytes  # path relative to the corpus folder, as bytes (some names are not UTF-8)
    loads: bool  # True: the core returns a Radiograph; False: it raises ImageLoadError
    fragments: tuple[str, ...] = ()  # in the error message (or, for loads, in the notes)

    @property
    def path_text(self) -> str:
        return os.fsdecode(self.name)

    def path(self, root: Path) -> Path:
        return Path(os.fsdecode(os.path.join(os.fsencode(root), self.name)))


# -- generators --------------------------------------------------------------------------------
def chest_pixels(rows: int = 96, columns: int = 80, seed: int = 0) -> np.ndarray:
    """12-bit values with the rough look of a chest radiograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:columns]
    image = 2000 + 1500 * np.sin(np.pi * xx / columns) * np.cos(np.pi * (yy - rows / 2) / rows)
    return (image + rng.normal(0, 40, image.shape)).clip(0, 4095).astype(np.uint16)


def dicom_dataset(pixels: np.ndarray | None = None, *, syntax: str = ExplicitVRLittleEndian,
                  sop_class: str = CR_IMAGE, patient_name: str = PATIENT_NAME, patient_id: str = PATIENT_ID,
                  birth_date: str = BIRTH_DATE, study_uid: str | None = None) -> Dataset:
    """A CR dataset with identifying values, and ``pixels`` (uint16 2-D) as native pixel data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid or "1.2.826.0.1.3680043.8.498.77.1"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.77.2"
    ds.StudyDate = "20240131"
    ds.StudyDescription = "CHEST PA"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Modality = "CR"
    ds.ViewPosition = "PA"
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape[-2:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.PixelData = np.ascontiguousarray(pixels, "<u2").tobytes()
        ds["PixelData"].VR = "OW"
    return ds


def save(ds: Dataset, path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True, little_endian=True, implicit_vr=False)
    return path.read_bytes()


def save_claiming(ds: Dataset, syntax: str) -> bytes:
    """The dataset encoded explicit VR little endian, under a file meta that claims ``syntax``
    (pydicom refuses to write such a lie itself)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    head = DicomBytesIO()
    head.is_little_endian, head.is_implicit_VR = True, False
    meta = FileMetaDataset(ds.file_meta)
    meta.TransferSyntaxUID = syntax
    write_file_meta_info(head, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + head.getvalue() + body.getvalue()


def float_dicom(path: Path, value: float) -> None:
    """32-bit float pixel data (Float Pixel Data) with one non-finite pixel."""
    pixels = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    pixels[10, 20] = value
    ds = dicom_dataset()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 32
    ds.FloatPixelData = pixels.tobytes()
    save(ds, path)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(path: Path, width: int, height: int) -> None:
    """A real, valid 8-bit grey PNG of zeros: a few hundred kB on disk, width x height decoded."""
    squeeze, idat, row = zlib.compressobj(9), [], bytes(width + 1)
    for _ in range(height):
        idat.append(squeeze.compress(row))
    idat.append(squeeze.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(idat))
                     + png_chunk(b"IEND", b""))


def encode(suffix: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok, suffix
    return data.tobytes()


def write(root: Path, name: bytes | str, data: bytes) -> None:
    path = os.path.join(os.fsencode(root), os.fsencode(name))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


# -- the corpus --------------------------------------------------------------------------------
TEXT = b"Radiology report\nNo acute cardiopulmonary findings.\n" * 30


def build_corpus(root: Path) -> list[Case]:
    """Write every kind into ``root`` (created) and return the cases, in a stable order."""
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(kind: str, name: bytes | str, data: bytes | None, loads: bool, *fragments: str) -> None:
        if data is not None:
            write(root, name, data)
        cases.append(Case(kind, os.fsencode(name), loads, tuple(fragments)))

    good = dicom_dataset(chest_pixels())
    good_bytes = save(good, root / "_tmp.dcm")
    (root / "_tmp.dcm").unlink()
    pixel_start = good_bytes.rfind(b"\xe0\x7f\x10\x00") + 12  # after the (7FE0,0010) OW header
    png = encode(".png", (chest_pixels() >> 4).astype(np.uint8))
    jpeg = encode(".jpg", (chest_pixels(256, 256) >> 4).astype(np.uint8))

    # empty files
    add("zero-byte DICOM", "empty/empty.dcm", b"", False, "0 bytes")
    add("zero-byte PNG", "empty/empty.png", b"", False, "0 bytes")
    add("zero-byte JPEG", "empty/empty.jpg", b"", False, "0 bytes")

    # DICOM cut short at several places
    add("DICOM truncated inside the preamble", "truncated/in_preamble.dcm", good_bytes[:64], False, "not a DICOM file")
    add("DICOM truncated after the DICM magic", "truncated/after_magic.dcm", good_bytes[:132], False, "truncated")
    add("DICOM truncated inside the file meta header", "truncated/in_file_meta.dcm", good_bytes[:170], False,
        "truncated")
    add("DICOM truncated inside the dataset header", "truncated/in_header.dcm",
        good_bytes[: (pixel_start + 132) // 2 + 40], False, "truncated")
    add("DICOM truncated before the pixel data value", "truncated/at_pixel_tag.dcm", good_bytes[:pixel_start - 4],
        False, "damaged")
    add("DICOM truncated in the middle of the pixels", "truncated/mid_pixels.dcm",
        good_bytes[: pixel_start + (len(good_bytes) - pixel_start) // 2], False, "truncated")
    add("DICOM one byte short", "truncated/one_byte_short.dcm", good_bytes[:-1], False, "truncated")

    # DICOM headers that do not match the pixel data
    ds = dicom_dataset(chest_pixels())
    del ds.PixelData
    add("DICOM image attributes without pixel data", "header/no_pixel_data.dcm", save(ds, root / "header" / "x"),
        False, "no pixel data")
    add("DICOM report object (no image)", "header/report.dcm",
        save(dicom_dataset(sop_class=BASIC_TEXT_SR), root / "header" / "x"), False, "without an image",
        "Basic Text SR")
    ds = dicom_dataset(chest_pixels())
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    add("DICOM BitsAllocated 32 over 16-bit data", "header/bits_allocated_32.dcm", save(ds, root / "header" / "x"),
        False, "could not be decoded")
    ds = dicom_dataset(chest_pixels())
    ds.BitsAllocated = 12
    add("DICOM BitsAllocated 12 (not a multiple of 8)", "header/bits_allocated_12.dcm",
        save(ds, root / "header" / "x"), False, "Bits Allocated")
    ds = dicom_dataset(chest_pixels())
    ds.BitsStored, ds.HighBit = 24, 23
    add("DICOM BitsStored larger than BitsAllocated", "header/bits_stored_24.dcm", save(ds, root / "header" / "x"),
        False, "Bits Stored")
    ds = dicom_dataset(chest_pixels())
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    add("DICOM pixel data half the length the header needs", "header/short_pixel_data.dcm",
        save(ds, root / "header" / "x"), False, "7,680 bytes of pixel data", "needs 15,360")
    ds = dicom_dataset(chest_pixels())
    ds.Rows = 0
    add("DICOM with zero rows", "header/zero_rows.dcm", save(ds, root / "header" / "x"), False,
        "empty image")
    ds = dicom_dataset(chest_pixels())
    ds.SamplesPerPixel = 3
    add("DICOM claiming 3 samples per pixel over grey data", "header/samples_3.dcm",
        save(ds, root / "header" / "x"), False, "could not be decoded")
    ds = dicom_dataset(np.zeros((4, 4), np.uint16))
    ds.Rows = ds.Columns = 65535
    add("DICOM header claiming 65535 x 65535 pixels (the most US allows)", "header/huge_claim.dcm",
        save(ds, root / "header" / "x"), False, "65535 x 65535", "refused before decoding")
    add("DICOM with an unknown transfer syntax", "header/unknown_syntax.dcm",
        save_claiming(dicom_dataset(chest_pixels()), "1.2.826.0.1.3680043.9.9999.1"), False,
        "1.2.826.0.1.3680043.9.9999.1")
    add("DICOM saying JPEG Baseline over native pixel data", "header/jpeg_syntax_native_data.dcm",
        save_claiming(dicom_dataset(chest_pixels()), JPEGBaseline8Bit), False,
        "could not be decoded", "JPEG Baseline")
    (root / "header" / "x").unlink()
    data = bytearray(good_bytes)
    at = data.find(b"\x10\x00\x10\x00PN")  # PatientName: make its length absurd
    data[at + 6 : at + 8] = struct.pack("<H", 0xFFF0)
    add("DICOM element length past the end of the file", "header/element_length.dcm", bytes(data), False,
        "truncated")

    # DICOM that loads, with a note where the viewer changed something
    ds = dicom_dataset()
    rgb = np.stack([chest_pixels() >> 4, chest_pixels(seed=1) >> 4, chest_pixels(seed=2) >> 4], -1).astype(np.uint8)
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    add("RGB DICOM", "loads/rgb.dcm", save(ds, root / "loads" / "rgb.dcm"), True, "converted to greyscale")
    frames = np.stack([chest_pixels(seed=s) for s in range(3)])
    ds = dicom_dataset(frames[0])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.astype("<u2").tobytes()
    add("multi-frame DICOM", "loads/multiframe.dcm", save(ds, root / "loads" / "multiframe.dcm"), True,
        "multi-frame")
    add("1x1 DICOM", "loads/one_pixel.dcm",
        save(dicom_dataset(np.full((1, 1), 700, np.uint16)), root / "loads" / "one_pixel.dcm"), True)
    ds = dicom_dataset(np.full((32, 32), 1234, np.uint16))
    ds.WindowCenter, ds.WindowWidth = "1234", "0"
    add("constant DICOM with a zero window width", "loads/constant_zero_width.dcm",
        save(ds, root / "loads" / "constant_zero_width.dcm"), True, "not a valid")

    # non-finite float pixels
    float_dicom(root / "float" / "nan.dcm", float("nan"))
    add("float DICOM with NaN", "float/nan.dcm", None, False, "not finite")
    float_dicom(root / "float" / "inf.dcm", float("inf"))
    add("float DICOM with infinity", "float/inf.dcm", None, False, "not finite")
    image = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    image[3, 3] = -np.inf
    add("float TIFF with -infinity", "float/inf.tif", encode(".tif", image), False, "not finite")

    # raster files cut short or lying about their size
    add("PNG truncated inside IHDR", "raster/cut_ihdr.png", png[:20], False, "damaged PNG")
    add("PNG truncated in the middle of IDAT", "raster/cut_idat.png", png[: len(png) // 2], False,
        "damaged or truncated PNG")
    add("JPEG truncated in the middle of the scan", "raster/cut.jpg", jpeg[: len(jpeg) // 2], False,
        "damaged or truncated JPEG")
    add("JPEG truncated inside its headers", "raster/cut_header.jpg", jpeg[:30], False, "damaged JPEG")
    png_bomb(root / "raster" / "bomb.png", 20_000, 20_000)
    add("PNG decompression bomb (20,000 x 20,000 zeros, ~400 kB)", "raster/bomb.png", None, False,
        "refused before decoding")
    data = bytearray(png)
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    add("PNG header claiming 100,000 x 100,000 pixels", "raster/claims_100000.png", bytes(data), False,
        "100000 x 100000", "refused before decoding")
    data = bytearray(jpeg)
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65535, 65535)
    add("JPEG frame header claiming 65535 x 65535 pixels", "raster/claims_65535.jpg", bytes(data), False,
        "refused before decoding")
    add("1x1 PNG", "loads/one_pixel.png", encode(".png", np.full((1, 1), 9, np.uint8)), True)
    add("constant 16-bit PNG", "loads/constant16.png", encode(".png", np.full((40, 30), 4000, np.uint16)), True)

    # text where an image should be
    add("text saved as .png", "text/report.png", TEXT, False, "not a PNG")
    add("text saved as .dcm", "text/report.dcm", TEXT, False, "not a DICOM file")
    add("text saved as .jpg", "text/report.jpg", TEXT, False, "not a JPG")

    # file names that are not valid UTF-8 (Latin-1 names copied from an old share)
    add("valid PNG whose name is not UTF-8", b"names/caf\xe9.png", png, True)
    add("truncated PNG whose name is not UTF-8", b"names/r\xf6ntgen_cut.png", png[:100], False,
        "damaged or truncated PNG")

    # links: a loop of two file links, a link to a device, a folder linking to its parent
    links = root / "links"
    links.mkdir()
    os.symlink("loop_b.dcm", links / "loop_a.dcm")
    os.symlink("loop_a.dcm", links / "loop_b.dcm")
    add("symlink loop (a -> b -> a)", "links/loop_a.dcm", None, False, "symbolic links")
    add("symlink loop (b -> a -> b)", "links/loop_b.dcm", None, False, "symbolic links")
    os.symlink("..", links / "parent")
    os.symlink("/dev/zero", links / "zeros.dcm")
    add("link to /dev/zero named .dcm", "links/zeros.dcm", None, False, "not a regular file")
    os.mkfifo(root / "pipe.dcm")
    add("named pipe (FIFO) named .dcm", "pipe.dcm", None, False, "not a regular file")

    # and one good file of each main kind, which must still load among all the bad ones
    add("valid DICOM among the bad ones", "good/chest.dcm", good_bytes, True)
    add("valid PNG among the bad ones", "good/chest.png", png, True)
    return cases


def unreadable_file(root: Path) -> Case:
    """A valid PNG without read permission for anyone (binds only a process that is not root)."""
    write(root, "unreadable/secret.png", encode(".png", (chest_pixels() >> 4).astype(np.uint8)))
    path = root / "unreadable" / "secret.png"
    path.chmod(0)
    return Case("file without read permission", b"unreadable/secret.png", False, "permission denied")


def empty_files(root: Path, count: int = 10_000, suffix: str = ".dcm") -> Path:
    """``count`` empty files in one folder, made with bare system calls (fast)."""
    root.mkdir(parents=True, exist_ok=True)
    base = os.fsencode(root)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for i in range(count):
        os.close(os.open(os.path.join(base, b"%05d%s" % (i, suffix.encode())), flags, 0o644))
    return root


# -- "nothing is written into the user's folder" -------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """Every entry under a folder (links not followed): type, size, mode and mtime."""

    entries: dict[bytes, tuple[int, int, int, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path) -> Snapshot:
        entries: dict[bytes, tuple[int, int, int, int]] = {}
        base = os.fsencode(root)
        for folder, subfolders, files in os.walk(base, followlinks=False):
            for name in subfolders + files:
                full = os.path.join(folder, name)
                info = os.lstat(full)
                entries[os.path.relpath(full, base)] = (
                    stat.S_IFMT(info.st_mode), info.st_size if not stat.S_ISDIR(info.st_mode) else 0,
                    stat.S_IMODE(info.st_mode), info.st_mtime_ns,
                )
        info = os.lstat(base)
        entries[b"."] = (stat.S_IFMT(info.st_mode), 0, stat.S_IMODE(info.st_mode), info.st_mtime_ns)
        return cls(entries)

    def difference(self, other: Snapshot) -> list[str]:
        """What changed from ``self`` to ``other``, in words (empty when nothing did)."""
        out = []
        for name in sorted(set(self.entries) | set(other.entries)):
            before, after = self.entries.get(name), other.entries.get(name)
            if before != after:
                shown = os.fsdecode(name)
                if before is None:
                    out.append(f"new: {shown}")
                elif after is None:
                    out.append(f"removed: {shown}")
                else:
                    out.append(f"changed: {shown} {before} -> {after}")
        return out
