"""The PyInstaller bundle, built from viewer.spec and run the way a workstation runs it.

The bundle is built once per session into a temporary folder (or, when ``CXR_BUNDLE_DIST``
names an already built ``dist/`` folder, that one is used), then copied to a path with spaces
and non-ASCII characters and run from there with a clean environment: no virtualenv, no
PYTHONPATH, HOME and the caches in a temporary folder, ``QT_QPA_PLATFORM=offscreen``, and, where
the machine allows it (root, util-linux ``unshare``), in a network namespace with no network.

Oracles: the demo image as the source install decodes and windows it (the screenshot's canvas
must match it, and must not match it flipped, mirrored or inverted), and the source install's own
batch on the same five files (the frozen batch must give the same probabilities).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.bundle]

ROOT = Path(__file__).resolve().parents[1]
APP = "cxr-viewer"
EXE_NAME = APP + (".exe" if sys.platform == "win32" else "")
MAX_BUNDLE_MIB = 350  # the target in docs/design.md, on disk
# A frozen app must not need these to find its own files.
LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "QT_PLUGIN_PATH",
                   "QT_QPA_PLATFORM_PLUGIN_PATH", "PYTHONSTARTUP")
RUN_TIMEOUT = 300


# -- building and running ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def built_dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``dist/`` holding ``cxr-viewer/``: CI's build when CXR_BUNDLE_DIST names it, else built here
    (and deleted after the session: 300 MB)."""
    given = os.environ.get("CXR_BUNDLE_DIST")
    if given:
        dist = Path(given)
        assert (dist / APP / EXE_NAME).is_file(), f"CXR_BUNDLE_DIST={given} holds no {APP}/{EXE_NAME}"
        yield dist
        return
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.fail("PyInstaller is not installed: pip install -e '.[bundle]' (./run test does), "
                    "or deselect these tests with -m 'not bundle'")
    base = tmp_path_factory.mktemp("bundle-build")
    dist, work = base / "dist", base / "build"
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(dist), "--workpath", str(work),
         str(ROOT / "viewer.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert result.returncode == 0, f"pyinstaller viewer.spec failed:\n{result.stderr[-6000:]}"
    yield dist
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def bundle(built_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The app folder, copied to a path with spaces and non-ASCII characters."""
    base = tmp_path_factory.mktemp("bundle-run")
    target = base / "Radiologie – Bildbetrachter ü é 日本" / APP
    shutil.copytree(built_dist / APP, target, symlinks=True)
    yield target
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _offline_prefix() -> list[str]:
    """``unshare -n`` (a network namespace with no network) where the machine allows it."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    return ["unshare", "-n", "--"] if probe.returncode == 0 else []


OFFLINE = _offline_prefix()


def run_app(bundle: Path, home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY_VARIABLES and not k.startswith("CXR_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), XDG_CONFIG_HOME=str(home / "config"),
               QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([*OFFLINE, str(bundle / EXE_NAME), *args], cwd=cwd or home, env=env,
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=RUN_TIMEOUT)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def assert_nothing_phoned_home(home: Path) -> None:
    """ONNX Runtime >= 1.29 writes a device id and queues telemetry under the cache unless disabled."""
    leftovers = [p for p in home.rglob("*") if "Microsoft" in p.parts or "onnxruntime" in p.name.lower()]
    assert not leftovers, f"ONNX Runtime telemetry files were written: {leftovers[:5]}"


# -- what is (not) inside ------------------------------------------------------------------------
def _pyz_modules(exe: Path) -> set[str]:
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(exe))
    return set(archive.open_embedded_archive("PYZ.pyz").toc)


def test_no_torch_no_trainer_in_the_bundle(built_dist: Path) -> None:
    app = built_dist / APP
    files = [p.relative_to(app) for p in app.rglob("*")]
    torch_files = [str(p) for p in files
                   if {"torch", "torchvision", "trainer", "functorch", "triton", "nvidia"} & set(p.parts)
                   or p.name.startswith(("libtorch", "libc10", "libcudnn", "libcublas", "libnccl"))]
    assert not torch_files, f"torch or the trainer is in the bundle: {torch_files[:10]}"
    modules = _pyz_modules(app / EXE_NAME)
    assert {"viewer.__main__", "viewer.core.loader", "viewer.ui.app"} <= modules  # the check can see modules
    shipped = sorted(m for m in modules if m.split(".")[0] in {"torch", "torchvision", "trainer", "onnx", "scipy"})
    assert not shipped, f"modules that must not ship: {shipped[:10]}"


def _disk_usage(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            total += getattr(stat, "st_blocks", 0) * 512 or stat.st_size
    return total


def test_bundle_size_and_what_was_removed(built_dist: Path) -> None:
    app = built_dist / APP
    size_mib = _disk_usage(app) / 2**20
    assert size_mib <= MAX_BUNDLE_MIB, f"the bundle takes {size_mib:.0f} MiB on disk (target {MAX_BUNDLE_MIB})"
    internal = app / "_internal"
    names = {p.name for p in internal.rglob("*")}
    # Each of these was in the first build; the spec removes them (docs/bundle.md says why).
    assert not any(n.startswith(("libQt6Quick", "libQt6Qml", "libQt6Network", "libQt6Svg")) for n in names)
    assert not any(n.startswith("libonnxruntime.so") for n in names), "ORT's C-API library is unused"
    assert not (internal / "PySide6" / "Qt" / "translations").exists()
    assert not any(n.startswith(("libvpx", "libswresample", "libssl", "libcrypto")) for n in names)
    if sys.platform.startswith("linux"):
        libs = internal / "opencv_python_headless.libs"
        stubs = [p for p in libs.iterdir()
                 if p.name.startswith(("libavcodec-", "libavformat-", "libavutil-", "libswscale-", "libopenblas"))]
        assert len(stubs) == 5 and all(p.stat().st_size < 200_000 for p in stubs), "FFmpeg/OpenBLAS: stubs"
        assert not any(p.name.startswith(("libgfortran", "libquadmath")) for p in libs.iterdir())
    # ...while what the viewer does use is there: the demo data, the decoders' metadata, the icon.
    assert (internal / "data_store" / "data" / "RG1_UNCR.dcm").is_file()
    assert (internal / "data_store" / "data" / "RG1_J2KR.dcm").is_file()
    assert len(list((internal / "data_store" / "data").iterdir())) == 2, "only the demo's two files ship"
    assert any(n.startswith("pylibjpeg_openjpeg-") and n.endswith(".dist-info") for n in names)
    assert (internal / "resources" / "icons" / "cxr-viewer.png").is_file()
    for model in sorted((ROOT / "resources" / "models").glob("*.onnx")):
        assert (internal / "resources" / "models" / model.name).is_file(), f"{model.name} is not bundled"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ldd is Linux's")
def test_every_bundled_library_finds_its_dependencies(built_dist: Path) -> None:
    """Every .so resolves its DT_NEEDED inside the bundle or from the base system (as on a workstation)."""
    internal = built_dist / APP / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))  # what the bootloader sets
    unresolved = []
    for path in sorted(internal.rglob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        unresolved += [f"{path.relative_to(internal)}: {line.split()[0]}" for line in out.splitlines()
                       if "not found" in line]
    assert not unresolved, ("libraries that cannot load (install them on the build machine so the bundle "
                            "carries them):\n" + "\n".join(unresolved[:20]))


# -- running it -----------------------------------------------------------------------------------
def test_version_names_the_app_and_its_model(bundle: Path, home: Path) -> None:
    from viewer import __version__

    result = run_app(bundle, home, "--version")
    assert_ok(result)
    assert f"{APP} {__version__}" in result.stdout
    demo = ROOT / "resources" / "models" / "demo.onnx"
    if demo.is_file():
        from viewer.core.onnx_card import read_card

        assert read_card(demo).name in result.stdout
    else:
        assert "no model" in result.stdout
    assert_nothing_phoned_home(home)


def _high_pass(image: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    import cv2

    return image - cv2.GaussianBlur(image, (0, 0), sigma)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float(a @ b / math.sqrt(float(a @ a) * float(b @ b) + 1e-12))


def find_image(screenshot: np.ndarray, image: np.ndarray) -> tuple[float, tuple[int, int, int, int]]:
    """Where ``image`` is drawn in ``screenshot`` (both grey float32), searched over positions and
    over sizes from half the screenshot's height up: (correlation of fine detail, (x, y, w, h)).

    Fine detail (a high-pass) is compared so that a heatmap blended over the image, or a
    different grey-level curve, does not hide it; small sizes are not searched, so the study
    browser's thumbnails cannot stand in for the canvas."""
    import cv2

    shot = _high_pass(screenshot)
    height, width = screenshot.shape
    aspect = image.shape[1] / image.shape[0]
    best = (-1.0, (0, 0, 0, 0))
    for h in range(height // 2, height + 1, 2):
        w = int(round(h * aspect))
        if w > width:
            break
        template = _high_pass(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))
        scores = cv2.matchTemplate(shot, template, cv2.TM_CCOEFF_NORMED)
        _, score, _, (x, y) = cv2.minMaxLoc(scores)
        if score > best[0]:
            best = (float(score), (x, y, w, h))
    return best


def score_at(screenshot: np.ndarray, image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    import cv2

    x, y, w, h = box
    drawn = _high_pass(screenshot)[y:y + h, x:x + w]
    return _correlation(drawn, _high_pass(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)))


def demo_image() -> np.ndarray:
    """The demo radiograph as the source install shows it: white = dense, in [0, 1]."""
    import data_store

    from viewer.core.display_transforms import to_unit_grey
    from viewer.core.loader import load_radiograph

    path = Path(data_store.__file__).parent / "data" / "RG1_UNCR.dcm"
    return to_unit_grey(load_radiograph(path)).astype(np.float32)


def test_demo_screenshot_shows_the_demo_image(bundle: Path, home: Path, tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "demo screenshot ü.png"
    result = run_app(bundle, home, "--demo", "--screenshot", str(out))
    assert_ok(result)
    assert out.is_file(), f"no screenshot at {out}\n{result.stderr[-2000:]}"
    shot = cv2.imread(os.fsdecode(out), cv2.IMREAD_GRAYSCALE)
    assert shot is not None and shot.shape[0] >= 400 and shot.shape[1] >= 600
    shot = cv2.resize(shot.astype(np.float32) / 255, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    image = cv2.resize(demo_image(), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    score, box = find_image(shot, image)
    assert score >= 0.45, f"the canvas does not show the demo image (best match {score:.2f} at {box})"
    # The same check fails for a wrong picture at that place: upside down, mirrored, inverted.
    for name, wrong in (("flipped", image[::-1]), ("mirrored", image[:, ::-1]), ("inverted", 1 - image)):
        assert score_at(shot, np.ascontiguousarray(wrong), box) < score - 0.25, f"{name} matches as well"
    assert_nothing_phoned_home(home)


# -- batch on the five kinds of file ---------------------------------------------------------------
def _jpeg_baseline_dicom(path: Path, image: np.ndarray) -> None:
    """``image`` (uint8) as a JPEG-baseline (1.2.840.10008.1.2.4.50) DICOM: a JPEG that OpenCV
    encodes, in encapsulated pixel data."""
    import cv2
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image for Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName, ds.Modality = "BUNDLE-TEST", "Test^Bundle", "DX"  # not a word of a file name
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = image.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([jpeg.tobytes()])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="session")
def five_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uncompressed DICOM, a JPEG 2000 DICOM, a JPEG-baseline DICOM, a PNG and a broken file."""
    import cv2
    import data_store
    import pydicom

    folder = tmp_path_factory.mktemp("batch") / "Studien mit Leerzeichen ä"
    folder.mkdir()
    data = Path(data_store.__file__).parent / "data"
    shutil.copyfile(data / "RG1_UNCR.dcm", folder / "uncompressed.dcm")
    shutil.copyfile(data / "RG1_J2KR.dcm", folder / "jpeg2000.dcm")
    grey8 = np.clip(demo_image() * 255, 0, 255).astype(np.uint8)
    small = cv2.resize(grey8, (512, 544), interpolation=cv2.INTER_AREA)
    _jpeg_baseline_dicom(folder / "jpeg-baseline.dcm", small)
    assert pydicom.dcmread(folder / "jpeg-baseline.dcm").file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert cv2.imwrite(os.fsdecode(folder / "radiograph.png"), small[::2, ::2])
    # A DICOM cut off in its pixel data: the header reads, the image cannot.
    (folder / "broken.dcm").write_bytes((data / "RG1_UNCR.dcm").read_bytes()[:4000])
    return folder


@pytest.fixture(scope="session")
def tiny_model_pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.factories import make_model_pair

    return make_model_pair(tmp_path_factory.mktemp("model") / "Modell ö", name="tiny")


def _read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["Image Index"]: row for row in csv.DictReader(handle)}


def test_batch_gives_four_ok_rows_and_one_clear_error(bundle: Path, home: Path, five_files: Path,
                                                      tiny_model_pair: Path, tmp_path: Path) -> None:
    out = tmp_path / "results ü.csv"
    before = sorted(p.name for p in five_files.iterdir())
    result = run_app(bundle, home, "batch", str(five_files), "--out", str(out), "--model", str(tiny_model_pair))
    assert_ok(result)
    rows = _read_rows(out)
    assert sorted(rows) == sorted(before), "one row per file"
    ok = {name for name, row in rows.items() if row["status"] == "ok"}
    assert ok == {"uncompressed.dcm", "jpeg2000.dcm", "jpeg-baseline.dcm", "radiograph.png"}, rows
    broken = rows["broken.dcm"]
    assert broken["status"] == "error"
    assert len(broken["error"]) > 20 and "Traceback" not in broken["error"], broken["error"]
    assert sorted(p.name for p in five_files.iterdir()) == before, "nothing is written next to the images"

    prob_columns = [c for c in rows["radiograph.png"] if c.startswith("prob_")]
    assert len(prob_columns) == 14
    for name in ok:
        values = [float(rows[name][c]) for c in prob_columns]
        assert all(0.0 <= v <= 1.0 for v in values), (name, values)
    # The lossless JPEG 2000 file is the uncompressed image: the same findings.
    for column in prob_columns:
        assert float(rows["jpeg2000.dcm"][column]) == pytest.approx(float(rows["uncompressed.dcm"][column]), abs=1e-5)

    # Oracle: the source install's batch on the same files gives the same numbers.
    from viewer.core.batch import run_batch

    reference = tmp_path / "reference.csv"
    run_batch(five_files, reference, tiny_model_pair, False)
    expected = _read_rows(reference)
    for name in ok:
        for column in prob_columns:
            assert float(rows[name][column]) == pytest.approx(float(expected[name][column]), abs=1e-5), (name, column)
    assert rows["broken.dcm"]["error"] == expected["broken.dcm"]["error"]
    assert_nothing_phoned_home(home)


def test_opening_a_folder_shows_its_image(bundle: Path, home: Path, five_files: Path,
                                          tiny_model_pair: Path, tmp_path: Path) -> None:
    """``cxr-viewer FOLDER``: the JPEG-baseline DICOM (the demo image, re-encoded) is on the canvas."""
    import cv2

    folder = tmp_path / "Ordner ø"
    folder.mkdir()
    shutil.copyfile(five_files / "jpeg-baseline.dcm", folder / "jpeg-baseline.dcm")
    out = tmp_path / "folder.png"
    result = run_app(bundle, home, str(folder), "--model", str(tiny_model_pair), "--screenshot", str(out))
    assert_ok(result)
    shot = cv2.imread(os.fsdecode(out), cv2.IMREAD_GRAYSCALE)
    assert shot is not None, f"no screenshot at {out}"
    shot = cv2.resize(shot.astype(np.float32) / 255, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    image = cv2.resize(demo_image(), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    score, box = find_image(shot, image)
    assert score >= 0.45, f"the canvas does not show the folder's image (best match {score:.2f} at {box})"


def test_a_folder_big_enough_for_the_analysis_process_starts_the_worker_not_a_second_app(
        bundle: Path, home: Path, five_files: Path, tiny_model_pair: Path, tmp_path: Path) -> None:
    """The folder analysis's worker is the frozen executable started again with multiprocessing's
    arguments: without ``freeze_support`` it would run the command line, which refuses them
    ("unrecognized arguments") on the shared stderr, and the folder would go unanalysed."""
    from viewer.core.analysis_pool import PROCESS_FROM

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(PROCESS_FROM + 8):
        shutil.copyfile(five_files / "radiograph.png", folder / f"{i:03d}.png")
    out = tmp_path / "many.png"
    result = run_app(bundle, home, str(folder), "--model", str(tiny_model_pair), "--screenshot", str(out))
    assert_ok(result)
    assert out.is_file()
    assert "unrecognized arguments" not in result.stderr and "usage:" not in result.stderr, result.stderr[-3000:]
    assert "folder analysis:" not in result.stderr, result.stderr[-3000:]
