"""`SimEc2`: the simulated EC2 API, one client (caller identity) over a shared SimCloud.

Every call is throttled per action, takes its latency on the injected clock, is recorded in the
CloudTrail log (failures and throttled attempts too), and changes nothing when it fails. The client
retries throttling and 5xx errors like botocore's standard mode (≤ 10 attempts, full-jitter back-off).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, TypeVar

from vpccni import __version__, catalog
from vpccni.cloud.errors import Ec2Error, ThrottlingError, make_error
from vpccni.cloud.records import (
    AssignResult,
    Attachment,
    AvailabilityZone,
    Filters,
    Instance,
    InstanceEni,
    InstanceMetadata,
    InstanceTypeInfo,
    MetadataEni,
    NetworkInterface,
    Subnet,
    Tags,
    Vpc,
)
from vpccni.cloud.sim.addresses import BLOCK, SubnetAddresses
from vpccni.cloud.sim.config import DEFAULT_LATENCY, MEAN_LATENCY
from vpccni.cloud.sim.state import (
    UNATTACHED_SLOT_LIMIT,
    AttachmentState,
    EniState,
    InstanceState,
    MetadataView,
    SimCloud,
    SubnetState,
    VpcState,
)
from vpccni.cloud.sim.trail import filter_set, items, new_uuid, tag_set

T = TypeVar("T")
RETRY_CAP_SECONDS: Final = 20.0
_INJECTED_STATUS: Final = {"RequestLimitExceeded": 503, "InternalError": 500, "Unavailable": 503}


def _err(code: str, message: str) -> Ec2Error:
    return make_error(code, message)


def _not_found_eni(eni_id: str) -> Ec2Error:
    return _err("InvalidNetworkInterfaceID.NotFound", f"The networkInterface ID '{eni_id}' does not exist")


def _insufficient_addresses(count: int) -> Ec2Error:
    return _err("InsufficientFreeAddressesInSubnet", f"insufficient free address to allocate {count} address(es)")


def _insufficient_blocks() -> Ec2Error:
    return _err(
        "InsufficientCidrBlocks", "The specified subnet does not have enough free cidr blocks to satisfy the request."
    )


def _count_or_list(count: int, listed: Sequence[str], other_count: int = 0, other_list: Sequence[str] = ()) -> None:
    given = [bool(count), bool(listed), bool(other_count), bool(other_list)]
    if sum(given) > 1:
        raise _err("InvalidParameterCombination", "Specify either a count or a list, not both")


class SimEc2:
    """An EC2 client on the simulated cloud, calling as one identity (a node's instance, or a tool).

    `access_key_id` and `request_id` come from an HTTP request when `vpccni cloud serve` calls on a
    client's behalf: the trail then names that key and carries the id the client was answered with.
    """

    def __init__(
        self,
        cloud: SimCloud,
        instance_id: str | None = None,
        user_agent: str = f"vpccni/{__version__}",
        source_ip: str = "127.0.0.1",
        access_key_id: str = "",
        request_id: str = "",
    ) -> None:
        self.cloud = cloud
        self.instance_id = instance_id
        self.user_agent = user_agent
        self.source_ip = source_ip
        self.access_key_id = access_key_id
        self.request_id = request_id

    # --- the call machinery ---------------------------------------------------------------------
    def _call(
        self,
        action: str,
        request: dict[str, Any],
        body: Callable[[], tuple[T, dict[str, Any] | None]],
        *,
        read_only: bool = False,
        unfiltered: bool = False,
        instances: int = 0,
    ) -> T:
        cloud = self.cloud
        attempts = max(1, cloud.config.retry_max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(action, request, body, read_only, unfiltered, instances)
            except Ec2Error as exc:
                retryable = isinstance(exc, ThrottlingError) or exc.http_status >= 500
                if not retryable or attempt == attempts:
                    raise
                with cloud.lock:
                    backoff = cloud.rng.random() * min(2.0 ** (attempt - 1), RETRY_CAP_SECONDS)
                cloud.clock.sleep(backoff)
        raise AssertionError("unreachable")

    def _latency(self, action: str, failed: bool) -> float:
        cloud = self.cloud
        if not cloud.config.latency:
            return cloud.extra_latency.get(action, 0.0)
        mean = MEAN_LATENCY.get(action, DEFAULT_LATENCY) * cloud.config.latency_scale
        sigma = cloud.config.latency_sigma
        # lognormal with the given mean: median = mean · exp(−σ²/2)
        value = cloud.lognormal(mean * math.exp(-sigma * sigma / 2), sigma)
        return (value / 2 if failed else value) + cloud.extra_latency.get(action, 0.0)

    def _attempt(
        self,
        action: str,
        request: dict[str, Any],
        body: Callable[[], tuple[T, dict[str, Any] | None]],
        read_only: bool,
        unfiltered: bool,
        instances: int,
    ) -> T:
        cloud = self.cloud
        with cloud.lock:
            start = cloud.clock.now()
            error: Ec2Error | None = None
            faults = cloud.faults.get(action)
            if action in cloud.denied:
                error = _err("UnauthorizedOperation", "You are not authorized to perform this operation.")
            elif faults:
                code, message, remaining = faults[0]
                faults[0][2] = int(remaining) - 1  # type: ignore[call-overload]
                if faults[0][2] <= 0:  # type: ignore[operator]
                    faults.pop(0)
                error = make_error(str(code), str(message), _INJECTED_STATUS.get(str(code)))
            elif not cloud.throttler.admit(
                action, start, mutating=not read_only, unfiltered=unfiltered, instances=instances
            ):
                error = make_error("RequestLimitExceeded", "Request limit exceeded.", 503)
            latency = self._latency(action, failed=error is not None)
        cloud.clock.sleep(latency)
        response: dict[str, Any] | None = None
        with cloud.lock:
            if error is None:
                cloud.settle()
                try:
                    result, response = body()
                except Ec2Error as exc:
                    error = exc
            self._record(start, action, read_only, request, response, error)
            if error is None and not read_only and cloud.on_change is not None:
                cloud.on_change(cloud)
        if error is not None:
            raise error
        if not read_only and cloud.after_change is not None:
            cloud.after_change()
        return result

    def _record(
        self,
        when: float,
        action: str,
        read_only: bool,
        request: dict[str, Any],
        response: dict[str, Any] | None,
        error: Ec2Error | None,
    ) -> None:
        cloud = self.cloud
        if not cloud.trail.wants(read_only):
            cloud.trail.attempted(action, error.code if error else "")
            cloud.rng.getrandbits(256)  # the request and event ids a kept event draws (2 × 128 bits): the same stream
            return
        instance = cloud.instances.get(self.instance_id or "")
        cloud.trail.record(
            when=when,
            action=action,
            read_only=read_only,
            request=request,
            response=response,
            error=(error.code, error.message, error.http_status) if error else None,
            role=instance.role if instance else cloud.config.role_name,
            session=self.instance_id or self.access_key_id or "vpccni",
            source_ip=self.source_ip,
            user_agent=self.user_agent,
            request_id=self.request_id or new_uuid(cloud.rng.getrandbits(128)),
            event_id=new_uuid(cloud.rng.getrandbits(128)),
            access_key_id=self.access_key_id,
        )

    # --- lookups --------------------------------------------------------------------------------
    def _subnet(self, subnet_id: str) -> SubnetState:
        subnet = self.cloud.subnets.get(subnet_id)
        if subnet is None:
            raise _err("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist")
        return subnet

    def _eni(self, eni_id: str) -> EniState:
        eni = self.cloud.enis.get(eni_id)
        if eni is None:
            raise _not_found_eni(eni_id)
        return eni

    def _vpc(self, vpc_id: str) -> VpcState:
        vpc = self.cloud.vpcs.get(vpc_id)
        if vpc is None:
            raise _err("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        return vpc

    def _instance(self, instance_id: str) -> InstanceState:
        instance = self.cloud.instances.get(instance_id)
        if instance is None or instance.state == "terminated":
            raise _err("InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        return instance

    def _limits(self, instance_type: str) -> catalog.InstanceLimits:
        try:
            return catalog.get(instance_type)
        except catalog.UnknownInstanceType:
            raise _err(
                "InvalidInstanceType", f"The following supplied instance types do not exist: [{instance_type}]"
            ) from None

    # --- snapshots ------------------------------------------------------------------------------
    def _subnet_record(self, s: SubnetState) -> Subnet:
        return Subnet(s.subnet_id, s.vpc_id, s.az, s.cidr, s.pool.free_count, dict(s.tags))

    def _eni_record(self, eni: EniState) -> NetworkInterface:
        pool = self.cloud.subnets[eni.subnet_id].pool
        now = self.cloud.clock.now()
        att = eni.attachment
        attachment = (
            Attachment(
                att.attachment_id,
                att.instance_id,
                att.device_index,
                att.card_index,
                att.status(now),
                att.delete_on_termination,
            )
            if att
            else None
        )
        return NetworkInterface(
            eni_id=eni.eni_id,
            subnet_id=eni.subnet_id,
            vpc_id=eni.vpc_id,
            availability_zone=eni.az,
            description=eni.description,
            status="in-use" if att else "available",
            interface_type=eni.interface_type,
            mac_address=eni.mac,
            primary_ip=pool.address(eni.primary),
            secondary_ips=tuple(pool.address(o) for o in eni.secondaries),
            ipv4_prefixes=tuple(pool.prefix(o) for o in eni.prefixes),
            groups=tuple(eni.groups),
            tags=dict(eni.tags),
            attachment=attachment,
        )

    def _instance_record(self, inst: InstanceState) -> Instance:
        now = self.cloud.clock.now()
        enis = []
        for (card, device), eni_id in inst.devices.items():  # in (card, device) order
            att = self.cloud.enis[eni_id].attachment
            assert att is not None
            enis.append(InstanceEni(eni_id, att.attachment_id, device, card, att.status(now)))
        primary = self.cloud.enis.get(inst.primary_eni)
        private_ip = self.cloud.subnets[primary.subnet_id].pool.address(primary.primary) if primary else ""
        return Instance(
            inst.instance_id,
            inst.limits.instance_type,
            inst.state_at(now),
            inst.subnet_id,
            inst.az,
            private_ip,
            tuple(enis),
            dict(inst.tags),
        )

    def _eni_response(self, eni: EniState) -> dict[str, Any]:
        rec = self._eni_record(eni)
        return {
            "networkInterface": {
                "networkInterfaceId": rec.eni_id,
                "subnetId": rec.subnet_id,
                "vpcId": rec.vpc_id,
                "availabilityZone": rec.availability_zone,
                "description": rec.description,
                "macAddress": rec.mac_address,
                "privateIpAddress": rec.primary_ip,
                "privateIpAddressesSet": {
                    "item": [{"privateIpAddress": rec.primary_ip, "primary": True}]
                    + [{"privateIpAddress": a, "primary": False} for a in rec.secondary_ips]
                },
                "ipv4PrefixSet": items({"ipv4Prefix": p} for p in rec.ipv4_prefixes),
                "tagSet": tag_set(rec.tags),
                "status": rec.status,
                "interfaceType": rec.interface_type,
            }
        }

    # --- setup ----------------------------------------------------------------------------------
    def create_vpc(self, cidr_block: str, tags: Tags | None = None) -> Vpc:
        def body() -> tuple[Vpc, dict[str, Any]]:
            try:
                network = ipaddress.IPv4Network(cidr_block)
            except ValueError:
                raise _err(
                    "InvalidParameterValue", f"Value ({cidr_block}) for parameter cidrBlock is invalid"
                ) from None
            vpc = VpcState(self.cloud.new_id("vpc"), [network], dict(tags or {}))
            self.cloud.vpcs[vpc.vpc_id] = vpc
            record = Vpc(vpc.vpc_id, (str(network),), dict(vpc.tags))
            return record, {"vpc": {"vpcId": vpc.vpc_id, "cidrBlock": str(network)}}

        request: dict[str, Any] = {"cidrBlock": cidr_block}
        if tags:
            request["tagSpecificationSet"] = items(
                [{"resourceType": "vpc", "tags": [{"key": k, "value": v} for k, v in tags.items()]}]
            )
        return self._call("CreateVpc", request, body)

    def create_subnet(self, vpc_id: str, cidr_block: str, availability_zone: str, tags: Tags | None = None) -> Subnet:
        def body() -> tuple[Subnet, dict[str, Any]]:
            vpc = self.cloud.vpcs.get(vpc_id)
            if vpc is None:
                raise _err("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
            try:
                network = ipaddress.IPv4Network(cidr_block)
            except ValueError:
                raise _err(
                    "InvalidParameterValue", f"Value ({cidr_block}) for parameter cidrBlock is invalid"
                ) from None
            if not any(network.subnet_of(c) for c in vpc.cidrs) or not 16 <= network.prefixlen <= 28:
                raise _err("InvalidSubnet.Range", f"The CIDR '{cidr_block}' is invalid.")
            for other in self.cloud.subnets.values():
                if other.vpc_id == vpc_id and network.overlaps(ipaddress.IPv4Network(other.cidr)):
                    raise _err("InvalidSubnet.Conflict", f"The CIDR '{cidr_block}' conflicts with another subnet")
            pool = SubnetAddresses(cidr_block, self.cloud.rng, self.cloud.config.address_policy)
            subnet = SubnetState(
                self.cloud.new_id("subnet"), vpc_id, availability_zone, cidr_block, pool, dict(tags or {})
            )
            self.cloud.subnets[subnet.subnet_id] = subnet
            return self._subnet_record(subnet), {"subnet": {"subnetId": subnet.subnet_id}}

        request = {"vpcId": vpc_id, "cidrBlock": cidr_block, "availabilityZone": availability_zone}
        return self._call("CreateSubnet", request, body)

    # --- describes ------------------------------------------------------------------------------
    def describe_instance_types(self, instance_types: Sequence[str]) -> list[InstanceTypeInfo]:
        def body() -> tuple[list[InstanceTypeInfo], None]:
            out = []
            for name in instance_types:
                lim = self._limits(name)
                cards = tuple(enumerate(lim.network_card_max_enis or (lim.max_enis,)))
                out.append(
                    InstanceTypeInfo(
                        name,
                        lim.max_enis,
                        lim.ipv4_per_eni,
                        lim.default_network_card_index,
                        cards,
                        lim.hypervisor,
                        lim.bare_metal,
                        lim.vcpus,
                        lim.memory_mib,
                    )
                )
            return out, None

        request = {"instanceTypeSet": items({"instanceType": t} for t in instance_types)}
        return self._call("DescribeInstanceTypes", request, body, read_only=True)

    def describe_vpcs(self, vpc_ids: Sequence[str] | None = None, filters: Filters | None = None) -> list[Vpc]:
        def body() -> tuple[list[Vpc], None]:
            _check_filter_names(filters, VPC_FILTERS)
            chosen = [self._vpc(v) for v in vpc_ids] if vpc_ids else list(self.cloud.vpcs.values())
            out = [
                Vpc(v.vpc_id, tuple(str(c) for c in v.cidrs), dict(v.tags))
                for v in chosen
                if _matches(filters, partial(_vpc_filter_values, v))
            ]
            return out, None

        request = {"vpcSet": items({"vpcId": v} for v in vpc_ids or ()), "filterSet": filter_set(filters)}
        return self._call("DescribeVpcs", request, body, read_only=True)

    def describe_availability_zones(
        self, zone_names: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[AvailabilityZone]:
        """The region's zones: four lettered ones, plus any other zone a subnet was created in."""

        def body() -> tuple[list[AvailabilityZone], None]:
            region = self.cloud.config.region
            zones = availability_zones(region, {s.az for s in self.cloud.subnets.values()})
            by_name = {z.zone_name: z for z in zones}
            for name in zone_names or ():
                if name not in by_name:
                    raise _err("InvalidParameterValue", f"The zone '{name}' does not exist in region {region}")
            chosen = [by_name[n] for n in zone_names] if zone_names else zones
            out = [z for z in chosen if _matches(filters, partial(_zone_filter_values, z))]
            return out, None

        request = {
            "availabilityZoneSet": items({"zoneName": z} for z in zone_names or ()),
            "filterSet": filter_set(filters),
        }
        return self._call("DescribeAvailabilityZones", request, body, read_only=True)

    def describe_instances(
        self, instance_ids: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[Instance]:
        def body() -> tuple[list[Instance], None]:
            _check_filter_names(filters, INSTANCE_FILTERS)
            chosen = [self._instance(i) for i in instance_ids] if instance_ids else list(self.cloud.instances.values())
            now = self.cloud.clock.now()
            out = [
                self._instance_record(i)
                for i in chosen
                if _matches(filters, partial(_instance_filter_values, i, now=now))
            ]
            return out, None

        request = {
            "instancesSet": items({"instanceId": i} for i in instance_ids or ()),
            "filterSet": filter_set(filters),
        }
        return self._call("DescribeInstances", request, body, read_only=True, unfiltered=not filters)

    def describe_subnets(self, subnet_ids: Sequence[str] | None = None, filters: Filters | None = None) -> list[Subnet]:
        def body() -> tuple[list[Subnet], None]:
            _check_filter_names(filters, SUBNET_FILTERS)
            chosen = [self._subnet(s) for s in subnet_ids] if subnet_ids else list(self.cloud.subnets.values())
            out = [self._subnet_record(s) for s in chosen if _matches(filters, partial(_subnet_filter_values, s))]
            return out, None

        request = {"subnetSet": items({"subnetId": s} for s in subnet_ids or ()), "filterSet": filter_set(filters)}
        return self._call("DescribeSubnets", request, body, read_only=True)

    def describe_network_interfaces(
        self,
        eni_ids: Sequence[str] | None = None,
        filters: Filters | None = None,
        max_results: int | None = None,
    ) -> list[NetworkInterface]:
        def body() -> tuple[list[NetworkInterface], None]:
            if max_results is not None and not 5 <= max_results <= 1000:
                raise _err("InvalidParameterValue", "MaxResults must be between 5 and 1000")
            _check_filter_names(filters, ENI_FILTERS)
            chosen = [self._eni(e) for e in eni_ids] if eni_ids else list(self.cloud.enis.values())
            now = self.cloud.clock.now()
            out = [
                self._eni_record(e)
                for e in chosen
                if _matches(filters, partial(_eni_filter_values, self.cloud, e, now=now))
            ]
            return out, None

        request: dict[str, Any] = {
            "networkInterfaceIdSet": items({"networkInterfaceId": e} for e in eni_ids or ()),
            "filterSet": filter_set(filters),
        }
        if max_results is not None:
            request["maxResults"] = max_results
        unfiltered = not filters and max_results is None
        return self._call("DescribeNetworkInterfaces", request, body, read_only=True, unfiltered=unfiltered)

    def instance_metadata(self, instance_id: str) -> InstanceMetadata:
        """The instance metadata view (ec2 spec §6): lags EC2 by the metadata delays; no API call, no trail."""
        cloud = self.cloud
        with cloud.lock:
            cloud.settle()
            inst = self._instance(instance_id)
            now = cloud.clock.now()
            vpc = cloud.vpcs[cloud.subnets[inst.subnet_id].vpc_id]
            views = cloud.metadata_views
            enis = []
            for (card, device), eni_id in inst.devices.items():  # in (card, device) order
                eni = cloud.enis[eni_id]
                if eni.metadata_at > now:
                    continue
                view = views.get(eni_id)
                if view is None or not view.holds(eni.version, card, device, now):
                    view = views[eni_id] = self._metadata_view(eni, card, device, vpc, now)
                enis.append(view.entry)
            entries = tuple(enis)
            known = cloud.instance_views.get(instance_id)
            if known is not None and known.enis == entries:  # an immutable snapshot: the same one will do
                return known
            primary = cloud.enis[inst.primary_eni]
            made = cloud.instance_views[instance_id] = InstanceMetadata(
                instance_id=inst.instance_id,
                instance_type=inst.limits.instance_type,
                availability_zone=inst.az,
                local_ipv4=cloud.subnets[primary.subnet_id].pool.address(primary.primary),
                primary_mac=primary.mac,
                region=cloud.config.region,
                enis=entries,
            )
            return made

    def _metadata_view(self, eni: EniState, card: int, device: int, vpc: VpcState, now: float) -> MetadataView:
        """One ENI's metadata entry at `now`, and the interval around `now` in which it stays the same."""
        subnet = self.cloud.subnets[eni.subnet_id]
        pool = subnet.pool
        since, until = eni.metadata_at, math.inf
        for at in (*eni.secondaries.values(), *eni.prefixes.values()):
            if at <= now:
                since = max(since, at)
            else:
                until = min(until, at)
        entry = MetadataEni(
            mac=eni.mac,
            eni_id=eni.eni_id,
            device_number=device,
            network_card=card,
            subnet_id=eni.subnet_id,
            subnet_cidr=subnet.cidr,
            vpc_id=eni.vpc_id,
            vpc_cidrs=tuple(str(c) for c in vpc.cidrs),
            security_group_ids=tuple(eni.groups),
            local_ipv4s=(pool.address(eni.primary),)
            + tuple(pool.address(o) for o, at in eni.secondaries.items() if at <= now),
            ipv4_prefixes=tuple(pool.prefix(o) for o, at in eni.prefixes.items() if at <= now),
        )
        return MetadataView(eni.version, card, device, since, until, entry)

    # --- instances ------------------------------------------------------------------------------
    def run_instances(
        self,
        instance_type: str,
        subnet_id: str,
        count: int = 1,
        security_group_ids: Sequence[str] = (),
        tags: Tags | None = None,
    ) -> list[Instance]:
        cloud = self.cloud

        def body() -> tuple[list[Instance], dict[str, Any]]:
            limits = self._limits(instance_type)
            subnet = self._subnet(subnet_id)
            offsets = subnet.pool.take_addresses(count)
            if offsets is None:
                raise _insufficient_addresses(count)
            now = cloud.clock.now()
            created = []
            for offset in offsets:
                inst = InstanceState(
                    cloud.new_id("i"),
                    limits,
                    subnet.az,
                    subnet_id,
                    "",
                    now + cloud.config.boot_delay,
                    dict(tags or {}),
                    cloud.config.role_name,
                )
                eni = self._new_eni(subnet, offset, "Primary network interface", list(security_group_ids), {})
                eni.metadata_at = now
                att = AttachmentState(cloud.new_id("eni-attach"), inst.instance_id, 0, 0, now, True)
                eni.attachment = att
                cloud.attachments[att.attachment_id] = eni.eni_id
                inst.primary_eni = eni.eni_id
                inst.devices[(0, 0)] = eni.eni_id
                cloud.instances[inst.instance_id] = inst
                created.append(self._instance_record(inst))
            response = {"instancesSet": items(_launched(i) for i in created)}
            return created, response

        request = {
            "instanceType": instance_type,
            "subnetId": subnet_id,
            "minCount": count,
            "maxCount": count,
            "groupSet": items({"groupId": g} for g in security_group_ids),
        }
        return self._call("RunInstances", request, body, instances=count)

    def terminate_instances(self, instance_ids: Sequence[str]) -> None:
        cloud = self.cloud

        def body() -> tuple[None, dict[str, Any]]:
            chosen = [self._instance(i) for i in instance_ids]
            for inst in chosen:
                for eni_id in list(inst.devices.values()):
                    eni = cloud.enis[eni_id]
                    assert eni.attachment is not None
                    delete = eni.eni_id == inst.primary_eni or eni.attachment.delete_on_termination
                    cloud.finish_detach(eni)
                    if delete:
                        self._free_eni(eni)
                inst.state = "terminated"
                cloud.instance_views.pop(inst.instance_id, None)
            return None, {"instancesSet": items({"instanceId": i} for i in instance_ids)}

        request = {"instancesSet": items({"instanceId": i} for i in instance_ids)}
        return self._call("TerminateInstances", request, body, instances=len(instance_ids))

    # --- ENIs -----------------------------------------------------------------------------------
    def _new_eni(
        self, subnet: SubnetState, primary: int, description: str, groups: list[str], tags: dict[str, str]
    ) -> EniState:
        cloud = self.cloud
        now = cloud.clock.now()
        eni = EniState(
            cloud.new_id("eni"),
            subnet.subnet_id,
            subnet.vpc_id,
            subnet.az,
            description,
            groups,
            tags,
            cloud.new_mac(),
            "interface",
            primary,
            now,
            float("inf"),
        )
        cloud.enis[eni.eni_id] = eni
        return eni

    def _free_eni(self, eni: EniState) -> None:
        pool = self.cloud.subnets[eni.subnet_id].pool
        offsets = [eni.primary, *eni.secondaries]
        for block in eni.prefixes:
            offsets.extend(range(block, block + BLOCK))
        pool.give_back(offsets)
        del self.cloud.enis[eni.eni_id]
        self.cloud.metadata_views.pop(eni.eni_id, None)

    def create_network_interface(
        self,
        subnet_id: str,
        description: str = "",
        groups: Sequence[str] = (),
        secondary_ip_count: int = 0,
        ipv4_prefix_count: int = 0,
        tags: Tags | None = None,
    ) -> NetworkInterface:
        cloud = self.cloud

        def body() -> tuple[NetworkInterface, dict[str, Any] | None]:
            _count_or_list(secondary_ip_count, (), ipv4_prefix_count)
            subnet = self._subnet(subnet_id)
            if secondary_ip_count < 0 or ipv4_prefix_count < 0:
                raise _err("InvalidParameterValue", "Counts must not be negative")
            if secondary_ip_count + ipv4_prefix_count > UNATTACHED_SLOT_LIMIT:
                raise _err("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
            pool = subnet.pool
            now = cloud.clock.now()
            blocks: list[int] = []
            if ipv4_prefix_count:
                taken_blocks = pool.take_blocks(ipv4_prefix_count)
                if taken_blocks is None:
                    raise self._capacity_error(_insufficient_blocks())
                blocks = taken_blocks
            addresses = pool.take_addresses(1 + secondary_ip_count)
            if addresses is None:
                pool.give_back([o for b in blocks for o in range(b, b + BLOCK)])
                raise self._capacity_error(_insufficient_addresses(1 + secondary_ip_count))
            eni = self._new_eni(subnet, addresses[0], description, sorted(groups), dict(tags or {}))
            eni.secondaries = {o: now for o in addresses[1:]}
            eni.prefixes = {b: now for b in blocks}
            response = self._eni_response(eni) if cloud.trail.wants(read_only=False) else None  # only the log reads it
            return self._eni_record(eni), response

        request: dict[str, Any] = {
            "subnetId": subnet_id,
            "description": description,
            "groupSet": items({"groupId": g} for g in groups),
            "privateIpAddressesSet": {},
        }
        if secondary_ip_count:
            request["secondaryPrivateIpAddressCount"] = secondary_ip_count
        if ipv4_prefix_count:
            request["ipv4PrefixCount"] = ipv4_prefix_count
        if tags:
            request["tagSpecificationSet"] = items(
                [{"resourceType": "network-interface", "tags": [{"key": k, "value": v} for k, v in tags.items()]}]
            )
        return self._call("CreateNetworkInterface", request, body)

    def _capacity_error(self, error: Ec2Error) -> Ec2Error:
        if self.cloud.config.insufficient_as_invalid_parameter:
            return _err("InvalidParameterValue", "There aren't sufficient free Ipv4 addresses or prefixes")
        return error

    def attach_network_interface(
        self, eni_id: str, instance_id: str, device_index: int, network_card_index: int = 0
    ) -> str:
        cloud = self.cloud

        def body() -> tuple[str, dict[str, Any]]:
            eni = self._eni(eni_id)
            inst = self._instance(instance_id)
            if eni.attachment is not None:
                raise _err("InvalidNetworkInterface.InUse", f"The network interface '{eni_id}' is currently in use")
            limits = inst.limits
            card_limits = limits.network_card_max_enis or (limits.max_enis,)
            if not 0 <= network_card_index < max(len(card_limits), 1):
                raise _err("InvalidParameterValue", f"Invalid network card index {network_card_index}")
            card_limit = limits.max_enis if network_card_index == 0 else card_limits[network_card_index]
            on_card = sum(1 for (card, _) in inst.devices if card == network_card_index)
            if on_card + 1 > card_limit:
                raise _err(
                    "AttachmentLimitExceeded",
                    f"Interface count {on_card + 1} exceeds the limit for {limits.instance_type}",
                )
            if (network_card_index, device_index) in inst.devices:
                raise _err(
                    "InvalidParameterValue",
                    f"Instance '{instance_id}' already has an interface attached at device index '{device_index}'",
                )
            if eni.slots > limits.ipv4_per_eni - 1:
                raise _err("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
            if eni.prefixes and not limits.supports_prefix_delegation:
                raise _err("InvalidParameterValue", f"Prefix delegation is not supported for {limits.instance_type}")
            if eni.az != inst.az:
                raise _err("InvalidParameterValue", "The ENI and the instance are in different availability zones")
            now = cloud.clock.now()
            att = AttachmentState(
                cloud.new_id("eni-attach"),
                instance_id,
                device_index,
                network_card_index,
                now + cloud.config.attach_delay,
                False,
            )
            eni.attachment = att
            eni.metadata_at = now + cloud.metadata_delay()
            for offset in eni.secondaries:
                eni.secondaries[offset] = max(eni.secondaries[offset], eni.metadata_at)
            for block in eni.prefixes:
                eni.prefixes[block] = max(eni.prefixes[block], eni.metadata_at)
            eni.changed()
            inst.put_device(network_card_index, device_index, eni_id)
            cloud.attachments[att.attachment_id] = eni_id
            return att.attachment_id, {"attachmentId": att.attachment_id, "networkCardIndex": network_card_index}

        request = {
            "networkInterfaceId": eni_id,
            "instanceId": instance_id,
            "deviceIndex": device_index,
            "networkCardIndex": network_card_index,
        }
        return self._call("AttachNetworkInterface", request, body)

    def modify_network_interface_attribute(
        self,
        eni_id: str,
        attachment_id: str | None = None,
        delete_on_termination: bool | None = None,
        groups: Sequence[str] | None = None,
    ) -> None:
        def body() -> tuple[None, None]:
            eni = self._eni(eni_id)
            if attachment_id is not None:
                if eni.attachment is None or eni.attachment.attachment_id != attachment_id:
                    raise _err("InvalidAttachmentID.NotFound", f"The attachment ID '{attachment_id}' does not exist")
                if delete_on_termination is not None:
                    eni.attachment.delete_on_termination = delete_on_termination
            if groups is not None:
                eni.groups = sorted(groups)
                eni.changed()
            return None, None

        request: dict[str, Any] = {"networkInterfaceId": eni_id}
        if attachment_id is not None:
            request["attachment"] = {"attachmentId": attachment_id, "deleteOnTermination": delete_on_termination}
        if groups is not None:
            request["groupSet"] = items({"groupId": g} for g in groups)
        return self._call("ModifyNetworkInterfaceAttribute", request, body)

    def assign_private_ip_addresses(
        self,
        eni_id: str,
        secondary_ip_count: int = 0,
        ipv4_prefix_count: int = 0,
        private_ip_addresses: Sequence[str] = (),
        ipv4_prefixes: Sequence[str] = (),
    ) -> AssignResult:
        cloud = self.cloud

        def body() -> tuple[AssignResult, dict[str, Any]]:
            eni = self._eni(eni_id)
            _count_or_list(secondary_ip_count, private_ip_addresses, ipv4_prefix_count, ipv4_prefixes)
            if secondary_ip_count < 0 or ipv4_prefix_count < 0:
                raise _err("InvalidParameterValue", "Counts must not be negative")
            wanted = secondary_ip_count + ipv4_prefix_count + len(private_ip_addresses) + len(ipv4_prefixes)
            if wanted == 0:
                raise _err("MissingParameter", "Specify a count or a list of addresses or prefixes")
            inst = cloud.instances.get(eni.attachment.instance_id) if eni.attachment else None
            prefix_wanted = bool(ipv4_prefix_count or ipv4_prefixes)
            if prefix_wanted and inst and not inst.limits.supports_prefix_delegation:
                raise _err(
                    "InvalidParameterValue", f"Prefix delegation is not supported for {inst.limits.instance_type}"
                )
            limit = inst.limits.ipv4_per_eni - 1 if inst else UNATTACHED_SLOT_LIMIT
            if eni.slots + wanted > limit:
                raise _err("PrivateIpAddressLimitExceeded", "Number of private addresses will exceed limit.")
            pool = cloud.subnets[eni.subnet_id].pool
            offsets, blocks = self._take_for_assign(
                pool, secondary_ip_count, ipv4_prefix_count, private_ip_addresses, ipv4_prefixes
            )
            visible = max(cloud.clock.now(), eni.metadata_at) + cloud.metadata_delay()
            eni.secondaries.update({o: visible for o in offsets})
            eni.prefixes.update({b: visible for b in blocks})
            eni.changed()
            result = AssignResult(
                eni_id, tuple(pool.address(o) for o in offsets), tuple(pool.prefix(b) for b in blocks)
            )
            response: dict[str, Any] = {"networkInterfaceId": eni_id}
            if offsets:
                response["assignedPrivateIpAddressesSet"] = {
                    "assignedPrivateIpAddressSetType": [{"privateIpAddress": a} for a in result.addresses]
                }
            if blocks:
                response["assignedIpv4PrefixSet"] = items({"ipv4Prefix": p} for p in result.prefixes)
            return result, response

        request: dict[str, Any] = {
            "networkInterfaceId": eni_id,
            "privateIpAddressesSet": items({"privateIpAddress": a} for a in private_ip_addresses),
        }
        if secondary_ip_count:
            request["secondaryPrivateIpAddressCount"] = secondary_ip_count
        if ipv4_prefix_count:
            request["ipv4PrefixCount"] = ipv4_prefix_count
        if ipv4_prefixes:
            request["ipv4Prefixes"] = items({"ipv4Prefix": p} for p in ipv4_prefixes)
        return self._call("AssignPrivateIpAddresses", request, body)

    def _take_for_assign(
        self,
        pool: SubnetAddresses,
        count: int,
        prefix_count: int,
        addresses: Sequence[str],
        prefixes: Sequence[str],
    ) -> tuple[list[int], list[int]]:
        if count:
            offsets = pool.take_addresses(count)
            if offsets is None:
                raise _insufficient_addresses(count)
            return offsets, []
        if prefix_count:
            blocks = pool.take_blocks(prefix_count)
            if blocks is None:
                raise self._capacity_error(_insufficient_blocks())
            return [], blocks
        if addresses:
            wanted = [self._offset_in(pool, a) for a in addresses]
            if not pool.take_specific(wanted):
                raise _err("InvalidParameterValue", "An address in the request is already in use")
            return wanted, []
        wanted_blocks = []
        for prefix in prefixes:
            net = _parse_network(prefix)
            if net.prefixlen != 28 or not net.subnet_of(pool.network):
                raise _err("InvalidParameterValue", f"Prefix '{prefix}' is not a /28 of the subnet")
            wanted_blocks.append(int(net.network_address) - pool.base)
        members = [o for b in wanted_blocks for o in range(b, b + BLOCK)]
        if not pool.take_specific(members):
            raise _err("InvalidParameterValue", "A prefix in the request is already in use")
        return [], wanted_blocks

    @staticmethod
    def _offset_in(pool: SubnetAddresses, address: str) -> int:
        try:
            offset = pool.offset(address)
        except ValueError:
            raise _err("InvalidParameterValue", f"Invalid address '{address}'") from None
        if not 0 <= offset < pool.size:
            raise _err("InvalidParameterValue", f"Address '{address}' is not in the subnet")
        return offset

    def unassign_private_ip_addresses(
        self, eni_id: str, private_ip_addresses: Sequence[str] = (), ipv4_prefixes: Sequence[str] = ()
    ) -> None:
        cloud = self.cloud

        def body() -> tuple[None, None]:
            eni = self._eni(eni_id)
            if not private_ip_addresses and not ipv4_prefixes:
                raise _err("MissingParameter", "Specify addresses or prefixes to unassign")
            pool = cloud.subnets[eni.subnet_id].pool
            offsets = []
            for address in private_ip_addresses:
                try:
                    offset = pool.offset(address)
                except ValueError:
                    offset = -1
                if offset not in eni.secondaries:
                    raise _err("InvalidParameterValue", f"Address '{address}' is not assigned to '{eni_id}'")
                offsets.append(offset)
            blocks = []
            for prefix in ipv4_prefixes:
                try:
                    block = int(_parse_network(prefix).network_address) - pool.base
                except Ec2Error:
                    block = -1
                if block not in eni.prefixes:
                    raise _err("InvalidParameterValue", f"Address '{prefix}' is not assigned to '{eni_id}'")
                blocks.append(block)
            for offset in offsets:
                del eni.secondaries[offset]
            for block in blocks:
                del eni.prefixes[block]
            eni.changed()
            pool.give_back(offsets + [o for b in blocks for o in range(b, b + BLOCK)])
            return None, None

        request: dict[str, Any] = {
            "networkInterfaceId": eni_id,
            "privateIpAddressesSet": items({"privateIpAddress": a} for a in private_ip_addresses),
        }
        if ipv4_prefixes:
            request["ipv4Prefixes"] = items({"ipv4Prefix": p} for p in ipv4_prefixes)
        return self._call("UnassignPrivateIpAddresses", request, body)

    def detach_network_interface(self, attachment_id: str, force: bool = False) -> None:
        cloud = self.cloud

        def body() -> tuple[None, None]:
            eni_id = cloud.attachments.get(attachment_id)
            eni = cloud.enis.get(eni_id or "")
            att = eni.attachment if eni else None
            if eni is None or att is None or att.detach_done_at is not None:
                raise _err("InvalidAttachmentID.NotFound", f"The attachment ID '{attachment_id}' does not exist")
            if att.device_index == 0 and att.card_index == 0:
                raise _err("OperationNotPermitted", "The primary network interface cannot be detached")
            att.detach_done_at = cloud.clock.now() + cloud.config.detach_delay
            eni.metadata_at = float("inf")
            eni.changed()
            if cloud.config.detach_delay <= 0:
                cloud.finish_detach(eni)
            else:
                cloud.schedule_detach(eni.eni_id, att.detach_done_at)
            return None, None

        return self._call("DetachNetworkInterface", {"attachmentId": attachment_id, "force": force}, body)

    def delete_network_interface(self, eni_id: str) -> None:
        def body() -> tuple[None, None]:
            eni = self._eni(eni_id)
            if eni.attachment is not None:
                raise _err("InvalidNetworkInterface.InUse", f"The network interface '{eni_id}' is currently in use")
            self._free_eni(eni)
            return None, None

        return self._call("DeleteNetworkInterface", {"networkInterfaceId": eni_id}, body)

    def _tag_target(self, resource_id: str) -> dict[str, str]:
        cloud = self.cloud
        kind = resource_id.split("-", 1)[0]
        table: dict[str, Any] = {"eni": cloud.enis, "subnet": cloud.subnets, "i": cloud.instances, "vpc": cloud.vpcs}
        names = {
            "eni": "InvalidNetworkInterfaceID",
            "subnet": "InvalidSubnetID",
            "i": "InvalidInstanceID",
            "vpc": "InvalidVpcID",
        }
        found = table.get(kind, {}).get(resource_id)
        if found is None:
            if kind == "eni":
                raise _not_found_eni(resource_id)
            code = names.get(kind, "InvalidID")
            raise _err(f"{code}.NotFound" if kind in names else code, f"The ID '{resource_id}' does not exist")
        tags: dict[str, str] = found.tags
        return tags

    def create_tags(self, resource_ids: Sequence[str], tags: Tags) -> None:
        def body() -> tuple[None, None]:
            targets = [self._tag_target(r) for r in resource_ids]
            for target in targets:
                target.update(tags)
            return None, None

        request = {"resourcesSet": items({"resourceId": r} for r in resource_ids), "tagSet": tag_set(tags)}
        return self._call("CreateTags", request, body)

    def delete_tags(self, resource_ids: Sequence[str], keys: Sequence[str]) -> None:
        def body() -> tuple[None, None]:
            targets = [self._tag_target(r) for r in resource_ids]
            for target in targets:
                for key in keys:
                    target.pop(key, None)
            return None, None

        request = {
            "resourcesSet": items({"resourceId": r} for r in resource_ids),
            "tagSet": items({"key": k} for k in keys),
        }
        return self._call("DeleteTags", request, body)


def _launched(inst: Instance) -> dict[str, Any]:
    """RunInstances' trail entry for one instance: CloudTrail shows its type, subnet and primary ENI."""
    return {
        "instanceId": inst.instance_id,
        "instanceType": inst.instance_type,
        "subnetId": inst.subnet_id,
        "privateIpAddress": inst.private_ip,
        "networkInterfaceSet": items(
            {
                "networkInterfaceId": nic.eni_id,
                "subnetId": inst.subnet_id,
                "privateIpAddress": inst.private_ip,
                "attachment": {
                    "attachmentId": nic.attachment_id,
                    "deviceIndex": nic.device_index,
                    "status": "attaching",
                    "deleteOnTermination": True,
                },
            }
            for nic in inst.network_interfaces
        ),
    }


def availability_zones(region: str, used: set[str]) -> list[AvailabilityZone]:
    """The region's zones as the sim names them: `REGIONa`..`REGIONd`, then any other zone in `used`."""
    names = [f"{region}{letter}" for letter in "abcd"]
    names += sorted(used - set(names))
    parts = region.split("-")
    code = parts[0] + "".join(p[:1] for p in parts[1:-1]) + parts[-1]  # us-west-2 → usw2
    return [AvailabilityZone(name, f"{code}-az{n}", region) for n, name in enumerate(names, 1)]


# --- filters ------------------------------------------------------------------------------------
def _parse_network(text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError:
        raise _err("InvalidParameterValue", f"Invalid prefix '{text}'") from None


INSTANCE_FILTERS: Final = frozenset(
    {"instance-id", "instance-state-name", "instance-type", "subnet-id", "availability-zone"}
)
SUBNET_FILTERS: Final = frozenset({"vpc-id", "availability-zone", "subnet-id", "cidr-block"})
VPC_FILTERS: Final = frozenset({"vpc-id", "cidr", "cidr-block-association.cidr-block", "state", "is-default"})
ENI_FILTERS: Final = frozenset(
    {
        "network-interface-id",
        "attachment.instance-id",
        "attachment.status",
        "attachment.device-index",
        "status",
        "vpc-id",
        "subnet-id",
        "description",
        "interface-type",
        "availability-zone",
        "addresses.private-ip-address",
    }
)


def _check_filter_names(filters: Filters | None, known: frozenset[str]) -> None:
    """EC2 refuses an unknown filter name even when nothing would have been matched against it."""
    for name in filters or {}:
        if name not in known and name != "tag-key" and not name.startswith("tag:"):
            raise _err("InvalidParameterValue", f"The filter '{name}' is invalid")


def _matches(filters: Filters | None, values_of: Callable[[str], list[str] | None]) -> bool:
    """EC2 filter semantics: every filter must match; within one, any value (with * and ? wildcards)."""
    for name, wanted in (filters or {}).items():
        values = values_of(name)
        if values is None:
            raise _err("InvalidParameterValue", f"The filter '{name}' is invalid")
        if not any(_value_matches(v, w) for v in values for w in wanted):
            return False
    return True


_ZONE_ATTRIBUTES: Final = {"zone-name": "zone_name", "zone-id": "zone_id", "region-name": "region"}


def _zone_filter_values(zone: AvailabilityZone, name: str) -> list[str] | None:
    if name in _ZONE_ATTRIBUTES:
        return [getattr(zone, _ZONE_ATTRIBUTES[name])]
    return ["available"] if name == "state" else None


def _value_matches(value: str, pattern: str) -> bool:
    """fnmatch's answer; a pattern without wildcards (nearly all of them) is plain equality."""
    if "*" in pattern or "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(value, pattern)
    return value == pattern


def _tag_values(tags: dict[str, str], name: str) -> list[str] | None:
    if name == "tag-key":
        return list(tags)
    if name.startswith("tag:"):
        key = name[4:]
        return [tags[key]] if key in tags else []
    return None


def _instance_filter_values(inst: InstanceState, name: str, now: float) -> list[str] | None:
    # one branch per name, not a dict of every value: only the asked-for value is built (once per filter, resource)
    if name == "instance-id":
        return [inst.instance_id]
    if name == "instance-state-name":
        return [inst.state_at(now)]
    if name == "instance-type":
        return [inst.limits.instance_type]
    if name == "subnet-id":
        return [inst.subnet_id]
    if name == "availability-zone":
        return [inst.az]
    return _tag_values(inst.tags, name)


def _vpc_filter_values(vpc: VpcState, name: str) -> list[str] | None:
    cidrs = [str(c) for c in vpc.cidrs]
    simple = {
        "vpc-id": [vpc.vpc_id],
        "cidr": cidrs[:1],
        "cidr-block-association.cidr-block": cidrs,
        "state": ["available"],
        "is-default": ["false"],
    }
    return simple.get(name) if name in simple else _tag_values(vpc.tags, name)


def _subnet_filter_values(subnet: SubnetState, name: str) -> list[str] | None:
    if name == "vpc-id":
        return [subnet.vpc_id]
    if name == "availability-zone":
        return [subnet.az]
    if name == "subnet-id":
        return [subnet.subnet_id]
    if name == "cidr-block":
        return [subnet.cidr]
    return _tag_values(subnet.tags, name)


def _eni_filter_values(cloud: SimCloud, eni: EniState, name: str, now: float) -> list[str] | None:
    att = eni.attachment
    if name == "network-interface-id":
        return [eni.eni_id]
    if name == "attachment.instance-id":
        return [att.instance_id] if att else []
    if name == "attachment.status":
        return [att.status(now)] if att else []
    if name == "attachment.device-index":
        return [str(att.device_index)] if att else []
    if name == "status":
        return ["in-use" if att else "available"]
    if name == "vpc-id":
        return [eni.vpc_id]
    if name == "subnet-id":
        return [eni.subnet_id]
    if name == "description":
        return [eni.description]
    if name == "interface-type":
        return [eni.interface_type]
    if name == "availability-zone":
        return [eni.az]
    if name == "addresses.private-ip-address":
        pool = cloud.subnets[eni.subnet_id].pool
        return [pool.address(o) for o in (eni.primary, *eni.secondaries)]
    return _tag_values(eni.tags, name)
