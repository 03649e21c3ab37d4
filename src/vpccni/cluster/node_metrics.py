"""The metrics sink of a simulated cluster node: only the counters anything reads back.

The engine reports dozens of gauges, counters and latency observations; a cluster run reads only EC2
calls per action, failed calls per action and API errors per code. Keeping everything (as
`CountingMetrics` does, with a list per latency series) costs time on every call and memory that grows
with simulated time.
"""

from __future__ import annotations

CALLS = "awscni_ec2api_req_count"
FAILED_CALLS = "awscni_ec2api_error_count"
API_ERRORS = "awscni_aws_api_error_count"
KEPT = {CALLS: "fn", FAILED_CALLS: "fn", API_ERRORS: "error"}  # counter → the label it is kept by


class NodeCounters:
    """EC2 calls and failed calls by action (`fn`), API errors by code (`error`); everything else is dropped."""

    __slots__ = ("calls", "failed_calls", "errors", "calls_total")

    def __init__(self) -> None:
        self.calls: dict[str, float] = {}
        self.failed_calls: dict[str, float] = {}
        self.errors: dict[str, float] = {}
        self.calls_total = 0.0

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        if name == CALLS:
            fn = labels.get("fn", "")
            self.calls[fn] = self.calls.get(fn, 0.0) + amount
            self.calls_total += amount
        elif name == FAILED_CALLS:
            fn = labels.get("fn", "")
            self.failed_calls[fn] = self.failed_calls.get(fn, 0.0) + amount
        elif name == API_ERRORS:
            code = labels.get("error", "")
            self.errors[code] = self.errors.get(code, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Gauges are not read back in a cluster run."""

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Latency observations are not read back in a cluster run."""

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """A kept counter per value of its label, like `CountingMetrics.by_label` (empty for anything else)."""
        if KEPT.get(name) != label:
            return {}
        kept = {CALLS: self.calls, FAILED_CALLS: self.failed_calls, API_ERRORS: self.errors}[name]
        return dict(kept)
