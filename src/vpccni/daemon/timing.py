"""Where a CNI request's time goes inside ipamd: the whole request, the datapath, the checkpoint wait.

Summaries on /metrics (sum and count per label), so `bench/cni_latency.py` can split a plugin call into
plugin start, socket, engine, datapath and checkpoint without instrumenting the engine itself.
"""

from __future__ import annotations

import time

from vpccni.cni.datapath import Datapath, PodWiring
from vpccni.ipam.metrics import MetricsSink

REQUEST = "vpccni_cni_request_seconds"  # {command}: frame received → reply written
DATAPATH = "vpccni_datapath_seconds"  # {op}: add / delete
CHECKPOINT_WAIT = "vpccni_checkpoint_wait_seconds"  # a reply waiting for its checkpoint write


class TimedDatapath(Datapath):
    """The pyroute2 datapath, each add and delete timed."""

    def __init__(self, metrics: MetricsSink) -> None:
        super().__init__()
        self.metrics = metrics

    def add(self, netns_fd: int, ifname: str, host_veth: str, address: str, route_table_id: int, mtu: int) -> PodWiring:
        began = time.perf_counter()
        try:
            return super().add(netns_fd, ifname, host_veth, address, route_table_id, mtu)
        finally:
            self.metrics.observe(DATAPATH, time.perf_counter() - began, (("op", "add"),))

    def delete(self, address: str, route_table_id: int) -> None:
        began = time.perf_counter()
        try:
            super().delete(address, route_table_id)
        finally:
            self.metrics.observe(DATAPATH, time.perf_counter() - began, (("op", "delete"),))
