"""When a list sorted by keys that keep changing takes its order again.

While a folder is analysed in triage order, results change the images' keys many times a
second. Re-sorting at once moves rows under the user: the row under the pointer becomes
another one between aiming and clicking, and the selected row slides away. As mail clients
do, the browser keeps its rows where they are while the pointer is on the list, and takes the
new order at a pause: once the pointer has been off the list for ``PAUSE_S``, and at most once
every ``INTERVAL_S`` while results keep coming. (The selected row keeps its place on screen when
it happens; that is the widget's part.) The user can also ask for it at once.

Times are plain seconds from any monotonic clock, passed in: the rule is tested without one.
"""

from __future__ import annotations

import math

PAUSE_S = 1.0  # the pointer off the list this long before the rows move
INTERVAL_S = 1.0  # at most one re-sort this often while results arrive


class LiveOrder:
    """Whether the shown order is out of date, and when it may be brought up to date."""

    def __init__(self, pause: float = PAUSE_S, interval: float = INTERVAL_S) -> None:
        self.pause, self.interval = pause, interval
        self.stale = False  # keys changed since the order was last taken
        self.pointer_inside = False
        self._left_at = -math.inf
        self._applied_at = -math.inf

    def keys_changed(self) -> None:
        """Some rows' keys changed: the order shown may no longer be the true one."""
        self.stale = True

    def pointer_entered(self) -> None:
        self.pointer_inside = True

    def pointer_left(self, now: float) -> None:
        self.pointer_inside = False
        self._left_at = now

    def applied(self, now: float) -> None:
        """The order was taken again (at a pause, or because the user asked)."""
        self.stale = False
        self._applied_at = now

    def due_in(self, now: float) -> float | None:
        """Seconds until the order should be taken again (0: now); None while there is nothing
        to do or the pointer is on the list (a re-sort then waits for it to leave)."""
        if not self.stale or self.pointer_inside:
            return None
        return max(0.0, self._left_at + self.pause - now, self._applied_at + self.interval - now)
