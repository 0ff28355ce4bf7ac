"""Which ONNX Runtime is installed: exactly one distribution must provide the ``onnxruntime`` module.

ONNX Runtime ships as several distributions (``onnxruntime`` for the CPU, ``onnxruntime-gpu``
for CUDA, and others) that all install the same ``onnxruntime`` package into the same folder.
Two of them side by side overwrite each other's files, and uninstalling one breaks the other,
so pip alone cannot put the GPU build "beside" the CPU one. The viewer therefore depends on no
runtime itself: its ``cpu`` and ``gpu`` extras each bring one (``./run`` installs ``cpu``, or
the one ``CXR_RUNTIME`` names), and this module tells the user, in one line with the fix, when
there is none or more than one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterable

# Every distribution that installs the ``onnxruntime`` module (PyPI names, normalised).
RUNTIME_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-qnn",
    "onnxruntime-silicon",
    "onnxruntime-rocm",
    "onnxruntime-training",
)
INSTALL_HINT = "pip install 'cxr-viewer[cpu]' (or 'cxr-viewer[gpu]' for an NVIDIA GPU with CUDA)"


def _normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed_runtimes(path: Iterable[str] | None = None) -> list[str]:
    """The ONNX Runtime distributions installed (on ``path``, default ``sys.path``), sorted.

    Each is looked up by name: reading every installed distribution's metadata cost ~70 ms at
    each start of the viewer, against ~2 ms for the eight names."""
    found = set()
    for name in RUNTIME_DISTRIBUTIONS:
        distributions = (importlib.metadata.Distribution.discover(name=name, path=list(path)) if path is not None
                         else importlib.metadata.Distribution.discover(name=name))
        for distribution in distributions:
            found.add(_normalised(distribution.metadata["Name"] or name))
    return sorted(found & set(RUNTIME_DISTRIBUTIONS))


def runtime_problem(path: Iterable[str] | None = None) -> str | None:
    """None when exactly one ONNX Runtime is installed; else what is wrong and how to fix it."""
    found = installed_runtimes(path)
    if not found:
        if path is None and importlib.util.find_spec("onnxruntime") is not None:
            return None  # the module without its metadata: a frozen bundle ships exactly one
        return f"ONNX Runtime is not installed: {INSTALL_HINT}"
    if len(found) > 1:
        names = " ".join(found)
        return (f"{' and '.join(found)} are installed together: they provide the same onnxruntime module and "
                f"overwrite each other's files, so the one that works is whichever was installed last. "
                f"Keep one: pip uninstall -y {names}, then {INSTALL_HINT}")
    return None


def runtime_description() -> str:
    """One line for ``--version``: the runtime installed and its providers, or what is wrong."""
    problem = runtime_problem()
    if problem is not None:
        return f"ONNX Runtime: {problem}"
    import onnxruntime

    found = installed_runtimes()
    name = found[0] if found else "onnxruntime"
    providers = ", ".join(p.removesuffix("ExecutionProvider") for p in onnxruntime.get_available_providers())
    return f"ONNX Runtime: {name} {onnxruntime.__version__} (providers: {providers})"
