"""The datastore's key hashes once, at construction; a pickled key must hash again where it is unpickled."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

from vpccni.ipam.datastore import IpamKey


def test_equal_keys_hash_alike_and_the_hash_is_not_shown() -> None:
    a, b = IpamKey("aws-cni", "c1", "eth0"), IpamKey("aws-cni", "c1", "eth0")
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert a != IpamKey("aws-cni", "c1", "eth1")
    assert repr(a) == "IpamKey(network_name='aws-cni', container_id='c1', if_name='eth0')"


def test_a_key_pickled_in_one_process_finds_its_entry_in_another() -> None:
    """String hashes differ between processes (PYTHONHASHSEED): a carried-over hash would miss the entry."""
    blob = pickle.dumps(IpamKey("aws-cni", "c1", "eth0")).hex()
    code = (
        "import pickle, sys; from vpccni.ipam.datastore import IpamKey; "
        f"k = pickle.loads(bytes.fromhex('{blob}')); "
        "sys.exit(0 if {IpamKey('aws-cni', 'c1', 'eth0'): 1}.get(k) == 1 else 1)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
