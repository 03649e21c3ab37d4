"""The ipamd process: the engine on the real clock, its servers, its pool loop and its shutdown.

One lock serialises every use of the engine (gRPC calls, fast-endpoint calls, the pool loop,
introspection), because the engine is synchronous and single-threaded by design; the engine lets go
of it for every EC2 call and back-off sleep, and a reply lets go of it while its checkpoint is written
(group commit), so no pod waits on EC2 or on another pod's fsync. The servers answer from the start;
until node init succeeds (retried with back-off while EC2 is unreachable) health says NOT_SERVING
and AddNetwork says not ready.
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
from vpccni.daemon import cloud_setup, sim_faults
from vpccni.daemon.checkpoint_file import FileCheckpointStore, GroupCommitCheckpoint, remove_stale_temp_files
from vpccni.daemon.fast_endpoint import FastEndpoint
from vpccni.daemon.grpc_server import GrpcServer, NodeFacts
from vpccni.daemon.http_endpoints import (
    HttpEndpoint,
    PostRoute,
    Response,
    introspection_route,
    json_body,
    metrics_route,
    networkutils_env_settings,
)
from vpccni.daemon.prometheus import PrometheusMetrics
from vpccni.daemon.timing import CHECKPOINT_WAIT, TimedDatapath
from vpccni.ipam import snapshot
from vpccni.ipam.backend import CniBackend
from vpccni.ipam.config import IpamConfig, ipamd_settings
from vpccni.ipam.facts import IpamInitError
from vpccni.ipam.metrics import label_set
from vpccni.ipam.node import NodeIpam

log = logging.getLogger("vpccni.daemon")

DEFAULT_STATE_DIR = "/var/run/aws-node"
CYCLE_HALF = 2.5  # the pool loop: wait, cycle, wait, reconcile — 5 s a turn
LEAKED_ENI_INTERVAL = 3600.0
INIT_RETRY_BASE = 1.0  # node init retried after 1, 2, 4 ... s (cap 30 s, +20 % jitter) while EC2 is unreachable
INIT_RETRY_CAP = 30.0


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
        self.ready = threading.Event()
        self.metrics = PrometheusMetrics()
        self.clock = RealClock()
        self.config = IpamConfig.from_env(ipamd_settings(options.env))
        self.servers: list[Any] = []
        self.threads: list[threading.Thread] = []
        self.cloud: cloud_setup.NodeCloud | None = None
        self.checkpoint: GroupCommitCheckpoint | None = None
        self.backend: CniBackend | None = None
        self.datapath: Datapath | None = None
        self.grpc: GrpcServer | None = None
        self.endpoints: dict[str, Any] = {}
        self.began = time.monotonic()
        self.failure = ""  # why a node that can never initialize stopped the daemon

    @property
    def node(self) -> NodeIpam | None:
        return self.backend.node if self.backend is not None else None

    # --- start -----------------------------------------------------------------------------------
    def start(self, pod_alive: Callable[[str, str], bool] | None = None) -> None:
        """Serve at once; init the node now or, while EC2 is unreachable, in the background with back-off.

        Raises DaemonError when the node can never initialize (unknown instance type, bad settings)."""
        options = self.options
        state_dir = options.state_dir or DEFAULT_STATE_DIR
        os.makedirs(state_dir, mode=0o755, exist_ok=True)
        for warning in self.config.warnings:
            log.warning(warning)
        self.metrics.set("awscni_build_info", 1, label_set(version=__version__, goversion=platform.python_version()))
        if options.datapath:
            self.datapath = TimedDatapath(self.metrics)
            pod_alive = pod_alive or self.datapath.pod_alive
        self.cloud = self._cloud()
        store = FileCheckpointStore(options.checkpoint_file)
        removed = remove_stale_temp_files(store.path)
        if removed:
            log.info("removed %d temporary checkpoint files a crash left behind", removed)
        store.keep_if_damaged()
        self.checkpoint = GroupCommitCheckpoint(
            store,
            self.lock,
            self._datastore,
            self._checkpoint_written,
            lambda s: self.metrics.observe(CHECKPOINT_WAIT, s),
        ).start()
        self.backend = CniBackend(self._new_node(store, pod_alive), __version__, self.checkpoint)
        self._serve()
        if not self._init_once(store, pod_alive):
            retry = threading.Thread(target=self._init_with_backoff, args=(store, pod_alive), name="node-init")
            retry.daemon = True
            retry.start()
            self.threads.append(retry)

    def _checkpoint_written(self, changes: int) -> None:
        self.metrics.inc("vpccni_checkpoint_writes")
        self.metrics.inc("vpccni_checkpoint_changes", changes)

    def _checkpoint_waited(self, seconds: float) -> None:
        self.metrics.observe(CHECKPOINT_WAIT, seconds)

    def _datastore(self) -> Any:
        node = self.node
        assert node is not None
        return node.ds

    def _cloud(self) -> cloud_setup.NodeCloud:
        options = self.options
        if options.cloud == "sim":
            return cloud_setup.sim_node(options.sim, options.state_dir or DEFAULT_STATE_DIR, self.clock)
        if options.cloud == "aws":
            return cloud_setup.aws_node(
                options.instance_id, options.region, options.endpoint_url, options.imds_endpoint
            )
        raise DaemonError(f"--cloud {options.cloud!r}: expected sim or aws")

    def _new_node(self, store: FileCheckpointStore, pod_alive: Callable[[str, str], bool] | None) -> NodeIpam:
        assert self.cloud is not None and self.checkpoint is not None
        return NodeIpam(
            self.cloud.ec2,
            self.cloud.instance_id,
            self.config,
            self.clock,
            random.Random(),
            checkpoint_store=store,
            metrics=self.metrics,
            pod_alive=pod_alive,
            checkpoint=self.checkpoint,
            lock=self.lock,
        )

    def _serve(self) -> None:
        options = self.options
        assert self.backend is not None and self.cloud is not None
        cloud = self.cloud
        grpc_socket = options.grpc_socket or options.path("ipamd.sock")
        fast_socket = options.fast_socket or options.path("vpccni.sock")
        self._start_http()

        def facts() -> NodeFacts:
            node = self.node
            node_ip = node.primary_ip if node is not None and node.initialized else ""
            return NodeFacts(cloud.instance_id, cloud.region, node_ip, self.config.network_policy_mode)

        self.grpc = GrpcServer(self.backend, self.lock, facts, grpc_socket, options.grpc_listen)
        self.grpc.start()
        self.servers.append(self.grpc)
        cni = CniService(self.backend, self.lock, self.datapath)
        fast = FastEndpoint(self.backend, self.lock, fast_socket, cni=cni, metrics=self.metrics)
        fast.start()
        self.servers.append(fast)
        self.endpoints = {
            "grpc_socket": grpc_socket,
            "grpc_tcp_port": self.grpc.tcp_port,
            "fast_socket": fast_socket,
            "metrics_port": self.port("metrics") if options.metrics_port >= 0 else None,
            "introspection_port": self.port("introspection") if options.introspection_port >= 0 else None,
        }
        log.info("ipamd listening", extra={"endpoints": self.endpoints})

    # --- node init, retried while EC2 is unreachable --------------------------------------------------
    def _init_once(self, store: FileCheckpointStore, pod_alive: Callable[[str, str], bool] | None) -> bool:
        """One init attempt on a fresh engine; True once ready. A permanent failure raises DaemonError."""
        assert self.backend is not None and self.checkpoint is not None
        began = time.monotonic()
        node = self._new_node(store, pod_alive)
        self.metrics.inc("awscni_ipamd_action_inprogress", 1, label_set(fn="nodeInit"))
        try:
            with self.lock:
                self.backend.node = node  # a failed attempt's partial state goes with its engine
                node.init()
            self.checkpoint.wait(self.checkpoint.generation())
        except (IpamInitError, Ec2Error) as exc:
            self.metrics.observe(
                "awscni_ipamd_node_initialization_duration_seconds",
                time.monotonic() - began,
                label_set(success="false"),
            )
            if isinstance(exc, IpamInitError) and not exc.transient:
                self._startup_failed()
                raise DaemonError(f"node initialization failed: {exc}") from exc
            log.warning("node initialization failed; retrying", extra={"error": str(exc)})
            return False
        except Exception as exc:
            self._startup_failed()
            raise DaemonError(f"node initialization failed: {exc!r}") from exc
        finally:
            self.metrics.inc("awscni_ipamd_action_inprogress", -1, label_set(fn="nodeInit"))
        self.metrics.observe(
            "awscni_ipamd_node_initialization_duration_seconds", time.monotonic() - began, label_set(success="true")
        )
        self._became_ready()
        return True

    def _init_with_backoff(self, store: FileCheckpointStore, pod_alive: Callable[[str, str], bool] | None) -> None:
        attempt = 0
        while not self.stopping.is_set():
            delay = min(INIT_RETRY_BASE * 2**attempt, INIT_RETRY_CAP) * (1 + 0.2 * random.random())
            attempt += 1
            if self.stopping.wait(delay):
                return
            try:
                if self._init_once(store, pod_alive):
                    return
            except DaemonError as exc:
                log.error("ipamd cannot start; stopping", extra={"error": str(exc)})
                self.failure = str(exc)
                self.stopping.set()
                return

    def _startup_failed(self) -> None:
        self.metrics.observe(
            "awscni_ipamd_startup_duration_seconds",
            time.monotonic() - self.began,
            label_set(success="false", with_api_server="false", failure_reason="node_initialization"),
        )

    def _became_ready(self) -> None:
        assert self.grpc is not None
        self.grpc.set_serving(True)
        loop = threading.Thread(target=self._pool_loop, name="pool-loop", daemon=True)
        loop.start()
        self.threads.append(loop)
        self.metrics.observe(
            "awscni_ipamd_startup_duration_seconds",
            time.monotonic() - self.began,
            label_set(success="true", with_api_server="false", failure_reason=""),
        )
        self.ready.set()
        log.info("ipamd ready", extra={"endpoints": self.endpoints})

    def _start_http(self) -> None:
        options = self.options

        def locked(view: Callable[[NodeIpam], Any]) -> Callable[[], Any]:
            def read() -> Any:
                with self.lock:  # held only between EC2 calls, never across one
                    node = self.node
                    assert node is not None
                    return view(node)

            return read

        def eni_configs() -> Any:
            node = self.node
            return node.eni_config.name if node is not None and node.eni_config else ""

        views: dict[str, Callable[[], Any]] = {
            "/v1/enis": locked(snapshot.enis),
            "/v1/pods": locked(snapshot.pods),
            "/v1/warm-pool": locked(snapshot.warm_pool),
            "/v1/eni-configs": eni_configs,
            "/v1/networkutils-env-settings": lambda: networkutils_env_settings(dict(options.env)),
            "/v1/ipamd-env-settings": lambda: snapshot.ipamd_env_settings(self.config),
        }
        if options.metrics_port >= 0:
            route = metrics_route(self.exposition)
            metrics = HttpEndpoint("metrics", options.metrics_address, options.metrics_port, route)
            self.servers.append(metrics.start())
        if options.introspection_port >= 0:
            route = introspection_route(views)
            endpoint = HttpEndpoint(
                "introspection", "127.0.0.1", options.introspection_port, route, self._sim_control()
            )
            self.servers.append(endpoint.start())

    def _sim_control(self) -> PostRoute | None:
        """POST /v1/sim-faults: the simulated cloud's fault knobs at run time (`--cloud sim` only)."""
        cloud = self.cloud
        if cloud is None or cloud.sim is None:
            return None
        sim = cloud.sim
        subnet_id = sim.instances[cloud.instance_id].subnet_id

        def post(path: str, body: bytes) -> Response:
            if path != sim_faults.CONTROL_PATH:
                return json_body({"error": f"POST only to {sim_faults.CONTROL_PATH}"}, 404)
            try:
                outcome = sim_faults.control(sim, subnet_id, body)
            except sim_faults.FaultSpecError as exc:
                return json_body({"error": str(exc)}, 400)
            log.warning("simulated cloud faults changed", extra={"faults": body.decode("utf-8", "replace")})
            return json_body(outcome)

        return post

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
        self._guarded("cleanUpOrphanedENIs", node.delete_orphaned_enis)
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
        self.metrics.inc("awscni_ipamd_action_inprogress", 1, label_set(fn=fn))
        try:
            with self.lock:
                step()
        except Ec2Error as exc:
            log.warning("%s failed", fn, extra={"call": fn, "error": f"{exc.code}: {exc.message}"})
        except Exception:
            log.exception("%s failed", fn, extra={"call": fn})
        finally:
            self.metrics.inc("awscni_ipamd_action_inprogress", -1, label_set(fn=fn))

    # --- stop ------------------------------------------------------------------------------------
    def run_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT (or a node init that can never succeed), then shut down gracefully."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, frame: self.stopping.set())
        while not self.stopping.wait(3600):
            pass
        self.shutdown()

    def shutdown(self) -> None:
        """Finish in-flight requests, stop the loop, write the checkpoint, close every server."""
        log.info("ipamd shutting down")
        self.stopping.set()
        node = self.node
        if node is not None:
            with self.lock:
                node.terminating = True
        for server in self.servers:
            if isinstance(server, GrpcServer):
                server.stop(grace=5.0)
        for server in self.servers:
            if not isinstance(server, GrpcServer):
                server.stop()
        for thread in self.threads:
            thread.join(timeout=30)
        if node is not None and node.initialized:
            with self.lock:
                node.ds.checkpoint.save(node.ds)
        if self.checkpoint is not None:
            self.checkpoint.close()
        if self.cloud is not None:
            self.cloud.close()
        if self.datapath is not None:
            self.datapath.close()
        log.info("ipamd stopped")
