"""The reference's pod datapath (cni spec §2.3–§2.7) with pyroute2, run by the warm daemon.

The daemon lives in the node's (host) network namespace. A pod's namespace arrives as a file
descriptor; a short-lived thread enters it with setns(2) and opens a netlink socket there (a netlink
socket stays bound to the namespace it was created in), so no process is forked per pod.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
GATEWAY = "169.254.1.1"
MAIN = 254
PRIORITY_TO_POD = 512
PRIORITY_FROM_POD = 1536
_libc = ctypes.CDLL(None, use_errno=True)


def host_veth_name(prefix: str, namespace: str, name: str, container_id: str) -> str:
    """prefix + 11 hex digits of sha1("<ns>.<name>"); without pod names, of the container id (vpccni's choice)."""
    key = f"{namespace}.{name}" if namespace or name else container_id
    return prefix + hashlib.sha1(key.encode()).hexdigest()[:11]


def in_netns(netns_fd: int, work: Callable[[IPRoute], T]) -> T:
    """Run `work` with a netlink socket inside the namespace `netns_fd` (on a thread of its own)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            if _libc.setns(netns_fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"setns: {os.strerror(code)}")
            with IPRoute() as ipr:
                outcome["value"] = work(ipr)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="pod-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass(frozen=True)
class PodWiring:
    host_veth: str
    mac: str
    address: str
    route_table_id: int


def _ignore_exists(call: Callable[[], object]) -> None:
    try:
        call()
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _ignore_missing(call: Callable[[], object]) -> None:
    try:
        call()
    except NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.ESRCH, errno.ENODEV, errno.EADDRNOTAVAIL):
            raise


class Datapath:
    """Wires and unwires pods; owns one netlink socket in the host namespace."""

    def __init__(self) -> None:
        self.host = IPRoute()
        self.lock = threading.Lock()  # the host socket is shared by request threads
        self.host_netns = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self.macs: set[str] = {str(link.get_attr("IFLA_ADDRESS")) for link in self.host.get_links()}

    def close(self) -> None:
        self.host.close()
        os.close(self.host_netns)

    def _random_mac(self) -> str:
        """A locally administered unicast MAC no host veth of ours already has (the reference tries 10 times)."""
        for _ in range(10):
            octets = [random.randrange(256) for _ in range(6)]
            octets[0] = (octets[0] | 0x02) & 0xFE
            mac = ":".join(f"{o:02x}" for o in octets)
            if mac not in self.macs:
                return mac
        raise RuntimeError("no unused MAC address after 10 tries")

    def _host_index(self, name: str) -> int | None:
        """One targeted RTM_GETLINK instead of a dump of every link (the node has one per pod)."""
        try:
            return int(self.host.link("get", ifname=name)[0]["index"])
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise

    # --- ADD (§2.3 step 3) -------------------------------------------------------------------------
    def add(self, netns_fd: int, ifname: str, host_veth: str, address: str, route_table_id: int, mtu: int) -> PodWiring:
        with self.lock:
            stale = self._host_index(host_veth)
            if stale is not None:
                self.host.link("del", index=stale)
            mac = self._random_mac()
            self.macs.add(mac)

        def pod_side(ipr: IPRoute) -> None:
            peer = {"ifname": host_veth, "address": mac, "mtu": mtu, "net_ns_fd": self.host_netns}
            ipr.link("add", ifname=ifname, kind="veth", mtu=mtu, peer=peer)
            (index,) = ipr.link_lookup(ifname=ifname)
            ipr.link("set", index=index, state="up")
            ipr.route("replace", dst=f"{GATEWAY}/32", oif=index, scope="link")
            ipr.route("add", dst="0.0.0.0/0", gateway=GATEWAY, oif=index)
            ipr.addr("add", index=index, address=address, prefixlen=32)
            ipr.neigh("add", dst=GATEWAY, lladdr=mac, ifindex=index, state="permanent")

        in_netns(netns_fd, pod_side)
        for name, value in (("accept_ra", "0"), ("accept_redirects", "1"), ("forwarding", "0")):
            try:
                with open(f"/proc/sys/net/ipv6/conf/{host_veth}/{name}", "w") as handle:
                    handle.write(value)
            except FileNotFoundError:
                pass
        with self.lock:
            host_index = self._host_index(host_veth)
            if host_index is None:
                raise RuntimeError(f"host veth {host_veth} did not appear in the host namespace")
            self.host.link("set", index=host_index, state="up")
            self.host.route("replace", dst=f"{address}/32", oif=host_index, scope="link", table=MAIN)
            _ignore_exists(lambda: self.host.rule("add", dst=address, dst_len=32, table=MAIN, priority=PRIORITY_TO_POD))
            if route_table_id not in (1, MAIN):
                _ignore_exists(
                    lambda: self.host.rule(
                        "add", src=address, src_len=32, table=route_table_id, priority=PRIORITY_FROM_POD
                    )
                )
        return PodWiring(host_veth, mac, address, route_table_id)

    # --- DEL (§2.7 step 5): rules and the host route; the veth dies with the pod's netns ------------
    def delete(self, address: str, route_table_id: int) -> None:
        with self.lock:
            _ignore_missing(
                lambda: self.host.rule("del", dst=address, dst_len=32, table=MAIN, priority=PRIORITY_TO_POD)
            )
            if route_table_id not in (1, MAIN):
                for rule in self.host.get_rules(family=2):
                    if (
                        rule.get_attr("FRA_PRIORITY") == PRIORITY_FROM_POD
                        and rule.get_attr("FRA_SRC") == address
                        and rule.get_attr("FRA_TABLE") == route_table_id
                    ):
                        key = _rule_key(rule)
                        _ignore_missing(lambda key=key: self.host.rule("del", **key))  # type: ignore[misc]
            _ignore_missing(lambda: self.host.route("del", dst=f"{address}/32", table=MAIN, scope="link"))

    def remove_host_link(self, host_veth: str) -> None:
        """Undo a half-done ADD (the runtime would otherwise keep a link this ADD created)."""
        with self.lock:
            found = self._host_index(host_veth)
            if found is not None:
                _ignore_missing(lambda: self.host.link("del", index=found))

    # --- CHECK --------------------------------------------------------------------------------------
    def check(self, netns_fd: int, ifname: str, host_veth: str, address: str, route_table_id: int) -> list[str]:
        problems: list[str] = []
        with self.lock:
            found = self.host.link_lookup(ifname=host_veth)
            host_mac = self.host.get_links(found[0])[0].get_attr("IFLA_ADDRESS") if found else None
            rules = self.host.get_rules(family=2)
            routes = self.host.get_routes(family=2, dst=f"{address}/32", table=MAIN) if found else []
        if not found:
            problems.append(f"host veth {host_veth} is missing")
        elif not any(r.get_attr("RTA_OIF") == found[0] for r in routes):
            problems.append(f"host route {address}/32 dev {host_veth} is missing")
        if not any(r.get_attr("FRA_PRIORITY") == PRIORITY_TO_POD and r.get_attr("FRA_DST") == address for r in rules):
            problems.append(f"rule {PRIORITY_TO_POD}: to {address} lookup main is missing")
        if route_table_id not in (1, MAIN) and not any(
            r.get_attr("FRA_PRIORITY") == PRIORITY_FROM_POD
            and r.get_attr("FRA_SRC") == address
            and r.get_attr("FRA_TABLE") == route_table_id
            for r in rules
        ):
            problems.append(f"rule {PRIORITY_FROM_POD}: from {address} lookup {route_table_id} is missing")

        def pod_side(ipr: IPRoute) -> list[str]:
            missing = []
            links = ipr.link_lookup(ifname=ifname)
            if not links:
                return [f"pod interface {ifname} is missing"]
            index = links[0]
            addresses = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)]
            if address not in addresses:
                missing.append(f"pod address {address}/32 is missing on {ifname}")
            defaults = [r for r in ipr.get_routes(family=2, table=MAIN) if r.get("dst_len") == 0]
            if not any(r.get_attr("RTA_GATEWAY") == GATEWAY for r in defaults):
                missing.append(f"pod default route via {GATEWAY} is missing")
            neighbours = [n for n in ipr.get_neighbours(ifindex=index) if n.get_attr("NDA_DST") == GATEWAY]
            if not neighbours or neighbours[0].get_attr("NDA_LLADDR") != host_mac:
                missing.append(f"pod neighbour {GATEWAY} lladdr {host_mac} is missing")
            return missing

        problems += in_netns(netns_fd, pod_side)
        return problems

    def pod_alive(self, namespace: str, name: str) -> bool:
        """The checkpoint's liveness test: a host link whose name ends with the pod's hash."""
        suffix = host_veth_name("", namespace, name, "")
        with self.lock:
            return any(str(link.get_attr("IFLA_IFNAME")).endswith(suffix) for link in self.host.get_links())


def _rule_key(rule: Any) -> dict[str, Any]:
    return {
        "src": rule.get_attr("FRA_SRC"),
        "src_len": rule.get("src_len"),
        "table": rule.get_attr("FRA_TABLE"),
        "priority": rule.get_attr("FRA_PRIORITY"),
    }
