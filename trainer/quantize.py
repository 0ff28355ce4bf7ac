"""``python -m trainer.quantize``: the earlier name of ``cxr-train quantize``, kept for scripts.

    python -m trainer.quantize MODEL.onnx --data DIR --out DIR [--split SPLIT.csv] [--images 64]

The same arguments and output as ``cxr-train quantize``; an expected problem is one
``error: ...`` line on stderr and exit status 1, as this command always printed it. The int8
code itself is ``trainer.export.int8``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from viewer.core.errors import CxrError
from viewer.core.process_settings import configure_process

from .cli import EXIT_ERROR, add_quantize_options, run_quantize

DESCRIPTION = "An int8 classifier for the CPU: static QDQ quantisation of an exported pair, same answers."


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    configure_process()
    parser = argparse.ArgumentParser(prog="python -m trainer.quantize", description=DESCRIPTION)
    add_quantize_options(parser)
    args = parser.parse_args(argv)
    try:
        return run_quantize(args)
    except CxrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
