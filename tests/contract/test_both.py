"""Contract cases both backends must pass: shapes, ids, tags, filters, attach/detach bookkeeping, NotFound codes."""

from __future__ import annotations

import re

import pytest

from tests.contract.conftest import AZ, Backend
from vpccni.cloud.errors import InUseError, InvalidRequestError, NotFoundError


def _node(backend: Backend, cidr: str = "10.0.0.0/24", instance_type: str = "m5.large") -> tuple[str, str, str]:
    api = backend.api
    vpc = api.create_vpc("10.0.0.0/16")
    subnet = api.create_subnet(vpc.vpc_id, cidr, AZ, tags={"kubernetes.io/role/cni": "1"})
    (instance,) = api.run_instances(instance_type, subnet.subnet_id)
    return vpc.vpc_id, subnet.subnet_id, instance.instance_id


def test_ids_and_subnet_shape(backend: Backend) -> None:
    vpc_id, subnet_id, instance_id = _node(backend)
    assert re.fullmatch(r"vpc-[0-9a-f]{8,17}", vpc_id)
    assert re.fullmatch(r"subnet-[0-9a-f]{8,17}", subnet_id)
    assert re.fullmatch(r"i-[0-9a-f]{8,17}", instance_id)
    (subnet,) = backend.api.describe_subnets([subnet_id])
    assert (subnet.vpc_id, subnet.availability_zone, subnet.cidr_block) == (vpc_id, AZ, "10.0.0.0/24")
    assert subnet.tags == {"kubernetes.io/role/cni": "1"}
    assert subnet.available_ip_address_count == 251 - 1


def test_instance_has_primary_eni_at_device_0(backend: Backend) -> None:
    _, subnet_id, instance_id = _node(backend)
    (instance,) = backend.api.describe_instances([instance_id])
    assert instance.instance_type == "m5.large" and instance.subnet_id == subnet_id
    (primary,) = instance.network_interfaces
    assert (primary.device_index, primary.network_card_index) == (0, 0)
    (eni,) = backend.api.describe_network_interfaces([primary.eni_id])
    assert eni.primary_ip == instance.private_ip
    assert eni.status == "in-use" and eni.attachment is not None and eni.attachment.instance_id == instance_id


def test_create_attach_modify_detach_delete(backend: Backend) -> None:
    api = backend.api
    _, subnet_id, instance_id = _node(backend)
    eni = api.create_network_interface(
        subnet_id,
        description=f"aws-K8S-{instance_id}",
        secondary_ip_count=3,
        tags={"node.k8s.amazonaws.com/instance_id": instance_id},
    )
    assert re.fullmatch(r"eni-[0-9a-f]{8,17}", eni.eni_id)
    assert eni.status == "available" and len(eni.secondary_ips) == 3 and eni.primary_ip
    assert eni.tags["node.k8s.amazonaws.com/instance_id"] == instance_id
    attachment_id = api.attach_network_interface(eni.eni_id, instance_id, device_index=1)
    assert attachment_id.startswith("eni-attach-")
    api.modify_network_interface_attribute(eni.eni_id, attachment_id=attachment_id, delete_on_termination=True)
    (described,) = api.describe_network_interfaces([eni.eni_id])
    assert described.status == "in-use"
    assert described.attachment is not None and described.attachment.device_index == 1
    if backend.cloud is not None:  # the simulator, in process or served; moto ignores the change
        assert described.attachment.delete_on_termination is True
    (instance,) = api.describe_instances([instance_id])
    assert [e.device_index for e in instance.network_interfaces] == [0, 1]
    api.detach_network_interface(attachment_id)
    if backend.clock:
        backend.clock.sleep(2.0)
    (detached,) = api.describe_network_interfaces([eni.eni_id])
    assert detached.status == "available"
    api.delete_network_interface(eni.eni_id)
    with pytest.raises(NotFoundError) as info:
        api.describe_network_interfaces([eni.eni_id])
    assert info.value.code == "InvalidNetworkInterfaceID.NotFound"
    assert eni.eni_id in info.value.message


