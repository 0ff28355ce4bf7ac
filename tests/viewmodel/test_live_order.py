"""When the browser's changing order is taken again: never under the pointer, at a pause."""

from __future__ import annotations

from viewer.viewmodel.live_order import LiveOrder


def test_nothing_is_due_until_keys_change() -> None:
    live = LiveOrder(pause=1.0, interval=2.0)
    assert live.due_in(100.0) is None
    live.keys_changed()
    assert live.stale and live.due_in(100.0) == 0.0  # the pointer was never on the list
    live.applied(100.0)
    assert not live.stale and live.due_in(100.5) is None


def test_the_order_waits_while_the_pointer_is_on_the_list_and_a_pause_after_it_leaves() -> None:
    live = LiveOrder(pause=1.0, interval=2.0)
    live.pointer_entered()
    live.keys_changed()
    assert live.due_in(10.0) is None and live.due_in(1000.0) is None  # however long it rests there
    live.pointer_left(50.0)
    assert live.due_in(50.0) == 1.0 and live.due_in(50.25) == 0.75 and live.due_in(51.0) == 0.0
    live.pointer_entered()  # back before the pause ended: wait again
    assert live.due_in(50.5) is None


def test_while_results_keep_coming_the_order_is_taken_at_most_once_an_interval() -> None:
    live = LiveOrder(pause=1.0, interval=2.0)
    live.keys_changed()
    live.applied(20.0)
    live.keys_changed()
    assert live.due_in(20.5) == 1.5 and live.due_in(22.0) == 0.0
