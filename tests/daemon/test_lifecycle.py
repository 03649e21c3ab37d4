"""ipamd's lifecycle: SIGTERM finishes cleanly; kill -9 in the middle of a churn loses nothing."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import grpc

from tests.daemon.conftest import add_request, del_request, stub

PD_100 = {"ENABLE_PREFIX_DELEGATION": "true", "MINIMUM_IP_TARGET": "100", "WARM_IP_TARGET": "5"}
ARGS = ("--instance-type", "m5.4xlarge", "--no-latency")


def test_sigterm_writes_the_checkpoint_and_exits_0_and_a_restart_restores(daemon_factory: Any) -> None:
    daemon = daemon_factory(*ARGS, env=PD_100)
    client = stub(daemon)
    held = {f"c{i}": client.AddNetwork(add_request(f"c{i}")).IPAllocationMetadata[0].IPv4Addr for i in range(20)}
    assert daemon.terminate() == 0
    assert any(entry["msg"] == "ipamd stopped" for entry in daemon.log_entries())
    saved = json.loads((daemon.state_dir / "ipam.json").read_text())
    assert {a["containerID"]: a["ipv4"] for a in saved["allocations"]} == held

    again = daemon_factory(*ARGS, env=PD_100, state_dir=daemon.state_dir)
    assert again.metric("awscni_assigned_ip_addresses") == 20
    assert again.metric("awscni_eni_allocated") == 1  # the same simulated ENI, found again
    client = stub(again)
    for container, address in held.items():
        assert client.AddNetwork(add_request(container)).IPAllocationMetadata[0].IPv4Addr == address


def test_kill_9_during_churn_every_pod_keeps_its_address_and_nothing_leaks(daemon_factory: Any) -> None:
    daemon = daemon_factory(*ARGS, env=PD_100)
    client = stub(daemon)
    rng = random.Random(7)
    confirmed: dict[str, str] = {}  # pods whose ADD reply the "kubelet" saw and that it did not delete
    attempted: set[str] = set()
    killed = threading.Event()
    enough = threading.Event()  # 150 ADDs attempted, or the worker stopped: either way, stop waiting

    def churn() -> None:
        serial = 0
        try:
            while not killed.is_set():
                if confirmed and rng.random() < 0.25:
                    container = rng.choice(sorted(confirmed))
                    del confirmed[container]  # a DEL cut off by the kill may or may not have landed
                    client.DelNetwork(del_request(container), timeout=5)
                else:
                    container = f"p{serial}"
                    serial += 1
                    attempted.add(container)
                    if len(attempted) >= 150:
                        enough.set()
                    reply = client.AddNetwork(add_request(container), timeout=5)
                    if reply.Success:
                        confirmed[container] = reply.IPAllocationMetadata[0].IPv4Addr
        except grpc.RpcError:
            return  # the daemon died under us
        finally:
            enough.set()

    worker = threading.Thread(target=churn)
    worker.start()
    enough.wait(120)  # bounded: a worker stopped by an RpcError sets it too
    assert len(attempted) >= 150, f"the churn stopped after {len(attempted)} ADDs"
    daemon.kill()
    killed.set()
    worker.join(10)
    assert not worker.is_alive()
    assert len(confirmed) > 20

    again = daemon_factory(*ARGS, env=PD_100, state_dir=daemon.state_dir)
    saved = json.loads((daemon.state_dir / "ipam.json").read_text())["allocations"]
    addresses = [a["ipv4"] for a in saved]
    assert len(addresses) == len(set(addresses)), "an address is held twice"
    client = stub(again)
    for container, address in confirmed.items():  # kubelet retries: same pod, same address
        reply = client.AddNetwork(add_request(container))
        assert reply.Success and reply.IPAllocationMetadata[0].IPv4Addr == address
    for container in attempted:  # kubelet deletes every sandbox it ever started
        assert client.DelNetwork(del_request(container)).Success
    assert again.metric("awscni_assigned_ip_addresses") == 0
    assert again.introspect("/v1/enis")["0"]["AssignedIPs"] == 0
    assert json.loads((daemon.state_dir / "ipam.json").read_text())["allocations"] == []