def test_assign_and_unassign_addresses(backend: Backend) -> None:
    api = backend.api
    _, _, instance_id = _node(backend)
    (instance,) = api.describe_instances([instance_id])
    primary = instance.network_interfaces[0].eni_id
    api.assign_private_ip_addresses(primary, secondary_ip_count=4)
    (eni,) = api.describe_network_interfaces([primary])
    assert len(eni.secondary_ips) == 4 and eni.primary_ip not in eni.secondary_ips
    api.unassign_private_ip_addresses(primary, private_ip_addresses=list(eni.secondary_ips[:2]))
    (eni_after,) = api.describe_network_interfaces([primary])
    assert set(eni_after.secondary_ips) == set(eni.secondary_ips[2:])


def test_tags_and_filters(backend: Backend) -> None:
    api = backend.api
    vpc_id, subnet_id, instance_id = _node(backend)
    mine = api.create_network_interface(subnet_id, description=f"aws-K8S-{instance_id}")
    other = api.create_network_interface(subnet_id, description="something else")
    api.create_tags([mine.eni_id], {"node.k8s.amazonaws.com/instance_id": instance_id})
    found = api.describe_network_interfaces(
        filters={"tag-key": ["node.k8s.amazonaws.com/instance_id"], "status": ["available"], "vpc-id": [vpc_id]}
    )
    assert [e.eni_id for e in found] == [mine.eni_id]
    by_description = api.describe_network_interfaces(filters={"description": ["aws-K8S-*"]})
    assert [e.eni_id for e in by_description] == [mine.eni_id]
    attached = api.describe_network_interfaces(filters={"attachment.instance-id": [instance_id]})
    assert len(attached) == 1 and attached[0].eni_id not in (mine.eni_id, other.eni_id)
    api.delete_tags([mine.eni_id], ["node.k8s.amazonaws.com/instance_id"])
    assert api.describe_network_interfaces(filters={"tag-key": ["node.k8s.amazonaws.com/instance_id"]}) == []
    by_az = api.describe_subnets(filters={"vpc-id": [vpc_id], "availability-zone": [AZ]})
    assert [s.subnet_id for s in by_az] == [subnet_id]


def test_not_found_codes(backend: Backend) -> None:
    api = backend.api
    _node(backend)
    cases = [
        (lambda: api.describe_network_interfaces(["eni-0123456789abcdef0"]), "InvalidNetworkInterfaceID.NotFound"),
        (lambda: api.describe_subnets(["subnet-0123456789abcdef0"]), "InvalidSubnetID.NotFound"),
        (lambda: api.describe_instances(["i-0123456789abcdef0"]), "InvalidInstanceID.NotFound"),
        (lambda: api.delete_network_interface("eni-0123456789abcdef0"), "InvalidNetworkInterfaceID.NotFound"),
        (lambda: api.create_network_interface("subnet-0123456789abcdef0"), "InvalidSubnetID.NotFound"),
    ]
    for call, code in cases:
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.code == code


def test_primary_eni_cannot_be_detached_and_attached_eni_not_deleted(backend: Backend) -> None:
    api = backend.api
    _, subnet_id, instance_id = _node(backend)
    (instance,) = api.describe_instances([instance_id])
    with pytest.raises(InvalidRequestError) as refused:  # moto models this rule too
        api.detach_network_interface(instance.network_interfaces[0].attachment_id)
    assert refused.value.code == "OperationNotPermitted"
    eni = api.create_network_interface(subnet_id)
    api.attach_network_interface(eni.eni_id, instance_id, 1)
    if backend.cloud is None:  # moto; the simulator, in process or served, refuses (§11)
        pytest.skip("moto deletes an attached ENI (ec2 spec §11); the sim runs of this case check InUse")
    with pytest.raises(InUseError):
        api.delete_network_interface(eni.eni_id)


def test_instance_metadata_lists_attached_enis(backend: Backend) -> None:
    api = backend.api
    _, subnet_id, instance_id = _node(backend)
    eni = api.create_network_interface(subnet_id, secondary_ip_count=2)
    api.attach_network_interface(eni.eni_id, instance_id, 1)
    if backend.clock:
        backend.clock.sleep(30)
    meta = api.instance_metadata(instance_id)
    assert meta.instance_type == "m5.large"
    assert [e.device_number for e in meta.enis] == [0, 1]
    second = meta.enis[1]
    assert second.eni_id == eni.eni_id and second.local_ipv4s[0] == eni.primary_ip
    assert set(second.local_ipv4s[1:]) == set(eni.secondary_ips)
