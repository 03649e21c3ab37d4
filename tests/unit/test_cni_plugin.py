"""The plugin shim's own checks (cni spec §1.3 steps 1–4) and the daemon's (steps 5–10), without root."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from vpccni.cni.install import install
from vpccni.cni.service import CniService, Invocation
from vpccni.ipam.backend import CniBackend
from vpccni.nodesim import NodeSimSpec, NodeSimulation

CONF = {"cniVersion": "1.0.0", "name": "aws-cni", "type": "aws-cni"}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cni")
    install(root / "bin", root / "conf", socket_path=str(root / "no-daemon.sock"))
    return root / "bin" / "aws-cni"


def invoke(plugin: Path, env: dict[str, str], stdin: str = json.dumps(CONF)) -> tuple[int, Any, str]:
    result = subprocess.run([str(plugin)], env=env, input=stdin, capture_output=True, text=True)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None, result.stderr


BASE = {"CNI_CONTAINERID": "abc", "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"}


@pytest.mark.parametrize(
    ("env", "code", "text"),
    [
        ({}, 4, "CNI_COMMAND"),
        ({"CNI_COMMAND": "EXPLODE"}, 4, "CNI_COMMAND"),
        ({"CNI_COMMAND": "ADD", "CNI_PATH": "/x"}, 4, "CNI_CONTAINERID CNI_IFNAME CNI_NETNS"),
        ({**BASE, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "-bad", "CNI_NETNS": "/x"}, 4, "CNI_CONTAINERID"),
        ({**BASE, "CNI_COMMAND": "ADD", "CNI_IFNAME": "a/b", "CNI_NETNS": "/x"}, 4, "CNI_IFNAME"),
        ({**BASE, "CNI_COMMAND": "ADD", "CNI_NETNS": "/nonexistent/netns"}, 4, "netns"),
        ({**BASE, "CNI_COMMAND": "ADD", "CNI_NETNS": "/proc/self/ns/net"}, 4, "own network namespace"),
        ({**BASE, "CNI_COMMAND": "ADD", "CNI_NETNS": "/etc/hostname"}, 4, "not a network namespace"),
        ({"CNI_COMMAND": "STATUS", "CNI_PATH": "/x"}, 50, "unreachable"),
        ({**BASE, "CNI_COMMAND": "GC"}, 11, "unreachable"),
    ],
)
def test_bad_input_and_no_daemon_give_cni_error_json(plugin: Path, env: dict[str, str], code: int, text: str) -> None:
    status, error, stderr = invoke(plugin, env, json.dumps({**CONF, "cniVersion": "1.1.0"}))
    assert status == 1 and stderr == ""
    assert error["code"] == code and text in error["msg"] + " " + error.get("details", "")


def test_version_and_del_without_a_daemon(plugin: Path) -> None:
    assert invoke(plugin, {"CNI_COMMAND": "VERSION"}, '{"cniVersion": "0.4.0"}')[1] == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"],
    }
    assert invoke(plugin, {"CNI_COMMAND": "VERSION"}, "")[1]["cniVersion"] == "1.1.0"
    assert invoke(plugin, {**BASE, "CNI_COMMAND": "DEL", "CNI_NETNS": ""}) == (0, None, "")


def test_installed_plugin_starts_isolated_and_knows_its_socket(plugin: Path, tmp_path: Path) -> None:
    first = plugin.read_text().splitlines()[0]
    assert first.endswith(" -IS") and first.startswith("#!/")
    assert f'DAEMON_SOCKET = "{plugin.parent.parent / "no-daemon.sock"}"' in plugin.read_text()
    result = install(tmp_path / "bin", tmp_path / "conf", cni_version="1.1.0")
    config = json.loads(Path(result.conflist).read_text())
    assert config["name"] == "aws-cni" and config["disableCheck"] is True and config["cniVersions"][-1] == "1.1.0"
    assert [p["type"] for p in config["plugins"]] == ["aws-cni"] and result.left_out == ["egress-cni", "portmap"]
    (tmp_path / "bin" / "portmap").write_text("")
    again = install(tmp_path / "bin", tmp_path / "conf")
    assert [p["type"] for p in json.loads(Path(again.conflist).read_text())["plugins"]] == ["aws-cni", "portmap"]
    with pytest.raises(ValueError, match="veth-prefix"):
        install(tmp_path / "bin", tmp_path / "conf", veth_prefix="toolong")


@pytest.fixture
def service() -> CniService:
    sim = NodeSimulation(NodeSimSpec("m5.large"))
    sim.start()
    from vpccni import __version__

    return CniService(CniBackend(sim.ipam, __version__), threading.Lock(), None)


def call(service: CniService, command: str, conf: Any, **env: str) -> tuple[int, Any]:
    variables = {**BASE, "CNI_COMMAND": command, "CNI_NETNS": "/var/run/netns/p", **env}
    text = conf if isinstance(conf, str) else json.dumps(conf)
    status, out = service.handle(Invocation(command, variables, text.encode(), None))
    return status, json.loads(out) if out else None


@pytest.mark.parametrize(
    ("command", "conf", "env", "code"),
    [
        ("ADD", "{not json", {}, 6),
        ("ADD", "[1, 2]", {}, 6),
        ("ADD", {"cniVersion": "1.0.0"}, {}, 7),
        ("ADD", {**CONF, "cniVersion": "0.3.1"}, {}, 1),
        ("ADD", {**CONF, "name": "bad name"}, {}, 7),
        ("STATUS", CONF, {}, 1),
        ("ADD", CONF, {"CNI_ARGS": "K8S_POD_NAME"}, 4),
        ("ADD", CONF, {"CNI_ARGS": "COLOUR=red"}, 4),
        ("ADD", CONF, {"CNI_ARGS": "IgnoreUnknown=maybe"}, 4),
        ("ADD", {**CONF, "vethPrefix": "toolong"}, {}, 7),
        ("CHECK", CONF, {}, 7),
    ],
)
def test_daemon_side_validation(service: CniService, command: str, conf: Any, env: dict[str, str], code: int) -> None:
    status, error = call(service, command, conf, **env)
    assert status == 1 and error["code"] == code


def test_results_in_each_version_and_del_idempotent(service: CniService) -> None:
    status, old = call(service, "ADD", {**CONF, "cniVersion": "0.4.0"}, CNI_ARGS="IgnoreUnknown=1;X=1")
    assert status == 0 and old["ips"][0]["version"] == "4" and old["dns"] == {}
    assert old["interfaces"][1]["mac"] == "254" and old["interfaces"][2]["name"].startswith("dummy")
    status, new = call(service, "ADD", CONF, CNI_CONTAINERID="other")
    assert status == 0 and "version" not in new["ips"][0] and "dns" not in new
    assert call(service, "DEL", CONF, CNI_NETNS="") == (0, None)
    assert call(service, "DEL", CONF, CNI_NETNS="") == (0, None)
    assert call(service, "STATUS", {**CONF, "cniVersion": "1.1.0"}) == (0, None)
    gc = {**CONF, "cniVersion": "1.1.0", "cni.dev/valid-attachments": []}
    assert call(service, "GC", gc) == (0, None)
    assert service.backend.node.ds.assigned == 0  # GC released "other"
    assert os.environ.get("CNI_COMMAND") is None
