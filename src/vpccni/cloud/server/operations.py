"""What an action handler gets and declares: the caller's client on the simulated cloud, and its parameters.

Each `Operation` lists the input members its handler reads (`uses`) and those it accepts without effect
because the simulated cloud models only the network (`ignores`, e.g. RunInstances' ImageId). Any other
member of EC2's model is refused with UnsupportedOperation rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vpccni.cloud.errors import Ec2Error, make_error
from vpccni.cloud.sim import SimCloud, SimEc2


@dataclass(frozen=True)
class Call:
    """One request's view of the cloud: `ec2` calls as the request's caller (access key, user agent, address)."""

    ec2: SimEc2
    cloud: SimCloud
    request_id: str

    @property
    def owner(self) -> str:
        return self.cloud.config.account_id

    @property
    def region(self) -> str:
        return self.cloud.config.region


Handler = Callable[[Call, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    name: str
    run: Handler
    uses: frozenset[str]
    ignores: frozenset[str] = frozenset()


def op(name: str, run: Handler, uses: Sequence[str], ignores: Sequence[str] = ()) -> Operation:
    return Operation(name, run, frozenset(uses), frozenset(ignores))


def missing(parameter: str) -> Ec2Error:
    return make_error("MissingParameter", f"The request must contain the parameter {parameter}")


def invalid(message: str) -> Ec2Error:
    return make_error("InvalidParameterValue", message)


def filters_of(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """`Filters` ([{"Name", "Values"}]) as the simulated cloud takes them: {name: values}."""
    out: dict[str, list[str]] = {}
    for n, item in enumerate(params.get("Filters") or (), 1):
        name = item.get("Name")
        if not name:
            raise missing(f"Filter.{n}.Name")
        if name in out:
            raise invalid(f"The filter '{name}' is given more than once")
        values = item.get("Values") or []
        if not values:
            raise invalid(f"The filter '{name}' has no values (Filter.{n}.Value.1)")
        out[name] = list(values)
    return out


def tags_of(items: Sequence[Mapping[str, Any]] | None, where: str = "Tag") -> dict[str, str]:
    """[{"Key", "Value"}] → {key: value}; a tag without a key is MissingParameter."""
    tags: dict[str, str] = {}
    for n, item in enumerate(items or (), 1):
        key = item.get("Key")
        if not key:
            raise missing(f"{where}.{n}.Key")
        tags[key] = item.get("Value", "")
    return tags


def tag_specifications(
    params: Mapping[str, Any], action: str, applies: str, ignored: Sequence[str] = ()
) -> dict[str, str]:
    """The tags `TagSpecifications` asks for on the resource type the action creates (`applies`)."""
    tags: dict[str, str] = {}
    for n, spec in enumerate(params.get("TagSpecifications") or (), 1):
        kind = spec.get("ResourceType")
        if kind == applies:
            tags.update(tags_of(spec.get("Tags"), f"TagSpecification.{n}.Tag"))
        elif kind not in ignored:
            raise invalid(f"'{kind}' is not a valid taggable resource type for {action}")
    return tags
