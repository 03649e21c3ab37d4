"""Replay EC2 events in time order into what each ENI, instance and subnet held, and when.

Only requestParameters and responseElements are read: ENIs created (by whom, for which instance), attached
(instance, device index), detached, deleted; secondary addresses and /28 prefixes assigned and unassigned;
instances launched and terminated; subnet CIDRs and free counts when a describe response shows them.
An ENI is counted for an instance while attached to it. A trail rarely starts before the nodes it shows: an
ENI first met without its creation (typically a node's primary ENI, which ipamd fills first) is taken as
attached to the instance whose role session touched it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from vpccni.trail.normalise import Ec2Event, as_int, is_cni_agent, listed, requested_from_message

PREFIX_SIZE = 16
# Events of one second arrive in no reliable order (CloudTrail times have one-second resolution, and nodes'
# calls interleave): what was held "when the subnet ran dry" is read this long after the first failure.
SETTLE_SECONDS = 10.0
TAG_INSTANCE = "node.k8s.amazonaws.com/instance_id"
CNI_DESCRIPTION = "aws-K8S-"


@dataclass
class EniRecord:
    eni_id: str
    subnet_id: str | None = None
    created_at: float | None = None
    create_event: str | None = None
    created_by: str | None = None  # agent family of the creating call
    cni: bool = False  # created by a CNI: its agent, its "aws-K8S-" description or its instance tag
    owner: str | None = None  # the instance it was created for, or last attached to
    instance_id: str | None = None  # attached to, now
    device_index: int | None = None
    attachment_id: str | None = None
    attached_at: float | None = None
    detached_at: float | None = None
    detach_event: str | None = None
    deleted_at: float | None = None
    delete_event: str | None = None
    delete_on_termination: bool = False
    assumed: bool = False  # attached by inference (met without its creation)
    addresses: set[str] = field(default_factory=set)
    anonymous: int = 0  # secondary addresses known only by count
    prefixes: set[str] = field(default_factory=set)
    anonymous_prefixes: int = 0

    @property
    def ips(self) -> int:
        return len(self.addresses) + self.anonymous

    @property
    def prefix_count(self) -> int:
        return len(self.prefixes) + self.anonymous_prefixes

    @property
    def subnet_addresses(self) -> int:
        """Addresses it takes from its subnet: its primary, its secondaries, 16 per prefix."""
        return 1 + self.ips + PREFIX_SIZE * self.prefix_count


@dataclass
class Op:
    """One address-changing call of an instance's CNI (or on its ENIs): what the findings and replay read."""

    time: float
    kind: str  # create | assign | unassign | detach | delete
    addresses: int  # secondary addresses gained or lost (requested, for a failure)
    prefixes: int
    ok: bool
    exhaustion: bool
    event_id: str
    held_before: int  # secondary addresses on the instance before the call
    prefixes_before: int
    eni_id: str | None = None


@dataclass
class InstanceRecord:
    instance_id: str
    instance_type: str | None = None
    type_source: str | None = None
    subnet_id: str | None = None
    launched_at: float | None = None
    terminated_at: float | None = None
    primary_eni: str | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    first_cni_call: float | None = None
    enis_created: int = 0
    enis_deleted: int = 0
    ips_assigned: int = 0
    ips_unassigned: int = 0
    prefixes_assigned: int = 0
    prefixes_unassigned: int = 0
    attached: set[str] = field(default_factory=set)
    series: list[tuple[float, int, int, int]] = field(default_factory=list)  # (t, ENIs, addresses, prefixes)
    ops: list[Op] = field(default_factory=list)

    def seen(self, when: float) -> None:
        self.first_seen = when if self.first_seen is None else min(self.first_seen, when)
        self.last_seen = when if self.last_seen is None else max(self.last_seen, when)


@dataclass
class SubnetRecord:
    subnet_id: str
    cidr: str | None = None
    cidr_source: str | None = None
    available: list[tuple[float, int, int]] = field(default_factory=list)  # (t, free, CNI-held then)
    enis_created: int = 0
    exhaustion_errors: int = 0
    first_exhaustion: float | None = None
    exhaustion_events: list[str] = field(default_factory=list)
    first_failed_request: int | None = None  # addresses the first failing call asked for
    held_at_first_exhaustion: int | None = None  # subnet addresses held by known ENIs and instances then
    instances_at_first_exhaustion: dict[str, tuple[int, int, int]] = field(default_factory=dict)


