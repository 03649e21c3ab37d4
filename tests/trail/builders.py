"""Hand-built CloudTrail records in the shapes AWS delivers them (written from the public record format).

Every test trail is made here, in the test run: S3 log files, lookup-events pages, JSON lines. Nothing is
copied from a real account; ids, addresses and agents are invented.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "210987654321"
REGION = "eu-west-1"
CNI_AGENT = "aws-sdk-go/1.48.5 (go1.21.5; linux; amd64) amazon-vpc-cni-k8s/version/v1.16.0"
ASG_AGENT = "autoscaling.amazonaws.com"
CONSOLE_AGENT = "console.ec2.amazonaws.com"
START = datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)


def stamp(offset: float) -> str:
    return (START + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Trail:
    """Appends records; helpers for the calls ipamd and the autoscaler make."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._serial = 0
        self._address = 10

    def _id(self) -> str:
        self._serial += 1
        return f"{self._serial:08x}-1111-4222-8333-{self._serial:012x}"

    def addresses(self, count: int, subnet_octet: int = 1) -> list[str]:
        out = []
        for _ in range(count):
            self._address += 1
            out.append(f"10.20.{subnet_octet + self._address // 250}.{self._address % 250 + 4}")
        return out

    def record(
        self,
        at: float,
        name: str,
        request: dict[str, Any] | None,
        response: dict[str, Any] | None = None,
        *,
        caller: str | None = None,
        agent: str = CNI_AGENT,
        error: tuple[str, str] | None = None,
        source: str = "ec2.amazonaws.com",
        read_only: bool = False,
    ) -> dict[str, Any]:
        session = caller or "AutoScaling"
        event_id = self._id()
        record: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": f"AROAEXAMPLEROLEID:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/eks-workers-NodeInstanceRole/{session}",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIAEXAMPLEKEY",
                "sessionContext": {"attributes": {"creationDate": stamp(0), "mfaAuthenticated": "false"}},
            },
            "eventTime": stamp(at),
            "eventSource": source,
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": "10.20.0.9",
            "userAgent": agent,
            "requestParameters": request,
            "responseElements": None,
            "requestID": self._id(),
            "eventID": event_id,
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        }
        if error is not None:
            record["errorCode"], record["errorMessage"] = error
        elif response is not None:
            record["responseElements"] = {"requestId": record["requestID"], **response}
        self.records.append(record)
        return record

    # --- instances -------------------------------------------------------------------------------
    def run_instance(self, at: float, instance: str, kind: str, subnet: str, primary_eni: str) -> dict[str, Any]:
        address = self.addresses(1)[0]
        item = {
            "instanceId": instance,
            "instanceType": kind,
            "subnetId": subnet,
            "privateIpAddress": address,
            "networkInterfaceSet": {
                "items": [
                    {
                        "networkInterfaceId": primary_eni,
                        "subnetId": subnet,
                        "privateIpAddress": address,
                        "attachment": {
                            "attachmentId": f"eni-attach-{primary_eni[4:]}",
                            "deviceIndex": 0,
                            "status": "attaching",
                            "deleteOnTermination": True,
                        },
                    }
                ]
            },
        }
        request = {"instanceType": kind, "subnetId": subnet, "minCount": 1, "maxCount": 1}
        return self.record(at, "RunInstances", request, {"instancesSet": {"items": [item]}}, agent=ASG_AGENT)

    def describe_subnet(self, at: float, caller: str, subnet: str, cidr: str, free: int) -> dict[str, Any]:
        response = {"subnetSet": {"items": [{"subnetId": subnet, "cidrBlock": cidr, "availableIpAddressCount": free}]}}
        return self.record(
            at,
            "DescribeSubnets",
            {"subnetSet": {"items": [{"subnetId": subnet}]}},
            response,
            caller=caller,
            read_only=True,
        )

    # --- ENIs ------------------------------------------------------------------------------------
    def create_eni(self, at: float, caller: str, subnet: str, eni: str, count: int) -> dict[str, Any]:
        primary, *secondary = self.addresses(1 + count)
        request = {
            "subnetId": subnet,
            "description": f"aws-K8S-{caller}",
            "secondaryPrivateIpAddressCount": count,
            "tagSpecificationSet": {
                "items": [
                    {
                        "resourceType": "network-interface",
                        "tags": [{"key": "node.k8s.amazonaws.com/instance_id", "value": caller}],
                    }
                ]
            },
        }
        response = {
            "networkInterface": {
                "networkInterfaceId": eni,
                "subnetId": subnet,
                "description": f"aws-K8S-{caller}",
                "privateIpAddress": primary,
                "privateIpAddressesSet": {
                    "item": [{"privateIpAddress": primary, "primary": True}]
                    + [{"privateIpAddress": a, "primary": False} for a in secondary]
                },
                "status": "pending",
            }
        }
        return self.record(at, "CreateNetworkInterface", request, response, caller=caller)

    def create_eni_fails(
        self, at: float, caller: str, subnet: str, count: int, code: str, message: str
    ) -> dict[str, Any]:
        request = {"subnetId": subnet, "description": f"aws-K8S-{caller}", "secondaryPrivateIpAddressCount": count}
        return self.record(at, "CreateNetworkInterface", request, caller=caller, error=(code, message))

    def attach(self, at: float, caller: str, eni: str, device: int) -> dict[str, Any]:
        request = {"networkInterfaceId": eni, "instanceId": caller, "deviceIndex": device}
        response = {"attachmentId": f"eni-attach-{eni[4:]}", "networkCardIndex": 0}
        return self.record(at, "AttachNetworkInterface", request, response, caller=caller)

    def detach(self, at: float, caller: str, eni: str) -> dict[str, Any]:
        request = {"attachmentId": f"eni-attach-{eni[4:]}", "force": False}
        return self.record(at, "DetachNetworkInterface", request, {"_return": True}, caller=caller)

    def delete(self, at: float, caller: str, eni: str) -> dict[str, Any]:
        return self.record(at, "DeleteNetworkInterface", {"networkInterfaceId": eni}, {"_return": True}, caller=caller)

    def assign(self, at: float, caller: str, eni: str, count: int) -> list[str]:
        got = self.addresses(count)
        request = {"networkInterfaceId": eni, "secondaryPrivateIpAddressCount": count}
        response = {
            "networkInterfaceId": eni,
            "assignedPrivateIpAddressesSet": {
                "assignedPrivateIpAddressSetType": [{"privateIpAddress": a} for a in got]
            },
        }
        self.record(at, "AssignPrivateIpAddresses", request, response, caller=caller)
        return got

    def unassign(self, at: float, caller: str, eni: str, addresses: list[str]) -> dict[str, Any]:
        request = {
            "networkInterfaceId": eni,
            "privateIpAddressesSet": {"items": [{"privateIpAddress": a} for a in addresses]},
        }
        return self.record(at, "UnassignPrivateIpAddresses", request, {"_return": True}, caller=caller)

    def throttled(self, at: float, caller: str, name: str = "DescribeNetworkInterfaces") -> dict[str, Any]:
        return self.record(
            at,
            name,
            {"networkInterfaceIdSet": {}},
            caller=caller,
            read_only=True,
            error=("Client.RequestLimitExceeded", "Request limit exceeded."),
        )

    def other_service(self, at: float) -> dict[str, Any]:
        return self.record(
            at,
            "GetObject",
            {"bucketName": "logs", "key": "a"},
            source="s3.amazonaws.com",
            agent="aws-cli/2.15.0",
            read_only=True,
        )

    # --- writers: the shapes users have ------------------------------------------------------------
    def write_records(self, path: Path, gz: bool = False, indent: int | None = None) -> Path:
        text = json.dumps({"Records": self.records}, indent=indent)
        if gz:
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
        return path

    def write_lines(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        return path

    def write_lookup(self, path: Path) -> Path:
        events = [
            {
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": str(r["readOnly"]).lower(),
                "EventTime": r["eventTime"].replace("Z", "+00:00"),
                "EventSource": r["eventSource"],
                "Username": r["userIdentity"]["principalId"].split(":")[-1],
                "Resources": [],
                "CloudTrailEvent": json.dumps(r),
            }
            for r in self.records
        ]
        path.write_text(json.dumps({"Events": events, "NextToken": "eyJleGFtcGxlIjoidG9rZW4ifQ=="}, indent=4))
        return path

    def write_s3_tree(self, root: Path, per_file: int = 3) -> Path:
        """AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_..._ID.json.gz, plus a digest."""
        day = root / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / START.strftime("%Y/%m/%d")
        day.mkdir(parents=True)
        for index in range(0, len(self.records), per_file):
            chunk = self.records[index : index + per_file]
            name = f"{ACCOUNT}_CloudTrail_{REGION}_{START.strftime('%Y%m%dT%H%M')}Z_{index:04d}abcd.json.gz"
            (day / name).write_bytes(gzip.compress(json.dumps({"Records": chunk}).encode()))
        digest = root / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / REGION
        digest.mkdir(parents=True)
        (digest / "digest.json.gz").write_bytes(gzip.compress(b'{"digestStartTime": "x"}'))
        return root


def exhaustion_trail() -> Trail:
    """Two m5.large nodes on a shared subnet, whole-ENI warm pool, until CreateNetworkInterface fails."""
    trail = Trail()
    subnet = "subnet-0a1b2c3d4e5f60718"
    for index, node in enumerate(("i-0aaa000000000001a", "i-0bbb000000000002b")):
        primary = f"eni-0p{index}00000000000001"
        trail.run_instance(index, node, "m5.large", subnet, primary)
        trail.assign(60 + index, node, primary, 9)
        trail.create_eni(300 + index, node, subnet, f"eni-0s{index}00000000000001", 9)
        trail.attach(301 + index, node, f"eni-0s{index}00000000000001", 1)
    trail.create_eni(600, "i-0aaa000000000001a", subnet, "eni-0s000000000000002", 9)
    trail.attach(601, "i-0aaa000000000001a", "eni-0s000000000000002", 2)
    for at in (700, 760, 820):
        trail.create_eni_fails(
            at,
            "i-0bbb000000000002b",
            subnet,
            9,
            "Client.InsufficientFreeAddressesInSubnet",
            "insufficient free address to allocate 10 address(es)",
        )
    trail.create_eni_fails(
        880,
        "i-0bbb000000000002b",
        subnet,
        9,
        "InsufficientFreeAddressesInSubnet",
        "The specified subnet does not have enough free addresses to satisfy the request.",
    )
    return trail
