"""The daemon's small parts in process: metrics exposition, atomic checkpoint file, backend semantics."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vpccni.daemon.checkpoint_file import FileCheckpointStore
from vpccni.daemon.prometheus import PrometheusMetrics
from vpccni.ipam import IpamKey
from vpccni.ipam.backend import AddRequest, CniBackend, DelRequest, VersionMismatch
from vpccni.ipam.metrics import label_set
from vpccni.nodesim import NodeSimSpec, NodeSimulation


def test_exposition_keeps_the_reference_names_and_drops_deleted_series() -> None:
    sink = PrometheusMetrics()
    sink.inc("awscni_add_ip_req_count")
    sink.inc("awscni_add_ip_req_count")
    sink.set("awscni_assigned_ip_per_eni", 3, label_set(eni="eni-1"))
    sink.set("awscni_assigned_ip_per_eni", 1, label_set(eni="eni-2"))
    sink.set("awscni_assigned_ip_per_eni", float("nan"), label_set(eni="eni-2"))
    sink.inc("awscni_ipamd_action_inprogress", 1, label_set(fn="nodeInit"))
    sink.inc("awscni_ipamd_action_inprogress", -1, label_set(fn="nodeInit"))
    sink.observe("awscni_aws_api_latency_ms", 12.5, label_set(api="CreateTags", error="false", status="200"))
    sink.observe("awscni_ipamd_startup_duration_seconds", 0.3, label_set(success="true"))
    text = sink.exposition()
    assert "# TYPE awscni_add_ip_req_count counter\nawscni_add_ip_req_count 2.0\n" in text
    assert 'awscni_assigned_ip_per_eni{eni="eni-1"} 3.0' in text and "eni-2" not in text
    assert "# TYPE awscni_ipamd_action_inprogress gauge" in text
    assert 'awscni_ipamd_action_inprogress{fn="nodeInit"} 0.0' in text
    assert 'awscni_aws_api_latency_ms_count{api="CreateTags",error="false",status="200"} 1.0' in text
    assert 'awscni_ipamd_startup_duration_seconds_bucket{success="true",le="0.5"} 1.0' in text
    assert 'awscni_ipamd_startup_duration_seconds_bucket{success="true",le="0.25"} 0.0' in text
    assert "_total" not in text


def test_checkpoint_file_is_replaced_whole_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = FileCheckpointStore(str(tmp_path / "ipam.json"))
    assert store.read() is None
    store.write('{"version": "vpc-cni-ipam/1", "allocations": []}\n')
    inode = os.stat(tmp_path / "ipam.json").st_ino
    store.write('{"version": "vpc-cni-ipam/1", "allocations": [1]}\n')
    assert os.stat(tmp_path / "ipam.json").st_ino != inode  # a rename, never an in-place rewrite
    assert json.loads(store.read() or "")["allocations"] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ipam.json"]


def test_backend_add_is_idempotent_del_of_unknown_succeeds_and_versions_must_match() -> None:
    sim = NodeSimulation(NodeSimSpec("m5.large"))
    sim.start()
    backend = CniBackend(sim.ipam, "1.2.3")
    add = AddRequest("1.2.3", "c1", "eth0", "aws-cni", pod_name="p", pod_namespace="ns")
    first = backend.add_network(add)
    assert first.success and backend.add_network(add).addresses == first.addresses
    assert first.vpc_v4_cidrs == ("10.0.0.0/16",) and first.addresses[0].route_table_id == 254
    assert sim.ipam.ds.assigned == 1
    with pytest.raises(VersionMismatch, match=r'wrong client version "0.9" \(!= "1.2.3"\)'):
        backend.add_network(AddRequest("0.9", "c2", "eth0", "aws-cni"))
    assert not backend.add_network(AddRequest("1.2.3", "", "eth0", "aws-cni")).success
    assert sim.metrics.total("awscni_add_ip_req_count") == 4  # counted before the version check
    released = backend.del_network(DelRequest("1.2.3", "c1", "eth0", "aws-cni"))
    assert released.addresses == first.addresses and sim.ipam.ds.lookup(IpamKey("aws-cni", "c1", "eth0")) is None
    unknown = backend.del_network(DelRequest("1.2.3", "c1", "eth0", "aws-cni"))
    assert unknown.success and unknown.addresses == ()
    assert sim.metrics.by_label("awscni_del_ip_req_count", "reason") == {"PodDeleted": 2}
