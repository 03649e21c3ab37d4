"""`vpccni metrics-helper`: the cluster-level CNI metrics helper (scrape, aggregate, CloudWatch, Prometheus)."""

from __future__ import annotations

import signal
import threading
import urllib.parse
from typing import Annotated, Any

import typer
from rich.table import Table

from vpccni.cli.app import app
from vpccni.cli.output import console, fail, print_json
from vpccni.metrics_helper import names


@app.command("metrics-helper")
def metrics_helper_cmd(
    targets: Annotated[
        list[str] | None,
        typer.Option("--targets", help="A node's metrics URL, e.g. http://127.0.0.1:61678/metrics (repeat per node)."),
    ] = None,
    kubernetes: Annotated[
        bool,
        typer.Option(
            "--kubernetes", help="Find the aws-node pods through the API server and read them via its pod proxy."
        ),
    ] = False,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="With --kubernetes: this kubeconfig instead of the pod's.")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="With --kubernetes: the pods' namespace.")] = (
        names.POD_NAMESPACE
    ),
    selector: Annotated[str, typer.Option("--selector", help="With --kubernetes: the pods' label selector.")] = (
        names.POD_SELECTOR
    ),
    node_port: Annotated[
        int, typer.Option("--node-port", min=1, max=65535, help="With --kubernetes: ipamd's metrics port.")
    ] = names.NODE_METRICS_PORT,
    interval: Annotated[
        int, typer.Option("--interval", min=1, envvar=names.ENV_INTERVAL, help="Seconds between polls.")
    ] = names.DEFAULT_INTERVAL,
    cluster_id: Annotated[
        str, typer.Option("--cluster-id", envvar=names.ENV_CLUSTER_ID, help="The CLUSTER_ID dimension.")
    ] = names.DEFAULT_CLUSTER_ID,
    cloudwatch: Annotated[
        bool,
        typer.Option(
            "--cloudwatch/--no-cloudwatch", envvar=names.ENV_USE_CLOUDWATCH, help="Publish with PutMetricData."
        ),
    ] = True,
    region: Annotated[
        str | None, typer.Option("--region", envvar=names.ENV_REGION, help="CloudWatch's region.")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="Another CloudWatch endpoint (e.g. moto's server).")
    ] = None,
    port: Annotated[
        int, typer.Option("--port", min=-1, max=65535, help="The helper's own Prometheus endpoint; -1 disables.")
    ] = names.HELPER_PORT,
    listen_address: Annotated[
        str, typer.Option("--listen-address", help="Address of that endpoint (0.0.0.0 in a pod).")
    ] = "127.0.0.1",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each node.")] = 10.0,
    once: Annotated[bool, typer.Option("--once", help="Poll once, print the figures and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output (one line per poll without --once).")] = False,
) -> None:
    """Aggregate every node's ipamd metrics into the cluster figures of the reference cni-metrics-helper
    (assignIPAddresses, totalIPAddresses, eniAllocated, eniMaxAvailable, ipamdErr, ...): gauges summed,
    counters as increases since the previous poll (a restarted node never gives a negative increase), the
    API latency as the worst node's. Publishes them to CloudWatch (namespace Kubernetes, dimension
    CLUSTER_ID) and on its own Prometheus endpoint. A node that does not answer is skipped, counted in
    vpccni_metrics_helper_scrape_errors_total and logged. Flags default to the reference helper's
    variables: AWS_CLUSTER_ID, USE_CLOUDWATCH, METRIC_UPDATE_INTERVAL, AWS_REGION."""
    from vpccni.daemon import logs
    from vpccni.metrics_helper.helper import MetricsHelper, PollResult, Publisher
    from vpccni.metrics_helper.targets import KubeConfigError, PodTargets, kubernetes_api, url_targets

    if bool(targets) == kubernetes:
        fail(
            "give the nodes with --targets URL (one per node) or --kubernetes, not both"
            if targets
            else "no nodes to read: give --targets URL (one per node) or --kubernetes"
        )
    for url in targets or []:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            fail(f"--targets {url!r}: expected an http(s) URL such as http://127.0.0.1:61678/metrics")
    if not cluster_id.strip():
        fail("--cluster-id: empty")
    logs.setup("INFO", "stderr")
    if kubernetes:
        try:
            discover: Any = PodTargets(kubernetes_api(kubeconfig), namespace, selector, node_port)
        except KubeConfigError as exc:
            fail(f"--kubernetes: {exc}")
    else:
        discover = url_targets(targets or [])
    helper = MetricsHelper(discover, timeout=timeout)
    publishers: list[Publisher] = []
    if cloudwatch:
        publishers.append(_cloudwatch(helper, cluster_id, region, endpoint_url))
    helper.publishers = publishers
    bound = None
    if port >= 0:
        try:
            bound = helper.export.serve(listen_address, port)
        except OSError as exc:
            fail(f"--port {port}: cannot listen on {listen_address}: {exc.strerror or exc}", code=1)
        except ValueError as exc:
            fail(f"--listen-address {listen_address!r}: {exc}")
    try:
        if once:
            result = helper.poll()
            _show(result, as_json, cluster_id, bound)
            if not result.nodes or result.published is False:
                raise typer.Exit(1)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, frame: stop.set())

        def report(result: PollResult) -> None:
            if as_json:
                _print_json_line({"cluster_id": cluster_id, **result.to_json()})

        helper.run(interval, stop, on_poll=report)
    finally:
        helper.export.stop()


def _cloudwatch(helper: Any, cluster_id: str, region: str | None, endpoint_url: str | None) -> Any:
    import boto3

    from vpccni.metrics_helper.cloudwatch import CloudWatchPublisher, cloudwatch_client

    region = region or boto3.session.Session().region_name
    if not region:
        fail("--region: CloudWatch needs a region (--region, AWS_REGION) or --no-cloudwatch")
    errors = helper.export.cloudwatch_errors
    return CloudWatchPublisher(
        cloudwatch_client(region, endpoint_url), cluster_id, on_error=lambda code: errors.labels(code=code).inc()
    )


def _print_json_line(data: object) -> None:
    import json
    import sys

    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def _show(result: Any, as_json: bool, cluster_id: str, port: int | None) -> None:
    if as_json:
        print_json({"cluster_id": cluster_id, **result.to_json()})
        return
    table = Table(title=f"cluster {cluster_id}: {len(result.nodes)} nodes answered", show_lines=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("from")
    sources = {m.published: f"{m.source} ({m.rule.value})" for m in names.HELPER_METRICS}
    for name, value in result.to_json()["metrics"].items():
        table.add_row(name, str(value), sources[name])
    console.print(table)
    for target, reason in result.failed.items():
        console.print(f"[yellow]skipped[/] {target}: {reason}", highlight=False)
    if result.published is not None:
        console.print("CloudWatch: " + ("published" if result.published else "[red]not published[/] (see the log)"))
    if port is not None:
        console.print(f"Prometheus endpoint was on port {port}")
