"""The EC2 side of the engine: ENI create/attach/wait/free/delete, address assign/unassign, tags, leaked ENIs.

`NodeIpam` decides what the pool needs from its datastore (pure policy); this module performs it against
EC2 (ipamd spec §3.7–§3.9, §6, §11.3) and returns what happened, and the engine applies that result to
its datastore. Nothing here touches the datastore, so the daemon can run these calls, their retries and
their back-off sleeps without the lock that AddNetwork/DelNetwork take. Every call goes through
`MeteredEc2`, which counts and times it under the reference's metric names.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from vpccni.cloud.api import Ec2Api
from vpccni.cloud.clock import Clock, utc_iso
from vpccni.cloud.errors import (
    AddressLimitError,
    Ec2Error,
    InsufficientAddressesError,
    NotFoundError,
    eni_id_from_not_found,
)
from vpccni.cloud.records import (
    AssignResult,
    Filters,
    Instance,
    InstanceMetadata,
    MetadataEni,
    NetworkInterface,
    Subnet,
    Tags,
)
from vpccni.ipam.config import EniConfig, IpamConfig
from vpccni.ipam.facts import InstanceFacts
from vpccni.ipam.metrics import Labels, MetricsSink, label_set

log = logging.getLogger("vpccni.ipam")
T = TypeVar("T")

LEAKED_ENI_AGE: Final = 300.0
DETACH_WAIT: Final = 2.0
DESCRIBE_ATTEMPTS: Final = 12
DESCRIPTION_PREFIX: Final = "aws-K8S-"
TAG_INSTANCE: Final = "node.k8s.amazonaws.com/instance_id"
TAG_CREATED: Final = "node.k8s.amazonaws.com/createdAt"
TAG_NO_MANAGE: Final = "node.k8s.amazonaws.com/no_manage"
TAG_CLUSTER: Final = "cluster.k8s.amazonaws.com/name"
TAG_SUBNET_ROLE: Final = "kubernetes.io/role/cni"
CLUSTER_SUBNET_TAG: Final = "cni.networking.k8s.aws/cluster/"

# An action's two series as one shared pair of tuples (by `fn`; a success's latency): a sink's dict then finds its
# key by identity, without comparing a fresh tuple item by item, on every call. EC2 has a few dozen actions.
_ACTION_SERIES: Final[dict[str, tuple[Labels, Labels]]] = {}


def _action_series(action: str) -> tuple[Labels, Labels]:
    series = _ACTION_SERIES.get(action)
    if series is None:
        series = _ACTION_SERIES[action] = ((("fn", action),), (("api", action), ("error", "false"), ("status", "200")))
    return series


class MeteredEc2:
    """The engine's EC2 client: each call counted, its errors counted by code, its latency observed.

    Metric names are the reference's (`awscni_ec2api_req_count{fn}`, `awscni_ec2api_error_count{fn}`,
    `awscni_aws_api_error_count{api,error}`, `awscni_aws_api_latency_ms{api,error,status}`).
    """

    def __init__(self, api: Ec2Api, metrics: MetricsSink, clock: Clock) -> None:
        self.api = api
        self.metrics = metrics
        self.clock = clock

    def _metered(self, action: str, call: Callable[[], T]) -> T:
        by_fn, succeeded = _action_series(action)
        self.metrics.inc("awscni_ec2api_req_count", 1.0, by_fn)
        start = self.clock.now()
        try:
            result = call()
        except Ec2Error as exc:
            self.metrics.inc("awscni_ec2api_error_count", 1.0, by_fn)
            self.metrics.inc("awscni_aws_api_error_count", 1.0, (("api", action), ("error", exc.code)))
            elapsed = (self.clock.now() - start) * 1000
            self.metrics.observe(
                "awscni_aws_api_latency_ms", elapsed, (("api", action), ("error", "true"), ("status", exc.code))
            )
            raise
        elapsed = (self.clock.now() - start) * 1000
        self.metrics.observe("awscni_aws_api_latency_ms", elapsed, succeeded)
        return result

    def instance_metadata(self, instance_id: str) -> InstanceMetadata:
        """IMDS, not an EC2 API call: not metered."""
        return self.api.instance_metadata(instance_id)

    def describe_network_interfaces(
        self, eni_ids: Sequence[str] | None = None, *, filters: Filters | None = None, max_results: int | None = None
    ) -> list[NetworkInterface]:
        api = self.api
        if eni_ids is not None:
            return self._metered("DescribeNetworkInterfaces", lambda: api.describe_network_interfaces(eni_ids))
        return self._metered(
            "DescribeNetworkInterfaces",
            lambda: api.describe_network_interfaces(filters=filters, max_results=max_results),
        )

    def describe_subnets(
        self, subnet_ids: Sequence[str] | None = None, *, filters: Filters | None = None
    ) -> list[Subnet]:
        api = self.api
        if subnet_ids is not None:
            return self._metered("DescribeSubnets", lambda: api.describe_subnets(subnet_ids))
        return self._metered("DescribeSubnets", lambda: api.describe_subnets(filters=filters))

    def describe_instances(self, instance_ids: Sequence[str]) -> list[Instance]:
        return self._metered("DescribeInstances", lambda: self.api.describe_instances(instance_ids))

    def create_network_interface(self, subnet_id: str, **kwargs: Any) -> NetworkInterface:
        return self._metered("CreateNetworkInterface", lambda: self.api.create_network_interface(subnet_id, **kwargs))

    def attach_network_interface(self, eni_id: str, instance_id: str, device_index: int, card: int) -> str:
        return self._metered(
            "AttachNetworkInterface",
            lambda: self.api.attach_network_interface(eni_id, instance_id, device_index, card),
        )

    def modify_network_interface_attribute(self, eni_id: str, attachment_id: str, delete_on_termination: bool) -> None:
        self._metered(
            "ModifyNetworkInterfaceAttribute",
            lambda: self.api.modify_network_interface_attribute(
                eni_id, attachment_id=attachment_id, delete_on_termination=delete_on_termination
            ),
        )

    def assign_private_ip_addresses(
        self, eni_id: str, *, secondary_ip_count: int = 0, ipv4_prefix_count: int = 0
    ) -> AssignResult:
        api = self.api
        if ipv4_prefix_count:
            return self._metered(
                "AssignPrivateIpAddresses",
                lambda: api.assign_private_ip_addresses(eni_id, ipv4_prefix_count=ipv4_prefix_count),
            )
        return self._metered(
            "AssignPrivateIpAddresses",
            lambda: api.assign_private_ip_addresses(eni_id, secondary_ip_count=secondary_ip_count),
        )

    def unassign_private_ip_addresses(
        self, eni_id: str, *, private_ip_addresses: Sequence[str] = (), ipv4_prefixes: Sequence[str] = ()
    ) -> None:
        api = self.api
        if ipv4_prefixes:
            self._metered(
                "UnassignPrivateIpAddresses",
                lambda: api.unassign_private_ip_addresses(eni_id, ipv4_prefixes=ipv4_prefixes),
            )
        else:
            self._metered(
                "UnassignPrivateIpAddresses",
                lambda: api.unassign_private_ip_addresses(eni_id, private_ip_addresses=private_ip_addresses),
            )

    def detach_network_interface(self, attachment_id: str) -> None:
        self._metered("DetachNetworkInterface", lambda: self.api.detach_network_interface(attachment_id))

    def delete_network_interface(self, eni_id: str) -> None:
        self._metered("DeleteNetworkInterface", lambda: self.api.delete_network_interface(eni_id))

    def create_tags(self, resource_ids: Sequence[str], tags: Tags) -> None:
        self._metered("CreateTags", lambda: self.api.create_tags(resource_ids, tags))


@dataclass(frozen=True)
class EniAllocation:
    """What creating an ENI produced: its metadata entry once attached with its addresses, or why not."""

    entry: MetadataEni | None
    insufficient_at: float | None = None  # the subnet had no room: the engine backs off from this instant


class EniLifecycle:
    """EC2 operations on one node's ENIs, with the reference's retries; no datastore, no engine lock."""

    def __init__(
        self,
        api: Ec2Api,
        instance_id: str,
        config: IpamConfig,
        clock: Clock,
        rng: random.Random,
        metrics: MetricsSink,
    ) -> None:
        self.ec2 = MeteredEc2(api, metrics, clock)
        self.instance_id = instance_id
        self.cfg = config
        self.clock = clock
        self.rng = rng
        self.metrics = metrics

    def error(self, fn: str) -> None:
        self.metrics.inc("awscni_ipamd_error_count", 1.0, (("fn", fn),))

    def retry(self, attempts: int, base: float, jitter: float, call: Callable[[], T]) -> T:
        """The reference's ENI-lifecycle retry loops (§11.3): back-off base × 2^try, cap 60 s, + jitter."""
        for attempt in range(attempts):
            try:
                return call()
            except NotFoundError:
                raise
            except Ec2Error:
                if attempt == attempts - 1:
                    raise
                delay = min(base * 2**attempt, 60.0)
                self.clock.sleep(delay * (1 + self.rng.random() * jitter))
        raise AssertionError("unreachable")

    # --- reads ------------------------------------------------------------------------------------
    def metadata(self) -> InstanceMetadata | None:
        """Instance metadata, or None when it cannot be read (callers count or report that)."""
        try:
            return self.ec2.instance_metadata(self.instance_id)
        except Ec2Error as exc:
            log.warning("instance metadata unavailable: %s", exc.code)
            return None

    def describe_all(self, eni_ids: Sequence[str]) -> dict[str, NetworkInterface]:
        """Describe ENIs, dropping ids EC2 no longer knows; raises the last error after 12 failed attempts."""
        ids = list(eni_ids)
        for attempt in range(DESCRIBE_ATTEMPTS):
            try:
                return {e.eni_id: e for e in self.ec2.describe_network_interfaces(ids)}
            except NotFoundError as exc:
                missing = eni_id_from_not_found(exc.message)
                if missing in ids:
                    ids.remove(missing)
                elif attempt == DESCRIBE_ATTEMPTS - 1:
                    raise
            except Ec2Error as exc:
                self.clock.sleep((attempt + 1) * 0.01)
                if attempt == DESCRIBE_ATTEMPTS - 1:
                    log.warning("describing %d ENIs failed %d times: %s", len(ids), DESCRIBE_ATTEMPTS, exc.code)
                    raise
        raise AssertionError("unreachable")

    def describe_one(self, eni_id: str) -> NetworkInterface:
        (described,) = self.ec2.describe_network_interfaces([eni_id])
        return described

    def still_on_eni(self, eni_id: str, cidr: str) -> bool:
        try:
            described = self.describe_one(eni_id)
        except Ec2Error as exc:
            log.info("reconcile: %s not re-checked on %s: %s", cidr, eni_id, exc.code)
            return False
        return cidr in described.ipv4_prefixes or cidr[:-3] in described.secondary_ips

    def read_subnets(self, subnet_id: str) -> list[Subnet]:
        return self.ec2.describe_subnets([subnet_id])

    # --- tags -------------------------------------------------------------------------------------
    def wanted_tags(self, created: bool) -> dict[str, str]:
        tags = {TAG_INSTANCE: self.instance_id}
        if self.cfg.cluster_name:
            tags[TAG_CLUSTER] = self.cfg.cluster_name
            tags["eks:eni:owner"] = "amazon-vpc-cni"
        tags.update(self.cfg.additional_eni_tags)
        if created:
            tags[TAG_CREATED] = utc_iso(self.clock.now(), self.clock.epoch)
        return tags

    def tag_if_needed(self, eni_id: str, current: dict[str, str]) -> None:
        if self.cfg.provisioning_disabled:
            return
        missing = {k: v for k, v in self.wanted_tags(False).items() if current.get(k) != v}
        if missing:
            try:
                self.retry(5, 0.5, 0.3, lambda: self.ec2.create_tags([eni_id], missing))
            except Ec2Error as exc:
                log.warning("tagging %s failed: %s", eni_id, exc)

    # --- addresses on an attached ENI ---------------------------------------------------------------
    def assign(self, eni_id: str, count: int, prefix_mode: bool) -> list[str]:
        """Assign `count` CIDRs; on an error other than limit-exceeded retry once with 1 (§3.7 steps 1–4).

        At the ENI's limit the ENI already holds more than the datastore knows: its CIDRs are returned.
        """
        for attempt_count in (count, 1):
            try:
                if prefix_mode:
                    result = self.ec2.assign_private_ip_addresses(eni_id, ipv4_prefix_count=attempt_count)
                else:
                    result = self.ec2.assign_private_ip_addresses(eni_id, secondary_ip_count=attempt_count)
                return [f"{a}/32" for a in result.addresses] + list(result.prefixes)
            except AddressLimitError:
                described = self.describe_one(eni_id)
                if prefix_mode:
                    return list(described.ipv4_prefixes)
                return [f"{a}/32" for a in described.secondary_ips]
            except Ec2Error:
                if attempt_count == 1:
                    raise
        raise AssertionError("unreachable")

    def unassign(self, eni_id: str, cidrs: list[str]) -> None:
        """Give CIDRs the datastore already dropped back to EC2; a failure is logged, reconcile retries it."""
        prefixes = [c for c in cidrs if not c.endswith("/32")]
        addresses = [c[:-3] for c in cidrs if c.endswith("/32")]
        try:
            if prefixes:
                self.ec2.unassign_private_ip_addresses(eni_id, ipv4_prefixes=prefixes)
            if addresses:
                self.ec2.unassign_private_ip_addresses(eni_id, private_ip_addresses=addresses)
        except Ec2Error as exc:
            log.warning("unassign on %s failed: %s", eni_id, exc)

    # --- a new ENI (§3.7, §11.3, §11.4) -----------------------------------------------------------
    def subnets_for_new_eni(self, facts: InstanceFacts, eni_config: EniConfig | None) -> list[str]:
        if self.cfg.custom_networking and eni_config is not None:
            return [eni_config.subnet_id]
        if not self.cfg.enable_subnet_discovery:
            return [facts.primary_subnet_id]
        subnets = self.ec2.describe_subnets(
            filters={"vpc-id": [facts.vpc_id], "availability-zone": [facts.availability_zone]}
        )
        candidates = [
            s
            for s in subnets
            if s.tags.get(TAG_SUBNET_ROLE) != "0"
            and (s.subnet_id == facts.primary_subnet_id or TAG_SUBNET_ROLE in s.tags)
            and self._cluster_tag_matches(s.tags)
        ]
        candidates.sort(key=lambda s: -s.available_ip_address_count)
        return [s.subnet_id for s in candidates]

    def _cluster_tag_matches(self, tags: dict[str, str]) -> bool:
        if not self.cfg.cluster_name or not any(k.startswith(CLUSTER_SUBNET_TAG) for k in tags):
            return True
        return f"{CLUSTER_SUBNET_TAG}{self.cfg.cluster_name}" in tags

    def allocate_eni(self, facts: InstanceFacts, eni_config: EniConfig | None, size: int) -> EniAllocation:
        """Create an ENI with `size` CIDRs, attach it, mark it delete-on-termination, wait for metadata."""
        groups = facts.primary_security_groups
        if self.cfg.custom_networking and eni_config and eni_config.security_groups:
            groups = tuple(sorted(eni_config.security_groups))
        try:
            subnets = self.subnets_for_new_eni(facts, eni_config)
        except Ec2Error as exc:
            log.warning("new ENI: subnets not listed: %s", exc.code)
            self.error("increaseIPPoolAllocENI")
            return EniAllocation(None)
        created: NetworkInterface | None = None
        failure: Ec2Error | None = None
        for subnet_id in subnets:
            try:
                created = self.ec2.create_network_interface(
                    subnet_id,
                    description=f"{DESCRIPTION_PREFIX}{self.instance_id}",
                    groups=groups,
                    tags=self.wanted_tags(True),
                    **({"ipv4_prefix_count": size} if facts.prefix_mode else {"secondary_ip_count": size}),
                )
                break
            except InsufficientAddressesError as exc:
                failure = exc
            except Ec2Error as exc:
                failure = exc
                break
        if created is None:
            self.error("increaseIPPoolAllocENI")
            if failure is None or isinstance(failure, InsufficientAddressesError):
                self.error("increaseIPPoolAllocIPAddressesFailed")
                return EniAllocation(None, insufficient_at=self.clock.now())
            log.warning("CreateNetworkInterface failed: %s", failure)
            return EniAllocation(None)
        attached = self._attach(created.eni_id)
        if attached is None:
            return EniAllocation(None)
        _device, attachment_id = attached
        try:
            self.ec2.modify_network_interface_attribute(created.eni_id, attachment_id, True)
        except Ec2Error as exc:
            log.warning("ModifyNetworkInterfaceAttribute on %s failed: %s; freeing it", created.eni_id, exc.code)
            self.error("increaseIPPoolAllocENI")
            self.free_eni(created.eni_id)
            return EniAllocation(None)
        entry = self.wait_for_attach(created.eni_id, size, facts.prefix_mode)
        if entry is None:
            self.error("increaseIPPoolwaitENIAttachedFailed")
        return EniAllocation(entry)

    def _attach(self, eni_id: str) -> tuple[int, str] | None:
        try:
            (me,) = self.ec2.describe_instances([self.instance_id])
            used = {e.device_index for e in me.network_interfaces if e.network_card_index == 0}
            device = next(i for i in range(100) if i not in used)
            attachment_id = self.ec2.attach_network_interface(eni_id, self.instance_id, device, 0)
            return device, attachment_id
        except (Ec2Error, StopIteration) as exc:
            log.warning("attaching %s failed (%s); deleting it", eni_id, getattr(exc, "code", "no free device"))
            self.error("increaseIPPoolAllocENI")
            try:
                self.delete_eni(eni_id)
            except NotFoundError:
                log.info("%s was already gone", eni_id)
            except Ec2Error:
                self.metrics.inc("awscni_aws_utils_error_count", 1.0, label_set(fn="AllocENIDeleteErr", error="delete"))
            return None

    def wait_for_attach(self, eni_id: str, wanted: int, prefix_mode: bool) -> MetadataEni | None:
        """Poll metadata until the ENI shows `wanted` addresses/prefixes (§11.3)."""
        last: MetadataEni | None = None
        for attempt in range(12):
            meta = self.metadata()
            last = next((e for e in meta.enis if e.eni_id == eni_id), None) if meta else None
            if last is not None:
                have = len(last.ipv4_prefixes) if prefix_mode else len(last.local_ipv4s) - 1
                if have >= wanted:
                    return last
            if attempt < 11:
                delay = min(0.1 * 2**attempt, 60.0)
                self.clock.sleep(delay * (1 + self.rng.random() * 0.15))
        if last is not None:
            have = len(last.ipv4_prefixes) if prefix_mode else len(last.local_ipv4s) - 1
            if (prefix_mode and have > 1) or (not prefix_mode and have >= 1):
                return last
        self.metrics.inc(
            "awscni_aws_api_error_count", 1.0, label_set(api="waitENIAttachedFailedToAssignIPs", error="timeout")
        )
        return None

    # --- freeing ENIs (§3.9, §11.3) ---------------------------------------------------------------
    def free_eni(self, eni_id: str) -> None:
        """Detach (with retries), wait for the detach, delete; an ENI already gone is done."""
        try:
            described = self.describe_one(eni_id)
            if described.attachment is not None:
                attachment_id = described.attachment.attachment_id
                self.retry(12, 0.2, 0.15, lambda: self.ec2.detach_network_interface(attachment_id))
                self.clock.sleep(DETACH_WAIT)
            self.delete_eni(eni_id)
        except NotFoundError:
            log.info("%s was already gone", eni_id)
        except Ec2Error as exc:
            log.warning("freeing %s failed: %s (the leaked-ENI cleanup deletes it later)", eni_id, exc.code)
            self.error("decreaseIPPoolFreeENIFailed")
            self.metrics.inc("awscni_aws_utils_error_count", 1.0, label_set(fn="FreeENIDeleteErr", error=exc.code))

    def delete_eni(self, eni_id: str) -> None:
        self.retry(12, 0.5, 0.15, lambda: self.ec2.delete_network_interface(eni_id))

    def cleanup_leaked(self, vpc_id: str) -> int:
        """Delete this VPC's detached aws-K8S- ENIs older than 5 minutes (§6); returns how many were deleted."""
        filters = {"tag-key": [TAG_INSTANCE], "status": ["available"], "vpc-id": [vpc_id]}
        if self.cfg.cluster_name:
            filters[f"tag:{TAG_CLUSTER}"] = [self.cfg.cluster_name]
        try:
            found = self.ec2.describe_network_interfaces(filters=filters, max_results=1000)
        except Ec2Error as exc:
            log.warning("leaked-ENI cleanup: listing failed: %s", exc.code)
            return 0
        deleted = 0
        now = self.clock.now()
        for eni in found:
            if not eni.description.startswith(DESCRIPTION_PREFIX):
                continue
            created = eni.tags.get(TAG_CREATED)
            if created is None:
                self._stamp_created(eni.eni_id, now)
                continue
            age = age_seconds(created, now + self.clock.epoch)
            if age is None:  # Q11: an unparsable createdAt is re-tagged, and the ENI still deleted
                self._stamp_created(eni.eni_id, now)
            elif age < LEAKED_ENI_AGE:
                continue
            try:
                self.delete_eni(eni.eni_id)
                deleted += 1
            except Ec2Error as exc:
                self.metrics.inc(
                    "awscni_aws_utils_error_count", 1.0, label_set(fn="cleanUpLeakedENIDeleteErr", error=exc.code)
                )
        return deleted

    def delete_own_orphans(self, vpc_id: str) -> int:
        """Delete detached ENIs this instance created (a crash between create and attach, or mid-free).

        Only at start, when no create of this process can be in flight, so no age is needed; ENIs of other
        instances are left to the reference's 5-minute cleanup. Returns how many were deleted.
        """
        filters = {f"tag:{TAG_INSTANCE}": [self.instance_id], "status": ["available"], "vpc-id": [vpc_id]}
        try:
            found = self.ec2.describe_network_interfaces(filters=filters, max_results=1000)
        except Ec2Error as exc:
            log.warning("orphaned ENIs not listed: %s; the leaked-ENI cleanup deletes them later", exc.code)
            return 0
        deleted = 0
        for eni in found:
            if not eni.description.startswith(DESCRIPTION_PREFIX):
                continue
            try:
                self.delete_eni(eni.eni_id)
                deleted += 1
            except NotFoundError:
                log.info("%s was already gone", eni.eni_id)
            except Ec2Error as exc:
                log.warning("orphaned %s not deleted: %s", eni.eni_id, exc.code)
        return deleted

    def _stamp_created(self, eni_id: str, now: float) -> None:
        try:
            self.ec2.create_tags([eni_id], {TAG_CREATED: utc_iso(now, self.clock.epoch)})
        except Ec2Error as exc:
            log.warning("leaked-ENI cleanup: tagging %s failed: %s", eni_id, exc.code)


def age_seconds(created: str, wall: float) -> float | None:
    """Seconds from an ENI's createdAt tag (ISO 8601) to `wall` (Unix time); None when the tag does not parse."""
    try:
        stamp = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return wall - stamp
