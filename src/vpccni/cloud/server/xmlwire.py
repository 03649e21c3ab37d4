"""EC2's Query protocol, outbound: XML documents in EC2's namespace, written from the operation's output shape.

A response is `<ActionResponse xmlns=...><requestId>…</requestId>…members…</ActionResponse>`, lists are
`<fooSet><item>…</item></fooSet>`; an error is EC2's `<Response><Errors><Error><Code>…` document.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape, StructureShape

from vpccni.cloud.server.model import NAMESPACE, xml_name
from vpccni.cloud.server.query import NOT_IN_XML


def response_document(action: str, shape: StructureShape | None, data: dict[str, Any], request_id: str) -> bytes:
    root = ET.Element(f"{action}Response", {"xmlns": NAMESPACE})
    ET.SubElement(root, "requestId").text = request_id
    if shape is None or not shape.members:
        ET.SubElement(root, "return").text = "true"
    else:
        _members(root, shape, data)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def error_document(code: str, message: str, request_id: str) -> bytes:
    root = ET.Element("Response")
    error = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
    ET.SubElement(error, "Code").text = code
    ET.SubElement(error, "Message").text = message
    ET.SubElement(root, "RequestID").text = request_id
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _members(parent: ET.Element, shape: StructureShape, data: dict[str, Any]) -> None:
    for name, value in data.items():
        if value is None:
            continue
        member = shape.members[name]  # a KeyError here is a renderer bug: the model has no such member
        if member.type_name == "list" and member.serialization.get("flattened"):
            for item in value:
                _element(parent, xml_name(member.member, name), member.member, item)  # type: ignore[attr-defined]
        else:
            _element(parent, xml_name(member, name), member, value)


def _element(parent: ET.Element, tag: str, shape: Shape, value: Any) -> None:
    node = ET.SubElement(parent, tag)
    kind = shape.type_name
    if kind == "structure":
        _members(node, shape, value)  # type: ignore[arg-type]
    elif kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        for item in value:
            _element(node, str(member.serialization.get("name") or "item"), member, item)
    else:
        node.text = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return NOT_IN_XML.sub("\ufffd", str(value))  # input never holds these; a record from elsewhere might
