"""`vpccni install-cni`: the plugin file and a conflist equivalent to the reference's (cni spec §4.2)."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpccni.fileio import atomic_write

PLUGIN_SOURCE = Path(__file__).with_name("plugin.py")
PLUGIN_NAMES = ("aws-cni", "vpccni")
CONFLIST = "10-aws.conflist"
DEFAULT_SOCKET = "/var/run/aws-node/vpccni.sock"


@dataclass
class InstallResult:
    plugins: list[str]
    conflist: str
    included: list[str]
    left_out: list[str] = field(default_factory=list)


def default_interpreter() -> str:
    """Debian's python3 starts fastest with -IS; any absolute interpreter works."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.realpath(sys.executable)


def plugin_text(interpreter: str, socket_path: str) -> str:
    source = PLUGIN_SOURCE.read_text(encoding="utf-8")
    body = source.split("\n", 1)[1]  # drop the source's own shebang
    body = re.sub(r'^DAEMON_SOCKET = ".*"', f"DAEMON_SOCKET = {json.dumps(socket_path)}", body, count=1, flags=re.M)
    return f"#!{interpreter} -IS\n{body}"  # one argument after the interpreter: Linux passes it whole


def conflist(cni_version: str, mtu: int, veth_prefix: str, with_egress: bool, with_portmap: bool) -> dict[str, Any]:
    plugins: list[dict[str, Any]] = [
        {
            "name": "aws-cni",
            "type": "aws-cni",
            "vethPrefix": veth_prefix,
            "mtu": str(mtu),
            "podSGEnforcingMode": "strict",
            "pluginLogFile": "/var/log/aws-routed-eni/plugin.log",
            "pluginLogLevel": "Debug",
            "capabilities": {"io.kubernetes.cri.pod-annotations": True},
        }
    ]
    if with_egress:
        plugins.append(
            {
                "name": "egress-cni",
                "type": "egress-cni",
                "mtu": str(mtu),
                "enabled": "false",
                "randomizeSNAT": "prng",
                "nodeIP": "",
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "fd00::ac:00/118"}]],
                    "routes": [{"dst": "::/0"}],
                    "dataDir": "/run/cni/v4pd/egress-v6-ipam",
                },
                "pluginLogFile": "/var/log/aws-routed-eni/egress-v6-plugin.log",
                "pluginLogLevel": "Debug",
            }
        )
    if with_portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
    out: dict[str, Any] = {"cniVersion": cni_version, "name": "aws-cni", "disableCheck": True, "plugins": plugins}
    if cni_version == "1.1.0":
        out = {"cniVersion": cni_version, "cniVersions": ["0.4.0", "1.0.0", "1.1.0"], **out}
    return out


def install(
    bin_dir: Path,
    conf_dir: Path,
    *,
    cni_version: str = "0.4.0",
    socket_path: str = DEFAULT_SOCKET,
    interpreter: str | None = None,
    mtu: int = 9001,
    veth_prefix: str = "eni",
) -> InstallResult:
    if cni_version not in ("0.4.0", "1.0.0", "1.1.0"):
        raise ValueError(f"--cni-version {cni_version}: expected 0.4.0, 1.0.0 or 1.1.0")
    if len(veth_prefix) > 4:
        raise ValueError(f"--veth-prefix {veth_prefix!r}: at most 4 characters")
    if not 576 <= mtu <= 9001:
        raise ValueError(f"--mtu {mtu}: expected 576 to 9001")
    bin_dir.mkdir(parents=True, exist_ok=True)
    conf_dir.mkdir(parents=True, exist_ok=True)
    text = plugin_text(interpreter or default_interpreter(), socket_path)
    written = []
    for name in PLUGIN_NAMES:
        atomic_write(str(bin_dir / name), text.encode(), 0o755)
        written.append(str(bin_dir / name))
    egress = (bin_dir / "egress-cni").exists()
    portmap = (bin_dir / "portmap").exists()
    config = conflist(cni_version, mtu, veth_prefix, egress, portmap)
    target = conf_dir / CONFLIST
    atomic_write(str(target), (json.dumps(config, indent=2) + "\n").encode(), 0o644)
    included = ["aws-cni"] + (["egress-cni"] if egress else []) + (["portmap"] if portmap else [])
    left_out = [name for name, present in (("egress-cni", egress), ("portmap", portmap)) if not present]
    return InstallResult(written, str(target), included, left_out)
