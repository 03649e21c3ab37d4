"""A scenario's `expect:` block checked against a run's summary.

Keys are summary fields, dotted for nested ones (`errors.InsufficientFreeAddressesInSubnet`,
`autoscaler.scale_ups`); a value is either exact or a range `{min: A, max: B}`.
"""

from __future__ import annotations

from typing import Any


def check(summary: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """Every way `summary` misses `expect`, one line each (empty: all met)."""
    problems = []
    for path, wanted in expect.items():
        value: Any = summary
        for part in path.split("."):
            value = value.get(part, 0) if isinstance(value, dict) else None
        if isinstance(wanted, dict) and wanted and set(wanted) <= {"min", "max"}:
            low, high = wanted.get("min"), wanted.get("max")
            if not isinstance(value, int | float):
                problems.append(f"{path}: expected a number in [{low}, {high}], got {value!r}")
            elif (low is not None and value < low) or (high is not None and value > high):
                problems.append(
                    f"{path}: expected {'≥ ' + str(low) if low is not None else ''}"
                    f"{' and ' if low is not None and high is not None else ''}"
                    f"{'≤ ' + str(high) if high is not None else ''}, got {value}"
                )
        elif value != wanted:
            problems.append(f"{path}: expected {wanted!r}, got {value!r}")
    return problems


# Summary fields whose keys depend on what happened (error codes, API actions): any key below them is valid.
OPEN_ENDED = frozenset({"errors", "ec2_calls"})


def unknown_keys(expect: dict[str, Any], template: dict[str, Any]) -> list[str]:
    """The `expect:` paths no summary can have (`pods_runing`), checked against a summary's shape before the run."""
    wrong = []
    for path in expect:
        node: Any = template
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if depth and parts[depth - 1] in OPEN_ENDED and depth == 1:
                break
            if not isinstance(node, dict) or part not in node:
                wrong.append(path)
                break
            node = node[part]
    return wrong
