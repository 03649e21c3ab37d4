"""Warnings of the engines a simulation runs, digested for a person: the first few of each kind are shown, the
rest counted and reported once at the end.

A throttle-bound cluster's engines warn on every failed EC2 call ("attaching eni-… failed (RequestLimitExceeded);
deleting it"): tens of thousands of lines at 1,000 nodes, which bury the summary and hide what kinds of trouble
there were. A kind is the logger's message template (its text before arguments are filled in).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SHOWN_PER_KIND = 3


class RepeatDigest(logging.Handler):
    """Shows the first `shown` records of each message template through `show`; counts the others."""

    def __init__(self, show: Callable[[str], None], shown: int = SHOWN_PER_KIND) -> None:
        super().__init__(logging.WARNING)
        self.show = show
        self.shown = shown
        self.seen: dict[tuple[str, int, str], int] = {}
        self.examples: dict[tuple[str, int, str], str] = {}
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        kind = (record.name, record.levelno, str(record.msg))
        count = self.seen.get(kind, 0) + 1
        self.seen[kind] = count
        if count <= self.shown:
            try:
                text = self.format(record)
            except Exception:  # a record whose arguments do not fit its message: logging's own report of it
                self.handleError(record)
                return
            self.examples[kind] = text
            self.show(text)

    def not_shown(self) -> list[str]:
        """One line per kind that had more records than were shown, most frequent first."""
        extra = [(count - self.shown, kind) for kind, count in self.seen.items() if count > self.shown]
        extra.sort(key=lambda item: -item[0])
        return [f"… {hidden:,} more like: {self.examples.get(kind, kind[2])}" for hidden, kind in extra]


@contextmanager
def digested_warnings(show: Callable[[str], None], logger: str = "vpccni") -> Iterator[RepeatDigest]:
    """Route `logger`'s warnings through a `RepeatDigest` while the block runs, then show what was not shown.

    The logger stops propagating meanwhile, so the same lines are not also printed by Python's last-resort
    handler or a root handler; propagation is put back afterwards. Levels are left as configured.
    """
    target = logging.getLogger(logger)
    digest = RepeatDigest(show)
    propagate = target.propagate
    target.addHandler(digest)
    target.propagate = False
    try:
        yield digest
    finally:
        target.removeHandler(digest)
        target.propagate = propagate
        for line in digest.not_shown():
            show(line)
