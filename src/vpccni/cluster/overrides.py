"""`--set PATH=VALUE` overrides of a scenario's data, applied before validation so the same schema checks them.

A path is dotted: mapping keys by name, list items by their `name` (node groups, subnets, deployments, runs,
jobs, arrivals) or by index (`actions.0.at`). Values are read as YAML scalars (`8` is a number, `"8"` and
`true` as YAML reads them); ipamd settings are strings whatever their form, as the schema makes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

_SETTING = re.compile(r"([^=]+)=(.*)", re.DOTALL)


class OverrideError(ValueError):
    """An override that names nothing in the scenario, or is not PATH=VALUE."""


def parse(text: str) -> tuple[list[str], Any]:
    match = _SETTING.fullmatch(text)
    if not match or not match.group(1).strip():
        raise OverrideError(f"--set {text!r}: expected PATH=VALUE, e.g. node_groups.workers.max=8")
    path = match.group(1).strip().split(".")
    if any(not part for part in path):
        raise OverrideError(f"--set {text!r}: an empty part in the path")
    try:
        value = yaml.safe_load(match.group(2)) if match.group(2).strip() else ""
    except yaml.YAMLError:
        value = match.group(2)
    return path, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """`data` with every override applied (in order); an unknown list item is an error naming the path."""
    for text in overrides:
        path, value = parse(text)
        _set(data, path, value, text)
    return data


def _set(node: Any, path: list[str], value: Any, text: str) -> None:
    for depth, part in enumerate(path[:-1]):
        node = _child(node, part, path[: depth + 1], text)
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        node[_index(node, last, path, text)] = value
    else:
        raise OverrideError(f"--set {text!r}: {'.'.join(path[:-1])} is a value, not a mapping or a list")


def _child(node: Any, part: str, where: list[str], text: str) -> Any:
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            node[part] = {}  # a field the file leaves at its default, e.g. a group's ipamd
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, where, text)]
    raise OverrideError(f"--set {text!r}: {'.'.join(where[:-1])} is a value, not a mapping or a list")


def _index(items: list[Any], part: str, where: list[str], text: str) -> int:
    for i, item in enumerate(items):
        if isinstance(item, dict) and str(item.get("name")) == part:
            return i
    if part.isdigit() and int(part) < len(items):
        return int(part)
    names = [str(i.get("name")) for i in items if isinstance(i, dict) and "name" in i]
    known = f" (known: {', '.join(names)})" if names else f" (0..{len(items) - 1})"
    raise OverrideError(f"--set {text!r}: no item {part!r} in {'.'.join(where[:-1]) or 'the scenario'}{known}")
