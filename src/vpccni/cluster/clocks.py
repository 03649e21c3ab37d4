"""Timelines of the cluster simulation.

The world clock jumps from event to event. Each node has its own timeline, which starts at the event
time and moves on with that node's waits (EC2 latency, attach waits), so one node's multi-step action
does not stall the rest of the cluster. The simulated cloud reads whichever timeline is acting now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vpccni.cloud.clock import VirtualClock


class Timeline(VirtualClock):
    """A virtual clock for the single-threaded simulation: no lock taken on every read, sleep and jump."""

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

    def advance_to(self, when: float) -> None:
        """Jump forward to `when` (never backward)."""
        if when > self._now:
            self._now = when


class LocalClock(Timeline):
    """A node's (or the autoscaler's) own timeline."""


class ActingClock:
    """The cloud's clock: delegates to the timeline of whoever is calling right now."""

    def __init__(self, world: Timeline) -> None:
        self.world = world
        self.current: Timeline = world  # a Timeline, not any Clock: compiled, its now() and sleep() are native calls

    @property
    def epoch(self) -> float:
        return self.world.epoch

    def now(self) -> float:
        return self.current.now()

    def sleep(self, seconds: float) -> None:
        self.current.sleep(seconds)

    def acting(self, clock: LocalClock) -> _Acting:
        return _Acting(self, clock)


class _Acting:
    def __init__(self, owner: ActingClock, clock: LocalClock) -> None:
        self.owner, self.clock = owner, clock

    def __enter__(self) -> LocalClock:
        self.clock.advance_to(self.owner.world.now())
        self.previous = self.owner.current
        self.owner.current = self.clock
        return self.clock

    def __exit__(self, *exc: Any) -> None:
        self.owner.current = self.previous


class _Event:
    """One scheduled action; ordered by time, then by scheduling order (compiled: the heap compares natively)."""

    __slots__ = ("when", "seq", "action")

    def __init__(self, when: float, seq: int, action: Callable[[], None]) -> None:
        self.when = when
        self.seq = seq
        self.action = action


def _before(a: _Event, b: _Event) -> bool:
    return a.when < b.when or (a.when == b.when and a.seq < b.seq)


# The binary heap written out here, not heapq: compiled, each comparison reads two events' fields natively, where
# heapq would call back into `__lt__` through the generic comparison (a third of the queue's cost). The order is
# heapq's: (when, seq) is unique, so any heap pops the same sequence.
def _push(heap: list[_Event], event: _Event) -> None:
    heap.append(event)
    pos = len(heap) - 1
    while pos > 0:
        parent_pos = (pos - 1) >> 1
        parent = heap[parent_pos]
        if not _before(event, parent):
            break
        heap[pos] = parent
        pos = parent_pos
    heap[pos] = event


def _pop(heap: list[_Event]) -> _Event:
    last = heap.pop()
    if not heap:
        return last
    top = heap[0]
    size = len(heap)
    pos = 0
    child = 1
    while child < size:
        smaller = heap[child]
        right = child + 1
        if right < size and _before(heap[right], smaller):
            child = right
            smaller = heap[right]
        if not _before(smaller, last):
            break
        heap[pos] = smaller
        pos = child
        child = 2 * pos + 1
    heap[pos] = last
    return top


class EventQueue:
    """Events in time order; equal times run in the order they were scheduled (deterministic)."""

    def __init__(self) -> None:
        self._heap: list[_Event] = []
        self._seq = 0
        self.processed = 0

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._seq += 1
        _push(self._heap, _Event(when, self._seq, action))

    def pop_until(self, end: float) -> tuple[float, Callable[[], None]] | None:
        """The next event if it is due at or before `end` (None otherwise, the event stays queued)."""
        heap = self._heap
        if not heap or heap[0].when > end:
            return None
        event = _pop(heap)
        self.processed += 1
        return event.when, event.action

    def pop(self) -> tuple[float, Callable[[], None]] | None:
        if not self._heap:
            return None
        event = _pop(self._heap)
        self.processed += 1
        return event.when, event.action

    def peek_time(self) -> float | None:
        return self._heap[0].when if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
