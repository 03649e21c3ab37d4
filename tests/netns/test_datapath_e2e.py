"""The plugin, the daemon and the real datapath in network namespaces (cni spec §2.4, §2.7, §6)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.netns.conftest import CONF, NODE_ADDRESS, Node, in_ns, run, start_daemon
from vpccni.cni.datapath import host_veth_name

PD_100 = {"ENABLE_PREFIX_DELEGATION": "true", "MINIMUM_IP_TARGET": "100", "WARM_IP_TARGET": "5"}


def host_state(node: Node) -> tuple[str, str, str]:
    links = in_ns(node.name, "ip", "-o", "link", "show").stdout
    rules = in_ns(node.name, "ip", "rule", "show").stdout
    routes = in_ns(node.name, "ip", "route", "show", "table", "main").stdout
    return links, rules, routes


def test_fifty_pods_wired_reachable_and_gone_after_del(node: Node) -> None:
    daemon = start_daemon(node, "--instance-type", "m5.4xlarge", env=PD_100)
    pods: dict[str, tuple[str, str]] = {}  # container → (netns, address)
    results: dict[str, Any] = {}
    for i in range(50):
        netns = node.pod_netns()
        status, result = node.cni("ADD", f"c{i}", netns, CONF, pod=f"web-{i}")
        assert status == 0, result
        address = result["ips"][0]["address"]
        assert address.endswith("/32") and result["interfaces"][1] == {
            "name": "eth0",
            "mac": "254",
            "sandbox": f"/var/run/netns/{netns}",
        }
        pods[f"c{i}"] = (netns, address[:-3])
        results[f"c{i}"] = result
    assert len({a for _, a in pods.values()}) == 50
    assert daemon.metric("awscni_assigned_ip_addresses") == 50

    links, rules, routes = host_state(node)
    for container, (netns, address) in pods.items():
        veth = host_veth_name("eni", "default", f"web-{container[1:]}", container)
        assert results[container]["interfaces"][0] == {"name": veth}
        mac = in_ns(node.name, "cat", f"/sys/class/net/{veth}/address").stdout.strip()
        assert int(mac.split(":")[0], 16) & 0b11 == 0b10  # locally administered unicast
        assert f"512:\tfrom all to {address} lookup main" in rules
        assert f"{address} dev {veth} proto static scope link" in routes
        pod_addr = in_ns(netns, "ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout
        assert f"inet {address}/32" in pod_addr
        pod_routes = in_ns(netns, "ip", "route").stdout
        assert "default via 169.254.1.1 dev eth0" in pod_routes and "169.254.1.1 dev eth0" in pod_routes
        neighbour = in_ns(netns, "ip", "neigh", "show", "169.254.1.1").stdout
        assert f"lladdr {mac} PERMANENT" in neighbour
        assert (
            in_ns(node.name, "ip", "-o", "-4", "addr", "show", "dev", veth).stdout == ""
        )  # no address on the host veth

    everyone = [a for _, a in pods.values()]
    assert node.ping(node.name, *everyone) == set(everyone)  # node → every pod
    first_ns, first = pods["c0"]
    assert node.ping(first_ns, pods["c1"][1], pods["c49"][1], NODE_ADDRESS) == {
        pods["c1"][1],
        pods["c49"][1],
        NODE_ADDRESS,
    }

    for container, (netns, _address) in pods.items():
        prev = {**CONF, "prevResult": results[container]}
        assert node.cni("DEL", container, netns, prev, pod=f"web-{container[1:]}") == (0, None)
    for netns in list(node.pods):  # the runtime destroys the pod netns after DEL; the veths go with them
        run("ip", "netns", "del", netns)
        node.pods.remove(netns)
    deadline = time.monotonic() + 30
    while "eni" in host_state(node)[0] and time.monotonic() < deadline:
        time.sleep(0.1)  # the kernel tears namespaces down asynchronously
    links, rules, routes = host_state(node)
    assert "eni" not in links and " 512:" not in rules and "512:" not in rules
    assert "proto static scope link" not in routes
    assert daemon.metric("awscni_assigned_ip_addresses") == 0
    assert daemon.introspect("/v1/pods") == []


def test_secondary_eni_pod_gets_rule_1536_and_del_is_idempotent(node: Node) -> None:
    daemon = start_daemon(node, "--instance-type", "m5.large", env={"WARM_IP_TARGET": "12"})
    held = []
    for i in range(12):  # 9 fit on the primary ENI; the pool manager attaches device 1 for the rest
        netns = node.pod_netns()
        deadline = time.monotonic() + 60
        while True:
            status, result = node.cni("ADD", f"s{i}", netns, CONF)
            if status == 0 or time.monotonic() > deadline:
                break
            assert result["code"] == 11  # no address yet: kubelet would retry
            time.sleep(0.5)
        assert status == 0, result
        held.append((f"s{i}", netns, result))
    assert daemon.metric("awscni_eni_allocated") == 2
    secondary = [h for h in held if h[2]["interfaces"][1]["mac"] == "2"]
    assert secondary, "no pod landed on the secondary ENI (route table 2)"
    container, netns, result = secondary[0]
    address = result["ips"][0]["address"][:-3]
    assert result["interfaces"][2]["sandbox"] == "1"  # device number in the dummy interface
    rules = in_ns(node.name, "ip", "rule").stdout
    assert f"1536:\tfrom {address} lookup 2" in rules

    prev = {**CONF, "prevResult": result}
    assert node.cni("DEL", container, netns, prev) == (0, None)
    assert node.cni("DEL", container, netns, prev) == (0, None)  # twice
    assert node.cni("DEL", container, "", {**CONF}) == (0, None)  # CRI's second DEL: no netns, no prevResult
    assert node.cni("DEL", "never-added", "", CONF) == (0, None)
    rules = in_ns(node.name, "ip", "rule").stdout
    assert f"from {address} lookup 2" not in rules and f"to {address} lookup main" not in rules
    assert f"{address} dev" not in in_ns(node.name, "ip", "route").stdout


def test_check_reports_what_is_missing_and_del_without_daemon_cleans_from_prev_result(node: Node) -> None:
    start_daemon(node, "--instance-type", "m5.large")
    netns = node.pod_netns()
    status, result = node.cni("ADD", "k1", netns, CONF)
    assert status == 0
    prev = {**CONF, "prevResult": result}
    assert node.cni("CHECK", "k1", netns, prev) == (0, None)
    address = result["ips"][0]["address"][:-3]
    in_ns(node.name, "ip", "rule", "del", "to", f"{address}/32", "priority", "512")
    in_ns(netns, "ip", "neigh", "del", "169.254.1.1", "dev", "eth0")
    status, error = node.cni("CHECK", "k1", netns, prev)
    assert status == 1 and error["code"] == 100
    assert "rule 512" in error["details"] and "neighbour 169.254.1.1" in error["details"]

    in_ns(node.name, "ip", "rule", "add", "to", f"{address}/32", "lookup", "main", "priority", "512")
    assert node.daemon is not None
    node.daemon.kill()
    assert node.cni("DEL", "k1", netns, prev) == (0, None)  # daemon gone: cleaned from prevResult, exit 0
    assert f"to {address} lookup main" not in in_ns(node.name, "ip", "rule").stdout
    status, error = node.cni("ADD", "k2", node.pod_netns(), CONF)
    assert status == 1 and error["code"] == 11 and "unreachable" in error["msg"]
    status, error = node.cni("STATUS", "", "", {**CONF, "cniVersion": "1.1.0"})
    assert status == 1 and error["code"] == 50
    assert json.loads(json.dumps(error))["cniVersion"] == "1.1.0"
