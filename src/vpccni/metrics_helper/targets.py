"""Where the nodes' metrics come from: URLs given on the command line, or the aws-node pods of a cluster.

In a cluster the helper does what the reference does: list the pods labelled `k8s-app=aws-node` in
`kube-system` and read each one's `/metrics` through the API server's pod proxy
(`/api/v1/namespaces/NS/pods/POD:61678/proxy/metrics`), so it needs no route to the nodes, only RBAC.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from vpccni.metrics_helper.names import NODE_METRICS_PORT, POD_NAMESPACE, POD_SELECTOR


class ScrapeError(Exception):
    """A node that did not answer with metrics; `reason` is a short label for the error counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DiscoveryError(Exception):
    """The list of nodes could not be read (API server down, no permission)."""


class KubeConfigError(Exception):
    """Neither an in-cluster service account nor a kubeconfig to talk to the API server."""


class Target(NamedTuple):
    name: str  # stable per daemon process: the URL, or the aws-node pod's name
    fetch: Callable[[float], str]  # timeout in seconds → the Prometheus text


def url_targets(urls: Sequence[str]) -> Callable[[], list[Target]]:
    targets = [Target(url, _url_fetcher(url)) for url in urls]
    return lambda: list(targets)


def _url_fetcher(url: str) -> Callable[[float], str]:
    def fetch(timeout: float) -> str:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise ScrapeError("http", f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise ScrapeError("unreachable", str(reason)) from None
        return _decode(body)

    return fetch


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScrapeError("parse", f"not UTF-8 text: {exc.reason}") from None


def kubernetes_api(kubeconfig: str | None = None) -> Any:
    """A CoreV1Api from the pod's service account, else from `kubeconfig` (or KUBECONFIG, ~/.kube/config)."""
    import yaml
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    if kubeconfig is None:
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.CoreV1Api(client.ApiClient(configuration))
        except ConfigException:
            pass  # not in a pod: fall back to a kubeconfig file, as kubectl does
    try:
        return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    except (ConfigException, yaml.YAMLError, OSError, ValueError, TypeError, KeyError) as exc:
        where = kubeconfig or "KUBECONFIG or ~/.kube/config"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KubeConfigError(f"no in-cluster config and no usable kubeconfig ({where}): {first_line}") from None


class PodTargets:
    """The running pods of the aws-node DaemonSet, each read through the API server's pod proxy."""

    def __init__(
        self,
        api: Any,
        namespace: str = POD_NAMESPACE,
        selector: str = POD_SELECTOR,
        port: int = NODE_METRICS_PORT,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.selector = selector
        self.port = port

    def __call__(self) -> list[Target]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            pods = self.api.list_namespaced_pod(self.namespace, label_selector=self.selector, _request_timeout=30)
        except ApiException as exc:
            where = f"{self.namespace} ({self.selector})"
            raise DiscoveryError(f"listing pods in {where}: {exc.status} {exc.reason}") from None
        except (HTTPError, OSError) as exc:
            raise DiscoveryError(f"listing pods in {self.namespace}: {exc}") from None
        running = [p for p in pods.items if p.status is not None and p.status.phase == "Running"]
        return [Target(p.metadata.name, self._fetcher(p.metadata.name)) for p in running]

    def _fetcher(self, pod: str) -> Callable[[float], str]:
        def fetch(timeout: float) -> str:
            from kubernetes.client.exceptions import ApiException
            from urllib3.exceptions import HTTPError

            try:
                response = self.api.connect_get_namespaced_pod_proxy_with_path(
                    f"{pod}:{self.port}",
                    self.namespace,
                    "metrics",
                    _preload_content=False,
                    _request_timeout=timeout,
                )
                body = response.data
            except ApiException as exc:
                raise ScrapeError("http", f"pod proxy: {exc.status} {exc.reason}") from None
            except (HTTPError, OSError) as exc:
                raise ScrapeError("unreachable", f"pod proxy: {exc}") from None
            return _decode(bytes(body))

        return fetch
