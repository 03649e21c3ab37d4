"""EC2's Query protocol, inbound: a form-encoded request becomes typed parameters keyed by member name.

`Filter.1.Name=status&Filter.1.Value.1=available` against DescribeNetworkInterfaces' input shape becomes
`{"Filters": [{"Name": "status", "Values": ["available"]}]}` — the very dict a boto3 caller passed. Names
the model does not know, values of the wrong type and missing required members raise EC2's own errors.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape, StructureShape

from vpccni.cloud.errors import Ec2Error, make_error
from vpccni.cloud.server.model import wire_name

MAX_FIELDS = 5000
MAX_LIST_INDEX = 10000
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
# Characters XML 1.0 cannot carry (and CR, which XML parsers turn into LF): a value holding one could
# never be answered back faithfully, so it is refused on the way in.
NOT_IN_XML = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]")
Tree = dict[str, Any]  # a parameter name split at its dots: leaves are str, inner nodes dicts


def invalid(message: str) -> Ec2Error:
    return make_error("InvalidParameterValue", message)


def parse_form(text: str) -> dict[str, str]:
    """`a=1&b=2` → {"a": "1", "b": "2"}; a malformed body or a repeated name is InvalidParameterValue."""
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise invalid(f"The request is not a well-formed form-encoded query: {exc}") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise invalid(f"The parameter {name} is given more than once")
        params[name] = value
    return params


def _tree(params: Mapping[str, str]) -> Tree:
    root: Tree = {}
    for name, value in params.items():
        parts = name.split(".")
        if not all(parts):
            raise invalid(f"The parameter name '{name}' is malformed")
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise invalid(f"The parameter {'.'.join(parts[: depth + 1])} is given both as a value and as a list")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise invalid(f"The parameter {name} is given both as a value and as a list")
        node[parts[-1]] = value
    return root


def decode(shape: StructureShape | None, params: Mapping[str, str]) -> dict[str, Any]:
    """Typed input for an operation from its flat wire parameters (Action and Version already removed)."""
    tree = _tree(params)
    if shape is None:
        if tree:
            raise _unknown(next(iter(tree)))
        return {}
    return _structure(shape, tree, "")


def _unknown(path: str) -> Ec2Error:
    return make_error("UnknownParameter", f"The parameter {path} is not recognized")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _structure(shape: StructureShape, node: Tree | str, prefix: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise invalid(f"The parameter {prefix} is a structure: give its members as {prefix}.NAME")
    by_wire = {wire_name(member, name): name for name, member in shape.members.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = by_wire.get(key)
        if name is None:
            raise _unknown(_join(prefix, key))
        out[name] = _value(shape.members[name], value, _join(prefix, key))
    for name in shape.required_members:
        if name not in out:
            member_path = _join(prefix, wire_name(shape.members[name], name))
            raise make_error("MissingParameter", f"The request must contain the parameter {member_path}")
    return out


def _value(shape: Shape, node: Tree | str, path: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, node, path)  # type: ignore[arg-type]
    if kind == "list":
        if not isinstance(node, dict):
            raise invalid(f"The parameter {path} is a list: give its items as {path}.1, {path}.2, ...")
        indexed = []
        for index, item in node.items():
            if not index.isdigit() or not 1 <= int(index) <= MAX_LIST_INDEX:
                raise invalid(f"The list index in {path}.{index} must be a number from 1 to {MAX_LIST_INDEX}")
            indexed.append((int(index), item))
        member = shape.member  # type: ignore[attr-defined]
        return [_value(member, item, f"{path}.{i}") for i, item in sorted(indexed)]
    if isinstance(node, dict):
        raise _unknown(f"{path}.{next(iter(node))}")
    return _scalar(kind, node, path)


def _scalar(kind: str, text: str, path: str) -> Any:
    if kind in ("integer", "long"):
        if not _INTEGER.fullmatch(text):
            raise invalid(f"Value ({text}) for parameter {path} is invalid. Expected an integer.")
        return int(text)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise invalid(f"Value ({text}) for parameter {path} is invalid. Expected true or false.")
        return text.lower() == "true"
    if kind in ("double", "float"):
        try:
            return float(text)
        except ValueError:
            raise invalid(f"Value ({text}) for parameter {path} is invalid. Expected a number.") from None
    if NOT_IN_XML.search(text):
        raise invalid(f"Value for parameter {path} contains a control character")
    return text
