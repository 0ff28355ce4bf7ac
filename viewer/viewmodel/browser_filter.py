"""The study browser's filter: what it says about the rows it hides.

The browser always says when rows are hidden, and by what ("0 of 5 shown: filter 'hernia'"):
a filter typed for one folder is still there when the next one opens, and an empty list
without a reason looks like an empty folder.
"""

from __future__ import annotations


def filter_status(shown: int, total: int, text: str, flagged_only: bool) -> str | None:
    """'3 of 12 shown: filter 'mass', flagged only'; None when nothing is filtered."""
    reasons = []
    text = text.strip()
    if text:
        reasons.append(f"filter '{text}'")
    if flagged_only:
        reasons.append("flagged only")
    if not reasons:
        return None
    return f"{shown} of {total} shown: {', '.join(reasons)}"
