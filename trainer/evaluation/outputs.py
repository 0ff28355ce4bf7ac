"""What an evaluation command prints and writes: its Markdown table, and the same as files.

``report``'s siblings (``baselines``, ``calibrate``, ``compare``) each print a Markdown page and,
when asked, write it (``--markdown F``) and their full result as JSON (``--json F``), then say
on stderr what they wrote; this is that one tail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def print_and_write(command: str, markdown: str, result: dict[str, Any], markdown_path: str | None,
                    json_path: str | None) -> None:
    """Print ``markdown``; write it to ``markdown_path`` and ``result`` as JSON to ``json_path``
    where given; one stderr line ``cxr-train COMMAND: wrote ...`` naming the files."""
    print(markdown)
    if markdown_path:
        Path(markdown_path).write_text(markdown, encoding="utf-8")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1, allow_nan=False), encoding="utf-8")
    written = [f for f in (markdown_path, json_path) if f]
    if written:
        print(f"cxr-train {command}: wrote {' and '.join(written)}", file=sys.stderr)
