"""``python -m trainer`` and the ``cxr-train`` console script."""

from __future__ import annotations

import sys

from .cli import main as _main


def main() -> None:
    """Entry point: run the command line and exit with its status."""
    sys.exit(_main())


if __name__ == "__main__":
    main()
