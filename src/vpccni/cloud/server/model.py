"""EC2's own API model, as botocore ships it: each action's parameters and their names on the wire.

Requests are decoded and responses written from the very model botocore serialises and parses with, so
every client built on it (awscli, boto3, and the other SDKs generated from the same model) reads our XML
exactly as it reads EC2's, and a misspelt parameter is caught the way EC2 catches it.
"""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

API_VERSION = "2016-11-15"
NAMESPACE = f"http://ec2.amazonaws.com/doc/{API_VERSION}/"


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ec2", api_version=API_VERSION)


@cache
def _operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def is_ec2_action(action: str) -> bool:
    return action in _operation_names()


def operation(action: str) -> OperationModel:
    return service_model().operation_model(action)


def wire_name(shape: Shape, member_name: str) -> str:
    """A request member's name on the wire: EC2 capitalises the locationName (botocore's EC2Serializer rule)."""
    if "queryName" in shape.serialization:
        return str(shape.serialization["queryName"])
    name = shape.serialization.get("name")
    if name:
        return str(name[0].upper() + name[1:])
    return member_name


def xml_name(shape: Shape, member_name: str) -> str:
    """A response member's element name: its locationName (e.g. networkInterfaceSet), else the member name."""
    return str(shape.serialization.get("name") or member_name)
