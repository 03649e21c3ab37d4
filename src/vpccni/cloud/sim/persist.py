"""Saving and loading a simulated account, so a daemon restarted on the sim finds its ENIs again.

Real EC2 outlives ipamd; the simulated one lives in the daemon's process, so the daemon writes the
account's resources to its state directory (atomically, group-committed: see `vpccni.daemon`) and
loads them on start.
Throttling buckets, the trail and injected faults are per-process and start afresh.
"""

from __future__ import annotations

import pickle
from typing import Any

from vpccni.cloud.sim.state import SimCloud
from vpccni.fileio import atomic_write

FIELDS = ("vpcs", "subnets", "enis", "instances", "attachments", "_pending_detaches")
FORMAT_NAME = "vpccni-sim-cloud"
FORMAT = f"{FORMAT_NAME}/2"  # /2: a subnet's free addresses are arrays (addresses.py); /1 files do not load


def snapshot(cloud: SimCloud) -> bytes:
    """The account's resources as bytes (taken under the cloud's lock, so they are consistent)."""
    with cloud.lock:
        state: dict[str, Any] = {name: getattr(cloud, name) for name in FIELDS}
        state["rng"] = cloud.rng.getstate()
        return pickle.dumps({"format": FORMAT, "state": state}, protocol=pickle.HIGHEST_PROTOCOL)


def save(cloud: SimCloud, path: str) -> None:
    atomic_write(path, snapshot(cloud))


def load(cloud: SimCloud, path: str) -> bool:
    """Fill `cloud` from `path`; False when there is no saved account yet."""
    try:
        with open(path, "rb") as handle:
            saved = pickle.load(handle)  # noqa: S301 - our own state file, in our own state directory
    except FileNotFoundError:
        return False
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else None
        if isinstance(found, str) and found.startswith(f"{FORMAT_NAME}/"):  # ours, of another version
            raise ValueError(
                f"{path}: saved by another vpccni version ({found}, this one reads {FORMAT}); remove it to start afresh"
            )
        raise ValueError(f"{path}: not a {FORMAT} file")
    state = saved["state"]
    with cloud.lock:
        for name in FIELDS:
            setattr(cloud, name, state[name])
        for instance in cloud.instances.values():
            instance.order_devices()
        cloud.metadata_views.clear()  # views of the ENIs the loaded ones replace
        cloud.instance_views.clear()
        cloud.rng.setstate(state["rng"])
    return True


def persist_on_change(cloud: SimCloud, path: str) -> None:
    """Save the account to `path` after every successful mutating call from now on (under the cloud's lock;
    the daemon group-commits instead, see `vpccni.daemon.cloud_setup`)."""
    cloud.on_change = lambda changed: save(changed, path)