class Timeline:
    """Feed events in time order with `apply`; read ENIs, instances and subnets afterwards."""

    def __init__(self) -> None:
        self.enis: dict[str, EniRecord] = {}
        self.instances: dict[str, InstanceRecord] = {}
        self.subnets: dict[str, SubnetRecord] = {}
        self.attachments: dict[str, str] = {}
        self.errors_by_minute: Counter[int] = Counter()
        self.throttles_by_minute: Counter[int] = Counter()
        self.unparsed = 0
        self.start: float | None = None
        self.end: float | None = None
        self._snapshots_due: dict[str, float] = {}

    # --- lookups ------------------------------------------------------------------------------------
    def instance(self, instance_id: str, when: float) -> InstanceRecord:
        record = self.instances.get(instance_id)
        if record is None:
            record = self.instances[instance_id] = InstanceRecord(instance_id)
        record.seen(when)
        return record

    def subnet(self, subnet_id: str) -> SubnetRecord:
        record = self.subnets.get(subnet_id)
        if record is None:
            record = self.subnets[subnet_id] = SubnetRecord(subnet_id)
        return record

    def eni(self, eni_id: str) -> EniRecord:
        record = self.enis.get(eni_id)
        if record is None:
            record = self.enis[eni_id] = EniRecord(eni_id)
        return record

    def held(self, instance: InstanceRecord) -> tuple[int, int, int]:
        """(ENIs, secondary addresses, prefixes) attached to an instance now."""
        enis = [self.enis[e] for e in instance.attached]
        return len(enis), sum(e.ips for e in enis), sum(e.prefix_count for e in enis)

    def _touch(self, instance: InstanceRecord | None, when: float) -> None:
        if instance is None:
            return
        point = (when, *self.held(instance))
        if not instance.series or instance.series[-1][1:] != point[1:]:
            if instance.series and instance.series[-1][0] == when:
                instance.series[-1] = point
            else:
                instance.series.append(point)

    def _instance_of(self, eni: EniRecord) -> InstanceRecord | None:
        holder = eni.instance_id or eni.owner
        return self.instances.get(holder) if holder else None

    # --- the fold ----------------------------------------------------------------------------------
    def apply(self, event: Ec2Event) -> None:
        when = event.time
        self._take_snapshots(when)
        self.start = when if self.start is None else min(self.start, when)
        self.end = when if self.end is None else max(self.end, when)
        if not event.ok:
            self.errors_by_minute[int(when // 60)] += 1
            if event.throttled:
                self.throttles_by_minute[int(when // 60)] += 1
        caller = self.instance(event.caller_instance, when) if event.caller_instance else None
        if caller is not None and is_cni_agent(event.user_agent) and caller.first_cni_call is None:
            caller.first_cni_call = when
        handler = _HANDLERS.get(event.name)
        if handler is None:
            return
        if event.request is None:
            self.unparsed += 1
            return
        handler(self, event, caller)

    def _attach_assumed(self, eni: EniRecord, caller: InstanceRecord | None, when: float) -> None:
        """An ENI met without its creation, used by an instance's CNI: it is that instance's (attached)."""
        if eni.created_at is None and eni.instance_id is None and eni.deleted_at is None and caller is not None:
            eni.instance_id = eni.owner = caller.instance_id
            eni.assumed = True
            caller.attached.add(eni.eni_id)
            if caller.primary_eni is None:
                caller.primary_eni = eni.eni_id
                eni.device_index = 0
                eni.subnet_id = eni.subnet_id or caller.subnet_id

    def _op(
        self,
        instance: InstanceRecord | None,
        event: Ec2Event,
        kind: str,
        addresses: int,
        prefixes: int,
        eni_id: str | None,
        before: tuple[int, int, int] | None = None,
    ) -> None:
        if instance is None:
            return
        _, ips, pfx = before if before is not None else self.held(instance)
        instance.ops.append(
            Op(event.time, kind, addresses, prefixes, event.ok, event.exhaustion, event.event_id, ips, pfx, eni_id)
        )

    def _exhausted(self, subnet_id: str | None, event: Ec2Event, requested: int | None) -> None:
        if not event.exhaustion:
            return
        record = self.subnet(subnet_id or "unknown")
        record.exhaustion_errors += 1
        record.exhaustion_events.append(event.event_id)
        if record.first_exhaustion is None:
            record.first_exhaustion = event.time
            record.first_failed_request = requested_from_message(event.error_message) or requested
            self._snapshots_due[record.subnet_id] = event.time + SETTLE_SECONDS

    def _take_snapshots(self, now: float | None) -> None:
        """What the subnet's ENIs and instances held once the first failure's moment has settled."""
        for subnet_id, due in list(self._snapshots_due.items()):
            if now is not None and now <= due:
                continue
            del self._snapshots_due[subnet_id]
            record = self.subnets[subnet_id]
            record.held_at_first_exhaustion = self.subnet_held(subnet_id)
            record.instances_at_first_exhaustion = {
                i.instance_id: self.held(i) for i in self.instances.values() if self._in_subnet(i, subnet_id)
            }

    def finish(self) -> None:
        """Call after the last event: takes the snapshots still pending."""
        self._take_snapshots(None)

    def _in_subnet(self, instance: InstanceRecord, subnet_id: str) -> bool:
        if instance.subnet_id == subnet_id:
            return True
        return any(self.eni_subnet(self.enis[e]) == subnet_id for e in instance.attached)

    def eni_subnet(self, eni: EniRecord) -> str | None:
        """An ENI's subnet; for a primary ENI the trail never described, its instance's."""
        if eni.subnet_id is not None:
            return eni.subnet_id
        holder = self.instances.get(eni.instance_id or eni.owner or "")
        return holder.subnet_id if holder is not None else None

    def subnet_held(self, subnet_id: str) -> int:
        """Addresses of a subnet held by the ENIs and instances the trail knows of (others' use excluded)."""
        total = sum(
            e.subnet_addresses for e in self.enis.values() if e.deleted_at is None and self.eni_subnet(e) == subnet_id
        )
        for instance in self.instances.values():
            if instance.subnet_id == subnet_id and instance.terminated_at is None and instance.primary_eni is None:
                total += 1  # its primary address, on a primary ENI the trail never showed
        return total

    # --- instances ---------------------------------------------------------------------------------
    def _run_instances(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        request = event.request or {}
        if not event.ok:
            count = as_int(request.get("minCount")) or 1
            self._exhausted(request.get("subnetId"), event, count)
            return
        for item in listed(event.response, "instancesSet"):
            instance_id = item.get("instanceId") if isinstance(item, dict) else None
            if not instance_id:
                continue
            instance = self.instance(instance_id, event.time)
            instance.launched_at = event.time
            instance.instance_type = item.get("instanceType") or request.get("instanceType") or instance.instance_type
            if instance.instance_type:
                instance.type_source = "RunInstances"
            instance.subnet_id = item.get("subnetId") or request.get("subnetId") or instance.subnet_id
            for nic in listed(item, "networkInterfaceSet"):
                self._described_eni(nic, event.time, instance_id, launch=True)
            self._touch(instance, event.time)

    def _terminate_instances(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        if not event.ok:
            return
        for item in listed(event.request, "instancesSet"):
            instance_id = item.get("instanceId") if isinstance(item, dict) else None
            if not instance_id:
                continue
            instance = self.instance(instance_id, event.time)
            instance.terminated_at = event.time
            for eni_id in list(instance.attached):
                eni = self.enis[eni_id]
                eni.instance_id = None
                if eni.delete_on_termination or eni.device_index == 0:
                    eni.deleted_at = event.time
                else:
                    eni.detached_at = event.time
                    eni.detach_event = event.event_id
            instance.attached.clear()
            self._touch(instance, event.time)

    def _describe_instances(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        for reservation in listed(event.response, "reservationSet"):
            for item in listed(reservation, "instancesSet"):
                if not isinstance(item, dict) or not item.get("instanceId"):
                    continue
                instance = self.instance(item["instanceId"], event.time)
                if item.get("instanceType") and instance.instance_type is None:
                    instance.instance_type = item["instanceType"]
                    instance.type_source = "DescribeInstances"
                instance.subnet_id = instance.subnet_id or item.get("subnetId")
                for nic in listed(item, "networkInterfaceSet"):
                    self._described_eni(nic, event.time, item["instanceId"], launch=False)
                self._touch(instance, event.time)

    def _described_eni(self, nic: Any, when: float, instance_id: str | None, launch: bool) -> None:
        """An ENI shown whole by a response (RunInstances, Describe*): learn what the trail had not shown."""
        if not isinstance(nic, dict) or not nic.get("networkInterfaceId"):
            return
        eni = self.eni(nic["networkInterfaceId"])
        if eni.deleted_at is not None:
            return
        eni.subnet_id = eni.subnet_id or nic.get("subnetId")
        found = nic.get("attachment")
        attachment: dict[str, Any] = found if isinstance(found, dict) else {}
        attached_to = instance_id or attachment.get("instanceId")
        known = eni.created_at is not None or eni.instance_id is not None or eni.ips or eni.prefix_count
        if attached_to and (launch or not known) and attachment.get("status", "attached") != "detached":
            instance = self.instance(attached_to, when)
            eni.instance_id = eni.owner = attached_to
            eni.device_index = as_int(attachment.get("deviceIndex"))
            eni.delete_on_termination = _truthy(attachment.get("deleteOnTermination", eni.device_index == 0))
            if attachment.get("attachmentId"):
                eni.attachment_id = attachment["attachmentId"]
                self.attachments[eni.attachment_id] = eni.eni_id
            instance.attached.add(eni.eni_id)
            if eni.device_index == 0:
                instance.primary_eni = eni.eni_id
        if not known or launch:
            self._learn_addresses(eni, nic)

    def _learn_addresses(self, eni: EniRecord, nic: dict[str, Any]) -> None:
        for entry in listed(nic, "privateIpAddressesSet"):
            if isinstance(entry, dict) and entry.get("privateIpAddress") and not _truthy(entry.get("primary")):
                eni.addresses.add(entry["privateIpAddress"])
        for entry in listed(nic, "ipv4PrefixSet"):
            prefix = entry.get("ipv4Prefix") if isinstance(entry, dict) else None
            if prefix:
                eni.prefixes.add(prefix)

    # --- subnets -----------------------------------------------------------------------------------
    def _create_subnet(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        subnet = (event.response or {}).get("subnet")
        if not event.ok or not isinstance(subnet, dict) or not subnet.get("subnetId"):
            return
        record = self.subnet(subnet["subnetId"])
        cidr = subnet.get("cidrBlock") or (event.request or {}).get("cidrBlock")
        if cidr:
            record.cidr, record.cidr_source = cidr, "CreateSubnet"

    def _describe_subnets(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        for item in listed(event.response, "subnetSet"):
            if not isinstance(item, dict) or not item.get("subnetId"):
                continue
            record = self.subnet(item["subnetId"])
            if item.get("cidrBlock"):
                record.cidr, record.cidr_source = item["cidrBlock"], "DescribeSubnets"
            if item.get("availableIpAddressCount") is not None:
                free = as_int(item["availableIpAddressCount"])
                record.available.append((event.time, free, self.subnet_held(record.subnet_id)))

    def _describe_network_interfaces(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        for nic in listed(event.response, "networkInterfaceSet"):
            self._described_eni(nic, event.time, None, launch=False)

    # --- ENIs --------------------------------------------------------------------------------------
    def _create_network_interface(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        request = event.request or {}
        subnet_id = request.get("subnetId")
        wanted = as_int(request.get("secondaryPrivateIpAddressCount")) + len(listed(request, "privateIpAddressesSet"))
        prefixes = as_int(request.get("ipv4PrefixCount")) + len(listed(request, "ipv4Prefixes"))
        owner = _tag_instance(listed(request, "tagSpecificationSet")) or (caller.instance_id if caller else None)
        owner_record = self.instance(owner, event.time) if owner else None
        if not event.ok:
            self._op(owner_record, event, "create", wanted, prefixes, None)
            self._exhausted(subnet_id, event, 1 + wanted)
            return
        nic = (event.response or {}).get("networkInterface")
        if not isinstance(nic, dict) or not nic.get("networkInterfaceId"):
            self.unparsed += 1
            return
        eni = self.eni(nic["networkInterfaceId"])
        eni.subnet_id = nic.get("subnetId") or subnet_id
        eni.created_at, eni.create_event = event.time, event.event_id
        eni.created_by = event.agent
        description = str(nic.get("description") or request.get("description") or "")
        eni.owner = _tag_instance(listed(nic, "tagSet"), flat=True) or owner
        eni.cni = is_cni_agent(event.user_agent) or description.startswith(CNI_DESCRIPTION) or bool(eni.owner)
        self._learn_addresses(eni, nic)
        if not listed(nic, "privateIpAddressesSet"):
            eni.anonymous += wanted
        if not listed(nic, "ipv4PrefixSet"):
            eni.anonymous_prefixes += prefixes
        if eni.subnet_id:
            self.subnet(eni.subnet_id).enis_created += 1
        if eni.owner:
            instance = self.instance(eni.owner, event.time)
            instance.subnet_id = instance.subnet_id or eni.subnet_id  # ipamd's ENIs share the node's subnet
            instance.enis_created += 1
            instance.ips_assigned += eni.ips
            instance.prefixes_assigned += eni.prefix_count
            self._op(instance, event, "create", eni.ips, eni.prefix_count, eni.eni_id)

    def _attach_network_interface(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        request = event.request or {}
        eni_id, instance_id = request.get("networkInterfaceId"), request.get("instanceId")
        if not event.ok or not eni_id or not instance_id:
            return
        eni = self.eni(eni_id)
        instance = self.instance(instance_id, event.time)
        if eni.owner is None and eni.created_at is not None:
            instance.enis_created += 1
            instance.ips_assigned += eni.ips
            instance.prefixes_assigned += eni.prefix_count
        eni.instance_id = eni.owner = instance_id
        eni.device_index = as_int(request.get("deviceIndex"))
        eni.attached_at, eni.detached_at = event.time, None
        attachment_id = (event.response or {}).get("attachmentId")
        if attachment_id:
            eni.attachment_id = attachment_id
            self.attachments[attachment_id] = eni_id
        instance.attached.add(eni_id)
        self._touch(instance, event.time)

    def _detach_network_interface(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        attachment_id = (event.request or {}).get("attachmentId")
        eni_id = self.attachments.get(attachment_id or "")
        if not event.ok or eni_id is None:
            return
        eni = self.enis[eni_id]
        instance = self.instances.get(eni.instance_id or "")
        before = self.held(instance) if instance else None
        if instance is not None:
            instance.attached.discard(eni_id)
            instance.seen(event.time)
        eni.instance_id = None
        eni.detached_at, eni.detach_event = event.time, event.event_id
        self._op(instance, event, "detach", eni.ips, eni.prefix_count, eni_id, before)
        self._touch(instance, event.time)

    def _delete_network_interface(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        eni_id = (event.request or {}).get("networkInterfaceId")
        if not event.ok or not eni_id:
            return
        eni = self.eni(eni_id)
        eni.deleted_at, eni.delete_event = event.time, event.event_id
        instance = self._instance_of(eni)
        if instance is not None:
            instance.enis_deleted += 1
            instance.seen(event.time)
            instance.attached.discard(eni_id)
            self._op(instance, event, "delete", eni.ips, eni.prefix_count, eni_id)
        eni.instance_id = None
        self._touch(instance, event.time)

    def _modify_network_interface_attribute(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        request = event.request or {}
        attachment = request.get("attachment")
        eni_id = request.get("networkInterfaceId")
        if event.ok and eni_id and isinstance(attachment, dict) and "deleteOnTermination" in attachment:
            self.eni(eni_id).delete_on_termination = _truthy(attachment["deleteOnTermination"])

    # --- addresses ---------------------------------------------------------------------------------
    def _assign_private_ip_addresses(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        request = event.request or {}
        eni_id = request.get("networkInterfaceId")
        if not eni_id:
            self.unparsed += 1
            return
        eni = self.eni(eni_id)
        self._attach_assumed(eni, caller, event.time)
        instance = self._instance_of(eni)
        if instance is not None:
            instance.seen(event.time)
        listed_addresses = [a.get("privateIpAddress") for a in listed(request, "privateIpAddressesSet")]
        wanted = as_int(request.get("secondaryPrivateIpAddressCount")) + len(listed_addresses)
        wanted_prefixes = as_int(request.get("ipv4PrefixCount")) + len(listed(request, "ipv4Prefixes"))
        if not event.ok:
            self._op(instance, event, "assign", wanted, wanted_prefixes, eni_id)
            subnet_id = eni.subnet_id or (instance.subnet_id if instance else None)
            self._exhausted(subnet_id, event, wanted or wanted_prefixes * PREFIX_SIZE)
            return
        before = self.held(instance) if instance else None
        response = event.response or {}
        got = [
            a.get("privateIpAddress")
            for a in listed(response, "assignedPrivateIpAddressesSet", "assignedPrivateIpAddressSetType")
            if isinstance(a, dict)
        ]
        got_prefixes = [p.get("ipv4Prefix") for p in listed(response, "assignedIpv4PrefixSet") if isinstance(p, dict)]
        added = self._add(eni.addresses, got or [a for a in listed_addresses if a])
        if not got and not listed_addresses:
            eni.anonymous += wanted
            added = wanted
        added_prefixes = self._add(
            eni.prefixes, got_prefixes or [p.get("ipv4Prefix") for p in listed(request, "ipv4Prefixes")]
        )
        if not got_prefixes and not listed(request, "ipv4Prefixes"):
            eni.anonymous_prefixes += as_int(request.get("ipv4PrefixCount"))
            added_prefixes += as_int(request.get("ipv4PrefixCount"))
        if instance is not None:
            instance.ips_assigned += added
            instance.prefixes_assigned += added_prefixes
            self._op(instance, event, "assign", added, added_prefixes, eni_id, before)
            self._touch(instance, event.time)

    @staticmethod
    def _add(target: set[str], values: list[Any]) -> int:
        fresh = {v for v in values if isinstance(v, str) and v} - target
        target.update(fresh)
        return len(fresh)

    def _unassign_private_ip_addresses(self, event: Ec2Event, caller: InstanceRecord | None) -> None:
        request = event.request or {}
        eni_id = request.get("networkInterfaceId")
        if not eni_id:
            self.unparsed += 1
            return
        if not event.ok:
            return
        eni = self.eni(eni_id)
        self._attach_assumed(eni, caller, event.time)
        instance = self._instance_of(eni)
        before = self.held(instance) if instance else None
        removed = self._remove(eni, [a.get("privateIpAddress") for a in listed(request, "privateIpAddressesSet")])
        removed_prefixes = 0
        for entry in listed(request, "ipv4Prefixes"):
            prefix = entry.get("ipv4Prefix") if isinstance(entry, dict) else None
            if prefix in eni.prefixes:
                eni.prefixes.discard(prefix)
                removed_prefixes += 1
            elif prefix and eni.anonymous_prefixes:
                eni.anonymous_prefixes -= 1
                removed_prefixes += 1
        if instance is not None:
            instance.seen(event.time)
            instance.ips_unassigned += removed
            instance.prefixes_unassigned += removed_prefixes
            self._op(instance, event, "unassign", removed, removed_prefixes, eni_id, before)
            self._touch(instance, event.time)

    @staticmethod
    def _remove(eni: EniRecord, addresses: list[Any]) -> int:
        removed = 0
        for address in addresses:
            if not isinstance(address, str):
                continue
            if address in eni.addresses:
                eni.addresses.discard(address)
                removed += 1
            elif eni.anonymous:
                eni.anonymous -= 1
                removed += 1
            else:
                removed += 1  # assigned before the trail began: unassigned all the same
        return removed


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _tag_instance(specs: list[Any], flat: bool = False) -> str | None:
    """The CNI's instance tag in a tagSpecificationSet (or, flat, in a tagSet)."""
    groups = [specs] if flat else [listed(s, "tags") if isinstance(s, dict) else [] for s in specs]
    for tags in groups:
        for tag in tags:
            if isinstance(tag, dict) and tag.get("key") == TAG_INSTANCE and tag.get("value"):
                return str(tag["value"])
    return None


_HANDLERS = {
    "RunInstances": Timeline._run_instances,
    "TerminateInstances": Timeline._terminate_instances,
    "DescribeInstances": Timeline._describe_instances,
    "CreateSubnet": Timeline._create_subnet,
    "DescribeSubnets": Timeline._describe_subnets,
    "DescribeNetworkInterfaces": Timeline._describe_network_interfaces,
    "CreateNetworkInterface": Timeline._create_network_interface,
    "AttachNetworkInterface": Timeline._attach_network_interface,
    "DetachNetworkInterface": Timeline._detach_network_interface,
    "DeleteNetworkInterface": Timeline._delete_network_interface,
    "ModifyNetworkInterfaceAttribute": Timeline._modify_network_interface_attribute,
    "AssignPrivateIpAddresses": Timeline._assign_private_ip_addresses,
    "UnassignPrivateIpAddresses": Timeline._unassign_private_ip_addresses,
}
