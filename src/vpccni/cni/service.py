"""The daemon's side of a CNI invocation: validate, allocate, wire, and answer with the bytes to print.

The shim (`vpccni.cni.plugin`) has checked the variables and opened the netns (cni spec §1.3 steps
1–4); this module does steps 5–10, calls the engine through `CniBackend`, drives the datapath and
renders the result or error JSON in the config's CNI version. A reply is (exit status, stdout bytes).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpccni.cni.datapath import Datapath, host_veth_name
from vpccni.ipam.backend import AddRequest, CniBackend, DelRequest, PodAddress, VersionMismatch
from vpccni.ipam.checkpoint import CheckpointWriteError

log = logging.getLogger("vpccni.cni")

SUPPORTED = ("0.4.0", "1.0.0", "1.1.0")
NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
KNOWN_ARGS = {"IgnoreUnknown", "K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"}
DEFAULT_MTU = 9001


class CniError(Exception):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details


@dataclass
class Invocation:
    command: str
    env: dict[str, str]
    stdin: bytes
    netns_fd: int | None


@dataclass
class NetConf:
    name: str
    version: str
    veth_prefix: str
    mtu: int
    prev_result: dict[str, Any] | None
    args: dict[str, str]
    raw: dict[str, Any]


class CniService:
    def __init__(self, backend: CniBackend, lock: threading.Lock, datapath: Datapath | None) -> None:
        self.backend = backend
        self.lock = lock
        self.datapath = datapath

    def handle(self, call: Invocation) -> tuple[int, bytes]:
        version = "1.1.0"
        try:
            conf = self._netconf(call)
            version = conf.version
            if call.command in ("DEL", "CHECK", "GC") and not self.backend.node.initialized:
                raise CniError(11, "ipamd is not ready: node initialization has not finished")
            out = getattr(self, f"_{call.command.lower()}")(call, conf)
            return 0, (json.dumps(out) + "\n").encode() if out is not None else b""
        except CheckpointWriteError as exc:  # the pod keeps its address; the runtime retries the DEL
            return self._error(version, CniError(11, f"{call.command}: ipamd could not record the change", str(exc)))
        except CniError as exc:
            return self._error(version, exc)
        except Exception as exc:  # a bad request never takes the daemon down
            log.exception("CNI %s failed", call.command)
            error = {"cniVersion": version, "code": 999, "msg": "vpccni daemon internal error", "details": repr(exc)}
            return 1, (json.dumps(error) + "\n").encode()

    @staticmethod
    def _error(version: str, exc: CniError) -> tuple[int, bytes]:
        error: dict[str, Any] = {"cniVersion": version, "code": exc.code, "msg": exc.msg}
        if exc.details:
            error["details"] = exc.details
        return 1, (json.dumps(error) + "\n").encode()

    # --- §1.3 steps 5–10 ----------------------------------------------------------------------------
    def _netconf(self, call: Invocation) -> NetConf:
        try:
            raw = json.loads(call.stdin.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CniError(6, "failed to decode the network configuration", str(exc)) from None
        if not isinstance(raw, dict):
            raise CniError(6, "the network configuration is not a JSON object")
        name = raw.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise CniError(7, "network configuration has no valid name", repr(name))
        version = raw.get("cniVersion", "0.1.0")
        if version not in SUPPORTED:
            raise CniError(
                1, "incompatible CNI versions", f"config is {version!r}, plugin supports {', '.join(SUPPORTED)}"
            )
        if call.command in ("STATUS", "GC") and version != "1.1.0":
            raise CniError(1, f"{call.command} needs CNI version 1.1.0", f"config is {version}")
        args = self._args(call.env.get("CNI_ARGS", ""))
        prefix = raw.get("vethPrefix", "eni")
        if not isinstance(prefix, str) or len(prefix) > 4:
            raise CniError(7, "vethPrefix must be at most 4 characters", repr(prefix))
        try:
            mtu = int(raw.get("mtu", DEFAULT_MTU))
        except (TypeError, ValueError):
            mtu = DEFAULT_MTU
        if not 576 <= mtu <= 9001:
            mtu = DEFAULT_MTU
        prev = raw.get("prevResult")
        if call.command == "CHECK" and not isinstance(prev, dict):
            raise CniError(7, "CHECK needs prevResult")
        return NetConf(name, version, prefix, mtu, prev if isinstance(prev, dict) else None, args, raw)

    @staticmethod
    def _args(text: str) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for element in text.split(";"):
            if not element:
                continue
            if element.count("=") != 1:
                raise CniError(4, f'CNI_ARGS: invalid pair "{element}"')
            key, value = element.split("=")
            pairs[key] = value
        ignore = pairs.get("IgnoreUnknown", "false").lower()
        if ignore not in ("1", "true", "0", "false"):
            raise CniError(4, f"CNI_ARGS: IgnoreUnknown={pairs['IgnoreUnknown']!r} is not a boolean")
        unknown = sorted(set(pairs) - KNOWN_ARGS)
        if unknown and ignore not in ("1", "true"):
            raise CniError(4, "CNI_ARGS: unknown keys", ", ".join(repr(k) for k in unknown))
        return pairs

    def _key(self, call: Invocation, conf: NetConf) -> tuple[str, str, str]:
        return conf.name, call.env["CNI_CONTAINERID"], call.env["CNI_IFNAME"]

    def _host_veth(self, call: Invocation, conf: NetConf) -> str:
        namespace, name = conf.args.get("K8S_POD_NAMESPACE", ""), conf.args.get("K8S_POD_NAME", "")
        return host_veth_name(conf.veth_prefix, namespace, name, call.env["CNI_CONTAINERID"])

    # --- commands -----------------------------------------------------------------------------------
    def _add(self, call: Invocation, conf: NetConf) -> dict[str, Any]:
        network, container, ifname = self._key(call, conf)
        request = AddRequest(
            self.backend.version,
            container,
            ifname,
            network,
            netns=call.env.get("CNI_NETNS", ""),
            pod_name=conf.args.get("K8S_POD_NAME", ""),
            pod_namespace=conf.args.get("K8S_POD_NAMESPACE", ""),
            infra_container_id=conf.args.get("K8S_POD_INFRA_CONTAINER_ID", ""),
        )
        try:
            with self.lock:
                reply = self.backend.add_network(request)
        except VersionMismatch as exc:
            raise CniError(11, "add cmd: Error received from AddNetwork", str(exc)) from None
        if not reply.success:
            raise CniError(11, "add cmd: failed to assign an IP address to container", reply.reason)
        address = reply.addresses[0]
        host_veth = self._host_veth(call, conf)
        if self.datapath is not None and call.netns_fd is not None:
            try:
                self.datapath.add(call.netns_fd, ifname, host_veth, address.ipv4, address.route_table_id, conf.mtu)
            except Exception as exc:
                log.warning("datapath setup failed, rolling back", extra={"container": container, "error": repr(exc)})
                self._undo(host_veth, address)
                with self.lock:
                    self.backend.del_network(
                        DelRequest(self.backend.version, container, ifname, network, "SetupNSFailed")
                    )
                raise CniError(999, "add command: failed to setup network", str(exc)) from None
        return self._result(conf, call, host_veth, address)

    def _undo(self, host_veth: str, address: PodAddress) -> None:
        datapath = self.datapath
        assert datapath is not None
        steps: list[Callable[[], None]] = [
            lambda: datapath.delete(address.ipv4, address.route_table_id),
            lambda: datapath.remove_host_link(host_veth),
        ]
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("rollback step failed")

    def _result(self, conf: NetConf, call: Invocation, host_veth: str, address: PodAddress) -> dict[str, Any]:
        ip: dict[str, Any] = {"interface": 1, "address": f"{address.ipv4}/32"}
        if conf.version == "0.4.0":
            ip = {"version": "4", **ip}
        result: dict[str, Any] = {
            "cniVersion": conf.version,
            "interfaces": [
                {"name": host_veth},
                {"name": call.env["CNI_IFNAME"], "mac": str(address.route_table_id), "sandbox": call.env["CNI_NETNS"]},
                {
                    "name": "dummy" + host_veth[len(conf.veth_prefix) :],
                    "mac": "0",
                    "sandbox": str(address.device_number),
                },
            ],
            "ips": [ip],
        }
        if conf.version == "0.4.0":
            result["dns"] = {}
        return result

    def _del(self, call: Invocation, conf: NetConf) -> None:
        network, container, ifname = self._key(call, conf)
        request = DelRequest(
            self.backend.version,
            container,
            ifname,
            network,
            "PodDeleted",
            pod_name=conf.args.get("K8S_POD_NAME", ""),
            pod_namespace=conf.args.get("K8S_POD_NAMESPACE", ""),
            pod_uid=conf.args.get("K8S_POD_UID", ""),
        )
        with self.lock:
            reply = self.backend.del_network(request)
        if self.datapath is not None:
            for address in reply.addresses:
                self.datapath.delete(address.ipv4, address.route_table_id)
        return None

    def _check(self, call: Invocation, conf: NetConf) -> None:
        network, container, ifname = self._key(call, conf)
        with self.lock:
            address = self.backend.lookup(AddRequest(self.backend.version, container, ifname, network))
        if address is None:
            raise CniError(100, "CHECK: ipamd holds no address for this container", container)
        problems = []
        listed = [ip.get("address", "") for ip in (conf.prev_result or {}).get("ips", [])]
        if f"{address.ipv4}/32" not in listed:
            problems.append(f"prevResult lists {listed}, ipamd holds {address.ipv4}")
        if self.datapath is not None and call.netns_fd is not None:
            host_veth = self._host_veth(call, conf)
            problems += self.datapath.check(call.netns_fd, ifname, host_veth, address.ipv4, address.route_table_id)
        if problems:
            raise CniError(100, "CHECK: the pod network differs from prevResult", "\n".join(problems))
        return None

    def _status(self, call: Invocation, conf: NetConf) -> None:
        if not self.backend.node.initialized:
            raise CniError(50, "ipamd has not finished node initialisation")
        return None

    def _gc(self, call: Invocation, conf: NetConf) -> None:
        valid = conf.raw.get("cni.dev/valid-attachments", conf.raw.get("cni.dev/attachments")) or []
        keep = {(a.get("containerID"), a.get("ifname")) for a in valid if isinstance(a, dict)}
        with self.lock:
            stale = [
                key
                for key, _meta, _address, _t in self.backend.node.ds.allocations()
                if key.network_name == conf.name and (key.container_id, key.if_name) not in keep
            ]
        failures = []
        for key in stale:
            try:
                with self.lock:
                    reply = self.backend.del_network(
                        DelRequest(self.backend.version, key.container_id, key.if_name, key.network_name, "PodDeleted")
                    )
                if self.datapath is not None:
                    for address in reply.addresses:
                        self.datapath.delete(address.ipv4, address.route_table_id)
            except Exception as exc:
                failures.append(f"{key.container_id}/{key.if_name}: {exc}")
        if failures:
            raise CniError(999, "GC: some attachments could not be released", "\n".join(failures))
        return None


def parse_invocation(data: bytes, fds: list[int]) -> Invocation:
    """The shim's frame: b"VPCCNI1\\0" + "KEY=VALUE\\0"… + b"\\0" + stdin."""
    _, _, rest = data.partition(b"\0")
    header, _, stdin = rest.partition(b"\0\0")
    env: dict[str, str] = {}
    for pair in header.split(b"\0"):
        if b"=" in pair:
            key, _, value = pair.decode("utf-8", "replace").partition("=")
            env[key] = value
    return Invocation(env.get("CNI_COMMAND", ""), env, stdin, fds[0] if fds else None)
