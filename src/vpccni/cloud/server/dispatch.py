"""One EC2 request, from its decoded parameters to its XML response: the action table and its rules."""

from __future__ import annotations

from collections.abc import Mapping

from vpccni.cloud.errors import make_error
from vpccni.cloud.server import change_ops, describe_ops, model, query, xmlwire
from vpccni.cloud.server.operations import Call, Operation

OPERATIONS: dict[str, Operation] = {o.name: o for o in (*describe_ops.OPERATIONS, *change_ops.OPERATIONS)}
ALWAYS_ACCEPTED = frozenset({"DryRun"})


def run_action(action: str, params: Mapping[str, str], call: Call) -> bytes:
    """The XML answer to `action`; every failure is an Ec2Error carrying EC2's code and HTTP status."""
    operation = OPERATIONS.get(action)
    if operation is None:
        hint = " (vpccni cloud serve does not implement it)" if model.is_ec2_action(action) else ""
        raise make_error("InvalidAction", f"The action {action} is not valid for this web service{hint}.")
    shape = model.operation(action)
    inputs = query.decode(shape.input_shape, params)
    unsupported = set(inputs) - operation.uses - operation.ignores - ALWAYS_ACCEPTED
    if unsupported:
        members = shape.input_shape.members  # type: ignore[union-attr]
        names = ", ".join(sorted(model.wire_name(members[m], m) for m in unsupported))
        raise make_error("UnsupportedOperation", f"vpccni cloud serve does not model {names} of {action}")
    if inputs.get("DryRun"):
        raise make_error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)
    data = operation.run(call, inputs)
    return xmlwire.response_document(action, shape.output_shape, data, call.request_id)
