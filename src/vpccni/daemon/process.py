"""The ipamd process: the engine on the real clock, its servers, its pool loop and its shutdown.

One lock serialises every use of the engine (gRPC calls, fast-endpoint calls, the pool loop,
introspection), because the engine is synchronous and single-threaded by design.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vpccni import __version__
from vpccni.cloud.clock import RealClock
from vpccni.cloud.errors import Ec2Error
from vpccni.cni.datapath import Datapath
from vpccni.cni.service import CniService
from vpccni.daemon import cloud_setup
from vpccni.daemon.checkpoint_file import FileCheckpointStore
from vpccni.daemon.fast_endpoint import FastEndpoint
from vpccni.daemon.grpc_server import GrpcServer, NodeFacts
from vpccni.daemon.http_endpoints import HttpEndpoint, introspection_route, metrics_route, networkutils_env_settings
from vpccni.daemon.prometheus import PrometheusMetrics
from vpccni.ipam import snapshot
from vpccni.ipam.backend import CniBackend
from vpccni.ipam.config import IpamConfig, ipamd_settings
from vpccni.ipam.node import NodeIpam

log = logging.getLogger("vpccni.daemon")

DEFAULT_STATE_DIR = "/var/run/aws-node"
CYCLE_HALF = 2.5  # the pool loop: wait, cycle, wait, reconcile — 5 s a turn
LEAKED_ENI_INTERVAL = 3600.0


class DaemonError(Exception):
    pass


@dataclass
class DaemonOptions:
    cloud: str = "sim"
    sim: cloud_setup.SimNodeSpec = field(default_factory=cloud_setup.SimNodeSpec)
    instance_id: str = ""
    region: str = "us-west-2"
    endpoint_url: str = ""
    imds_endpoint: str = ""  # aws: the instance metadata service ("" = derive the view from describes)
    state_dir: str = ""
    grpc_socket: str = ""
    grpc_listen: str = ""
    fast_socket: str = ""
    metrics_port: int = 61678
    metrics_address: str = "127.0.0.1"  # the reference listens on every address; loopback unless told
    introspection_port: int = 61679
    datapath: bool = False  # wire pods (veth, routes, rules) in this process's network namespace
    env: Mapping[str, str] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return os.path.join(self.state_dir or DEFAULT_STATE_DIR, name)

    @property
    def checkpoint_file(self) -> str:
        if self.state_dir:
            return self.path("ipam.json")
        return self.env.get("AWS_VPC_K8S_CNI_BACKING_STORE") or self.path("ipam.json")


class Ipamd:
    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.metrics = PrometheusMetrics()
        self.clock = RealClock()
        self.config = IpamConfig.from_env(ipamd_settings(options.env))
        self.servers: list[Any] = []
        self.loop_thread: threading.Thread | None = None
        self.node: NodeIpam | None = None
        self.backend: CniBackend | None = None
        self.datapath: Datapath | None = None

    # --- start -----------------------------------------------------------------------------------
    def start(self, pod_alive: Callable[[str, str], bool] | None = None) -> None:
        began = time.monotonic()
        options = self.options
        os.makedirs(options.state_dir or DEFAULT_STATE_DIR, mode=0o755, exist_ok=True)
        for warning in self.config.warnings:
            log.warning(warning)
        self.metrics.set("awscni_build_info", 1, version=__version__, goversion=platform.python_version())
        if options.datapath:
            self.datapath = Datapath()
            pod_alive = pod_alive or self.datapath.pod_alive
        try:
            cloud = self._cloud()
            node = self._init_node(cloud, pod_alive)
        except Exception as exc:
            self.metrics.observe(
                "awscni_ipamd_startup_duration_seconds",
                time.monotonic() - began,
                success="false",
                with_api_server="false",
                failure_reason="node_initialization",
            )
            raise DaemonError(f"node initialization failed: {exc}") from exc
        self.node = node
        self.backend = CniBackend(node, __version__)
        facts = NodeFacts(cloud.instance_id, cloud.region, node.primary_ip, self.config.network_policy_mode)
        grpc_socket = options.grpc_socket or options.path("ipamd.sock")
        fast_socket = options.fast_socket or options.path("vpccni.sock")
        self._start_http(node)
        grpc_server = GrpcServer(self.backend, self.lock, facts, grpc_socket, options.grpc_listen)
        grpc_server.start()
        self.servers.append(grpc_server)
        cni = CniService(self.backend, self.lock, self.datapath)
        fast = FastEndpoint(self.backend, self.lock, fast_socket, cni=cni)
        fast.start()
        self.servers.append(fast)
        self.loop_thread = threading.Thread(target=self._pool_loop, name="pool-loop", daemon=True)
        self.loop_thread.start()
        self.metrics.observe(
            "awscni_ipamd_startup_duration_seconds",
            time.monotonic() - began,
            success="true",
            with_api_server="false",
            failure_reason="",
        )
        endpoints = {
            "grpc_socket": grpc_socket,
            "grpc_tcp_port": grpc_server.tcp_port,
            "fast_socket": fast_socket,
            "metrics_port": self.port("metrics") if options.metrics_port >= 0 else None,
            "introspection_port": self.port("introspection") if options.introspection_port >= 0 else None,
        }
        log.info("ipamd ready", extra={"endpoints": endpoints})

    def _cloud(self) -> cloud_setup.NodeCloud:
        options = self.options
        if options.cloud == "sim":
            return cloud_setup.sim_node(options.sim, options.state_dir or DEFAULT_STATE_DIR, self.clock)
        if options.cloud == "aws":
            return cloud_setup.aws_node(
                options.instance_id, options.region, options.endpoint_url, options.imds_endpoint
            )
        raise DaemonError(f"--cloud {options.cloud!r}: expected sim or aws")

    def _init_node(self, cloud: cloud_setup.NodeCloud, pod_alive: Callable[[str, str], bool] | None) -> NodeIpam:
        began = time.monotonic()
        node = NodeIpam(
            cloud.ec2,
            cloud.instance_id,
            self.config,
            self.clock,
            random.Random(),
            checkpoint_store=FileCheckpointStore(self.options.checkpoint_file),
            metrics=self.metrics,
            pod_alive=pod_alive,
        )
        self.metrics.inc("awscni_ipamd_action_inprogress", fn="nodeInit")
        try:
            node.init()
        except Exception:
            self.metrics.observe(
                "awscni_ipamd_node_initialization_duration_seconds", time.monotonic() - began, success="false"
            )
            raise
        finally:
            self.metrics.inc("awscni_ipamd_action_inprogress", -1, fn="nodeInit")
        self.metrics.observe(
            "awscni_ipamd_node_initialization_duration_seconds", time.monotonic() - began, success="true"
        )
        return node

    def _start_http(self, node: NodeIpam) -> None:
        options = self.options

        def locked(view: Callable[[NodeIpam], Any]) -> Callable[[], Any]:
            def read() -> Any:
                with self.lock:
                    return view(node)

            return read

        views: dict[str, Callable[[], Any]] = {
            "/v1/enis": locked(snapshot.enis),
            "/v1/pods": locked(snapshot.pods),
            "/v1/warm-pool": locked(snapshot.warm_pool),
            "/v1/eni-configs": lambda: node.eni_config.name if node.eni_config else "",
            "/v1/networkutils-env-settings": lambda: networkutils_env_settings(dict(options.env)),
            "/v1/ipamd-env-settings": lambda: snapshot.ipamd_env_settings(self.config),
        }
        if options.metrics_port >= 0:
            route = metrics_route(self.exposition)
            metrics = HttpEndpoint("metrics", options.metrics_address, options.metrics_port, route)
            self.servers.append(metrics.start())
        if options.introspection_port >= 0:
            route = introspection_route(views)
            self.servers.append(HttpEndpoint("introspection", "127.0.0.1", options.introspection_port, route).start())

    def exposition(self) -> str:
        """/metrics: refresh the datastore gauges under the lock so values match the engine exactly."""
        node = self.node
        if node is not None:
            with self.lock:
                node.report_gauges()
        return self.metrics.exposition()

    def port(self, name: str) -> int:
        """The bound port of the metrics or introspection server (tests pass port 0)."""
        for server in self.servers:
            if isinstance(server, HttpEndpoint) and server.name == name:
                return server.port
        raise KeyError(name)

    # --- the pool loop (spec §5.4) ---------------------------------------------------------------
    def _pool_loop(self) -> None:
        node = self.node
        assert node is not None
        next_leak_check = self.clock.now() + random.uniform(0, LEAKED_ENI_INTERVAL)
        while not self.stopping.wait(CYCLE_HALF):
            self._guarded("increaseDatastorePool", node.cycle)
            if self.stopping.wait(CYCLE_HALF):
                break
            with self.lock:
                due = node.reconcile_due()
            if due:
                self._guarded("nodeIPPoolReconcile", node.reconcile)
            if self.clock.now() >= next_leak_check:
                next_leak_check += LEAKED_ENI_INTERVAL
                self._guarded("cleanUpLeakedENIs", node.cleanup_leaked_enis)

    def _guarded(self, fn: str, step: Callable[[], object]) -> None:
        """Run one engine step under the lock; an error is logged and the loop goes on."""
        self.metrics.inc("awscni_ipamd_action_inprogress", fn=fn)
        try:
            with self.lock:
                step()
        except Ec2Error as exc:
            log.warning("%s failed", fn, extra={"call": fn, "error": f"{exc.code}: {exc.message}"})
        except Exception:
            log.exception("%s failed", fn, extra={"call": fn})
        finally:
            self.metrics.inc("awscni_ipamd_action_inprogress", -1, fn=fn)

    # --- stop ------------------------------------------------------------------------------------
    def run_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, frame: self.stopping.set())
        while not self.stopping.wait(3600):
            pass
        self.shutdown()

    def shutdown(self) -> None:
        """Finish in-flight requests, stop the loop, write the checkpoint, close every server."""
        log.info("ipamd shutting down")
        self.stopping.set()
        if self.node is not None:
            with self.lock:
                self.node.terminating = True
        for server in self.servers:
            if isinstance(server, GrpcServer):
                server.stop(grace=5.0)
        for server in self.servers:
            if not isinstance(server, GrpcServer):
                server.stop()
        if self.loop_thread is not None:
            self.loop_thread.join(timeout=30)
        if self.node is not None:
            with self.lock:
                self.node.ds.checkpoint.save(self.node.ds)
        if self.datapath is not None:
            self.datapath.close()
        log.info("ipamd stopped")
