"""Instance metadata (IMDSv2) for every simulated instance, under `/imds/INSTANCE_ID/latest/...`.

The tree holds the paths the reference's ipamd reads (ipamd spec §11.1), answered from the simulated
cloud's metadata view at the moment of each GET, so an ENI or address appears here only after the
metadata delay the cloud models. IMDSv2 only: `PUT latest/api/token` with a TTL header returns a token,
and every GET must carry a live token issued for the same instance (401 otherwise). TTLs run on the
cloud's clock, so a test on a virtual clock sees a token expire exactly.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Union

from vpccni.cloud.errors import Ec2Error
from vpccni.cloud.records import InstanceMetadata, MetadataEni
from vpccni.cloud.sim import SimCloud, SimEc2

TOKEN_HEADER = "x-aws-ec2-metadata-token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
MAX_TTL = 21600
MAX_TOKENS = 10000  # live tokens kept; the soonest to expire go first beyond this

Tree = dict[str, Union[str, "Tree"]]


@dataclass(frozen=True)
class ImdsReply:
    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()


def _eni_tree(eni: MetadataEni, owner: str) -> Tree:
    tree: Tree = {
        "device-number": str(eni.device_number),
        "network-card": str(eni.network_card),
        "interface-id": eni.eni_id,
        "mac": eni.mac,
        "owner-id": owner,
        "subnet-id": eni.subnet_id,
        "subnet-ipv4-cidr-block": eni.subnet_cidr,
        "vpc-id": eni.vpc_id,
        "vpc-ipv4-cidr-block": eni.vpc_cidrs[0] if eni.vpc_cidrs else "",
        "vpc-ipv4-cidr-blocks": "\n".join(eni.vpc_cidrs),
        "local-ipv4s": "\n".join(eni.local_ipv4s),
        "security-group-ids": "\n".join(eni.security_group_ids),
    }
    if eni.ipv4_prefixes:  # as on EC2: the key is absent (404) while the ENI holds no prefix
        tree["ipv4-prefix"] = "\n".join(eni.ipv4_prefixes)
    return tree


def metadata_tree(meta: InstanceMetadata, owner: str) -> Tree:
    """`latest/` as a tree: directories are dicts, files strings."""
    identity = {
        "accountId": owner,
        "availabilityZone": meta.availability_zone,
        "instanceId": meta.instance_id,
        "instanceType": meta.instance_type,
        "privateIp": meta.local_ipv4,
        "region": meta.region,
        "architecture": "x86_64",
        "version": "2017-09-30",
    }
    return {
        "meta-data": {
            "instance-id": meta.instance_id,
            "instance-type": meta.instance_type,
            "local-ipv4": meta.local_ipv4,
            "mac": meta.primary_mac,
            "placement": {"availability-zone": meta.availability_zone, "region": meta.region},
            "network": {"interfaces": {"macs": {e.mac: _eni_tree(e, owner) for e in meta.enis}}},
        },
        "dynamic": {"instance-identity": {"document": json.dumps(identity, indent=2)}},
    }


def lookup(tree: Tree, path: str) -> str | None:
    """The text at `path` (a file's content, or a directory's listing), None when there is nothing there."""
    node: str | Tree = tree
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, str):
        return node
    return "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in node.items())


class Imds:
    """The metadata service of every instance of one simulated account."""

    def __init__(self, cloud: SimCloud) -> None:
        self.cloud = cloud
        self._tokens: dict[str, tuple[str, float]] = {}  # token → (instance id, expiry on the cloud clock)
        self._lock = threading.Lock()

    def _metadata(self, instance_id: str) -> InstanceMetadata | None:
        try:
            return SimEc2(self.cloud).instance_metadata(instance_id)
        except Ec2Error:
            return None  # unknown or terminated instance: nothing is served for it

    def handle(self, method: str, instance_id: str, path: str, headers: dict[str, str]) -> ImdsReply:
        """`path` is what follows `/imds/INSTANCE_ID/`, e.g. `latest/meta-data/mac`; header names in lower case."""
        meta = self._metadata(instance_id)
        if meta is None:
            return ImdsReply(404, "Not Found")
        if path.strip("/") == "latest/api/token":
            if method != "PUT":
                return ImdsReply(405, "Method Not Allowed")
            return self._token(instance_id, headers)
        if method not in ("GET", "HEAD"):
            return ImdsReply(405, "Method Not Allowed")
        if not path.strip("/"):
            return ImdsReply(200, "latest")
        if not self._valid(headers.get(TOKEN_HEADER, ""), instance_id):
            return ImdsReply(401, "Unauthorized")
        version, _, rest = path.partition("/")
        text = lookup(metadata_tree(meta, self.cloud.config.account_id), rest) if version == "latest" else None
        return ImdsReply(404, "Not Found") if text is None else ImdsReply(200, text)

    def _token(self, instance_id: str, headers: dict[str, str]) -> ImdsReply:
        if "x-forwarded-for" in headers:
            return ImdsReply(403, "Forbidden")  # as EC2's IMDS: a token is never handed through a proxy
        raw = headers.get(TTL_HEADER, "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TTL:
            return ImdsReply(400, f"Bad Request: {TTL_HEADER} must be 1 to {MAX_TTL}")
        ttl = int(raw)
        token = secrets.token_urlsafe(42)
        now = self.cloud.clock.now()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            while len(self._tokens) >= MAX_TOKENS:
                del self._tokens[min(self._tokens, key=lambda t: self._tokens[t][1])]
            self._tokens[token] = (instance_id, now + ttl)
        return ImdsReply(200, token, (("X-aws-ec2-metadata-token-ttl-seconds", str(ttl)),))

    def _valid(self, token: str, instance_id: str) -> bool:
        with self._lock:
            held = self._tokens.get(token)
        return held is not None and held[0] == instance_id and self.cloud.clock.now() < held[1]
