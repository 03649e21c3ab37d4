"""Reading what survives of a damaged checkpoint (truncated, or with garbage in it).

A checkpoint is written atomically, so damage comes from outside (a disk, an operator). The engine
then keeps every allocation record that is still whole, and holds back every other address its ENIs
carry: a pod whose record was lost may still be using its address, so handing it out could give one
address to two pods. `held_key` names such an address's unknown holder.
"""

from __future__ import annotations

import json

from vpccni.ipam.checkpoint import VERSION, CheckpointError, parse
from vpccni.ipam.datastore import MIGRATED_IFNAME, MIGRATED_NETWORK, IpamKey, PodMetadata

RECORD_START = '{"networkName"'
HELD_PREFIX = "held:"  # ':' never appears in a CNI container id, so no real pod's key can match


def salvage(text: str) -> list[tuple[IpamKey, PodMetadata, str, float]]:
    """Every allocation record of a damaged checkpoint that still parses on its own."""
    decoder = json.JSONDecoder()
    records = []
    position = text.find(RECORD_START)
    while position >= 0:
        try:
            record, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find(RECORD_START, position + 1)
            continue
        position = text.find(RECORD_START, end)
        try:
            records.extend(parse(json.dumps({"version": VERSION, "allocations": [record]})))
        except CheckpointError:
            continue  # a whole JSON object, but not an allocation record: nothing to keep
    return records


def held_key(address: str) -> IpamKey:
    """The placeholder holder of an address whose pod is unknown after a damaged checkpoint."""
    return IpamKey(MIGRATED_NETWORK, f"{HELD_PREFIX}{address}", MIGRATED_IFNAME)
