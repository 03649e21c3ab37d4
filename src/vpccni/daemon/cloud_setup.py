"""The cloud a daemon runs against: its own simulated instance (persisted in the state dir) or AWS.

The simulated account is group-committed like the checkpoint: a mutating call marks it changed under
the cloud's lock, one writer thread pickles and writes it, and the call returns only once a write
holding its change is durable, so a restarted daemon never finds fewer addresses than it was given.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field

from vpccni import __version__, catalog
from vpccni.cloud.api import Ec2Api
from vpccni.cloud.clock import Clock
from vpccni.cloud.sim import SimCloud, SimConfig, SimEc2, parse_subnet_cidr, persist
from vpccni.daemon.group_commit import CommitError, GroupCommitter
from vpccni.daemon.sim_faults import SimFaults
from vpccni.fileio import atomic_write

log = logging.getLogger("vpccni.daemon")

SIM_STATE_FILE = "sim-cloud.state"
SIM_AZ = "us-west-2a"
USER_AGENT = f"vpccni/{__version__} ipamd"


class CloudSetupError(Exception):
    pass


@dataclass(frozen=True)
class SimNodeSpec:
    instance_type: str = "m5.large"
    subnet_cidr: str = "10.0.0.0/24"
    subnet_used: int = 0
    seed: int = 0
    latency: bool = True
    faults: SimFaults = field(default_factory=SimFaults)


@dataclass
class NodeCloud:
    ec2: Ec2Api
    instance_id: str
    region: str
    sim: SimCloud | None = None
    committer: GroupCommitter | None = None  # the simulated account's writer, closed at shutdown

    def close(self) -> None:
        if self.committer is not None:
            self.committer.close()


def sim_node(spec: SimNodeSpec, state_dir: str, clock: Clock) -> NodeCloud:
    """A simulated account holding one instance; reloaded from `state_dir` when the daemon restarts."""
    cloud = SimCloud(clock, random.Random(spec.seed), SimConfig(latency=spec.latency))
    path = os.path.join(state_dir, SIM_STATE_FILE)
    try:
        restored = persist.load(cloud, path)
    except (ValueError, OSError, EOFError) as exc:
        raise CloudSetupError(f"cannot load the simulated account: {exc}") from None
    if restored:
        if len(cloud.instances) != 1:
            raise CloudSetupError(f"{path}: expected one instance, found {len(cloud.instances)}")
        instance = next(iter(cloud.instances.values()))
        (primary,) = SimEc2(cloud).describe_network_interfaces([instance.primary_eni])
        instance_id, private_ip = instance.instance_id, primary.primary_ip
    else:
        instance_id, private_ip = _create_sim_node(cloud, spec)
        persist.save(cloud, path)
    committer = _persist_durably(cloud, path)
    spec.faults.apply(cloud)
    api = SimEc2(cloud, instance_id, USER_AGENT, private_ip)
    return NodeCloud(api, instance_id, cloud.config.region, cloud, committer)


def _persist_durably(cloud: SimCloud, path: str) -> GroupCommitter:
    def snapshot() -> tuple[int, bytes]:
        with cloud.lock:
            return committer.generation, persist.snapshot(cloud)

    def wait_durable() -> None:
        try:
            committer.wait(committer.generation)
        except CommitError as exc:  # the call itself succeeded; a later write will hold its change
            log.error("simulated account not persisted: %s", exc)

    def mark(changed: SimCloud) -> None:
        committer.mark()

    committer = GroupCommitter("simulated account", snapshot, lambda data: atomic_write(path, data))
    cloud.on_change = mark
    cloud.after_change = wait_durable
    return committer.start()


def _create_sim_node(cloud: SimCloud, spec: SimNodeSpec) -> tuple[str, str]:
    try:
        catalog.get(spec.instance_type)
    except catalog.UnknownInstanceType as exc:
        raise CloudSetupError(str(exc)) from None
    try:
        subnet = parse_subnet_cidr(spec.subnet_cidr)
    except ValueError as exc:
        raise CloudSetupError(f"--subnet-cidr {exc}") from None
    tool = SimEc2(cloud)
    vpc = tool.create_vpc(str(subnet.supernet(new_prefix=min(16, subnet.prefixlen))))
    subnet_id = tool.create_subnet(vpc.vpc_id, str(subnet), SIM_AZ).subnet_id
    if spec.subnet_used:
        cloud.use_by_others(subnet_id, spec.subnet_used)
    (instance,) = tool.run_instances(spec.instance_type, subnet_id)
    return instance.instance_id, instance.private_ip


def aws_node(instance_id: str, region: str, endpoint_url: str = "", imds_endpoint: str = "") -> NodeCloud:
    """The real EC2 API (or any endpoint speaking it) for an existing instance; metadata from `imds_endpoint`.

    Without --instance-id the instance is the metadata service's own, as in the reference.
    """
    from vpccni.cloud.aws import Boto3Ec2
    from vpccni.cloud.imds import ImdsClient, ImdsError

    try:
        imds = ImdsClient(imds_endpoint) if imds_endpoint else None
    except ValueError as exc:
        raise CloudSetupError(f"--imds-endpoint {exc}") from None
    if not instance_id:
        if imds is None:
            raise CloudSetupError("--cloud aws needs --instance-id or --imds-endpoint")
        try:
            instance_id = (imds.get("meta-data/instance-id") or "").strip()
        except ImdsError as exc:
            raise CloudSetupError(f"--cloud aws without --instance-id: {exc}") from None
        finally:
            imds.close()
        if not instance_id:
            raise CloudSetupError(f"the metadata service at {imds_endpoint} has no instance-id")
    return NodeCloud(Boto3Ec2(region, endpoint_url or None, imds_endpoint=imds_endpoint or None), instance_id, region)
