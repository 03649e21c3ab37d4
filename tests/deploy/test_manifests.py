"""deploy/ built with kustomize, every object validated against the Kubernetes OpenAPI schemas of the EKS
versions in support, and every name, port, path, flag and variable checked against the code."""

from __future__ import annotations

import os
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.deploy.conftest import DEPLOY, defaults, envvars, find, parse_cli
from vpccni import __version__
from vpccni.daemon.grpc_server import HEALTH_SERVICE
from vpccni.daemon.process import DaemonOptions
from vpccni.ipam.config import KNOWN_VARIABLES, IpamConfig
from vpccni.metrics_helper import names

# EKS in support (standard or extended) as of late 2026: 1.32 (extended until March 2027) to the newest.
OLDEST_EKS = (1, 32)
VERSIONS = [f"1.{minor}" for minor in range(OLDEST_EKS[1], int(latest_version().split(".")[1]) + 1)]
EXPECTED = {
    ("CustomResourceDefinition", "eniconfigs.crd.k8s.amazonaws.com"),
    ("ServiceAccount", "aws-node"),
    ("ClusterRole", "aws-node"),
    ("ClusterRoleBinding", "aws-node"),
    ("DaemonSet", "aws-node"),
    ("ServiceAccount", "cni-metrics-helper"),
    ("ClusterRole", "cni-metrics-helper"),
    ("ClusterRoleBinding", "cni-metrics-helper"),
    ("Deployment", "cni-metrics-helper"),
}


def test_kustomize_builds_exactly_the_expected_objects_with_this_versions_image(built: list[dict[str, Any]]) -> None:
    assert {(o["kind"], o["metadata"]["name"]) for o in built} == EXPECTED
    images = {c["image"] for o in built if o["kind"] in ("DaemonSet", "Deployment") for c in _containers(o)}
    assert images == {f"vpccni:{__version__}"}
    namespaced = [o for o in built if o["kind"] in ("ServiceAccount", "DaemonSet", "Deployment")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"kube-system"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_for_the_eks_versions(built: list[dict[str, Any]], version: str) -> None:
    for obj in built:
        kubernetes_validate.validate(obj, version, strict=True)


def test_an_invalid_object_is_caught_by_the_validation(built: list[dict[str, Any]]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(find(built, "DaemonSet", "aws-node")))
    broken["spec"]["template"]["spec"]["hostNetwork"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_eniconfig_crd_has_the_references_group_version_and_fields(built: list[dict[str, Any]]) -> None:
    crd = find(built, "CustomResourceDefinition", "eniconfigs.crd.k8s.amazonaws.com")
    assert crd["spec"]["group"] == "crd.k8s.amazonaws.com"
    assert crd["spec"]["names"]["kind"] == "ENIConfig" and crd["spec"]["scope"] == "Cluster"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    schema = version["schema"]["openAPIV3Schema"]
    assert set(schema["properties"]["spec"]["properties"]) == {"subnet", "securityGroups"}
    good = {
        "apiVersion": "crd.k8s.amazonaws.com/v1alpha1",
        "kind": "ENIConfig",
        "metadata": {"name": "us-west-2a"},
        "spec": {"subnet": "subnet-0a1b2c3d4e5f67890", "securityGroups": ["sg-0123456789abcdef0"]},
    }
    jsonschema.validate(good, schema)
    for bad_spec in (
        {"securityGroups": ["sg-01"]},
        {"subnet": "10.0.0.0/24"},
        {"subnet": "subnet-0a", "securityGroups": "sg-01"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, "spec": bad_spec}, schema)


def _containers(obj: dict[str, Any], init: bool = False) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return list(spec.get("initContainers", [])) if init else list(spec["containers"])


def _mounts(container: dict[str, Any], pod: dict[str, Any]) -> dict[str, str]:
    """mountPath in the container → hostPath on the node."""
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    return {m["mountPath"]: host[m["name"]] for m in container["volumeMounts"]}


def test_aws_node_daemonset_is_the_references_shape(built: list[dict[str, Any]]) -> None:
    daemonset = find(built, "DaemonSet", "aws-node")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["serviceAccountName"] == "aws-node"
    assert daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "10%"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert daemonset["spec"]["selector"]["matchLabels"] == {"k8s-app": "aws-node"}
    assert names.POD_SELECTOR == "k8s-app=aws-node" and names.POD_NAMESPACE == "kube-system"
    host_paths = {v["hostPath"]["path"] for v in pod["volumes"]}
    assert host_paths == {"/opt/cni/bin", "/etc/cni/net.d", "/var/run/aws-node", "/var/log/aws-routed-eni"}
    (ipamd,) = _containers(daemonset)
    assert {"NET_ADMIN", "NET_RAW"} <= set(ipamd["securityContext"]["capabilities"]["add"])


def test_init_container_runs_install_cni_with_paths_the_plugin_and_daemon_agree_on(built: list[dict[str, Any]]) -> None:
    daemonset = find(built, "DaemonSet", "aws-node")
    pod = daemonset["spec"]["template"]["spec"]
    (init,) = _containers(daemonset, init=True)
    command, params = parse_cli(init["command"])
    assert command == "install-cni"
    install_defaults = defaults(["vpccni", "install-cni"])
    mounts = _mounts(init, pod)
    assert mounts[str(params["bin_dir"])] == str(install_defaults["bin_dir"])  # the host's /opt/cni/bin
    assert mounts[str(params["conf_dir"])] == str(install_defaults["conf_dir"])
    # the plugin, run by the node's runtime, dials the socket the daemon creates in its state dir
    assert params["daemon_socket"] == DaemonOptions().path("vpccni.sock") == install_defaults["daemon_socket"]
    (ipamd,) = _containers(daemonset)
    assert _mounts(ipamd, pod)[os.path.dirname(params["daemon_socket"])] == os.path.dirname(params["daemon_socket"])
    env = {e["name"]: e["value"] for e in ipamd["env"]}
    assert int(env["AWS_VPC_ENI_MTU"]) == params["mtu"]
    assert env["AWS_VPC_K8S_CNI_VETHPREFIX"] == params["veth_prefix"]


def test_ipamd_container_flags_ports_env_and_probes_agree_with_the_code(built: list[dict[str, Any]]) -> None:
    daemonset = find(built, "DaemonSet", "aws-node")
    pod = daemonset["spec"]["template"]["spec"]
    (ipamd,) = _containers(daemonset)
    assert ipamd["command"] == ["vpccni-aws-node"]  # adds ipamd --cloud aws --instance-id ... --region ...
    command, params = parse_cli(["vpccni", "ipamd", "--cloud", "aws", "--instance-id", "i-0", *ipamd["args"]])
    assert command == "ipamd" and params["datapath"] is True
    assert params["metrics_address"] == "0.0.0.0"  # the helper comes through the API server's pod proxy
    options = DaemonOptions()
    assert params["metrics_port"] == options.metrics_port == names.NODE_METRICS_PORT
    assert params["introspection_port"] == options.introspection_port
    ports = {p["name"]: p["containerPort"] for p in ipamd["ports"]}
    assert ports == {"metrics": options.metrics_port, "introspection": options.introspection_port}

    env = {e["name"]: e["value"] for e in ipamd["env"]}
    assert set(env) <= KNOWN_VARIABLES
    assert IpamConfig.from_env(env).warnings == ()
    assert env["VPC_CNI_VERSION"] == __version__
    log_dir = os.path.dirname(env["AWS_VPC_K8S_CNI_LOG_FILE"])
    assert _mounts(ipamd, pod)[log_dir] == os.path.dirname(env["AWS_VPC_K8S_PLUGIN_LOG_FILE"])

    for probe in (ipamd["readinessProbe"], ipamd["livenessProbe"]):
        command, params = parse_cli(probe["exec"]["command"])
        assert command == "health"
        assert params["service"] == HEALTH_SERVICE
        assert params["socket"] == options.path("ipamd.sock")
        assert os.path.dirname(params["socket"]) in _mounts(ipamd, pod)
    assert ipamd["livenessProbe"]["initialDelaySeconds"] == 60


def test_metrics_helper_deployment_and_rbac_agree_with_the_code(built: list[dict[str, Any]]) -> None:
    deployment = find(built, "Deployment", "cni-metrics-helper")
    (container,) = _containers(deployment)
    command, params = parse_cli(container["command"])
    assert command == "metrics-helper" and params["kubernetes"] is True
    assert params["port"] == names.HELPER_PORT
    assert [p["containerPort"] for p in container["ports"]] == [names.HELPER_PORT]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(names.HELPER_PORT)
    env = {e["name"] for e in container["env"]}
    assert env <= envvars(["vpccni", "metrics-helper"])
    assert {names.ENV_CLUSTER_ID, names.ENV_USE_CLOUDWATCH, names.ENV_INTERVAL} <= env
    role = find(built, "ClusterRole", "cni-metrics-helper")
    allowed = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "list"), ("pods/proxy", "get")} <= allowed
    binding = find(built, "ClusterRoleBinding", "cni-metrics-helper")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cni-metrics-helper", "namespace": "kube-system"}]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "cni-metrics-helper"


def test_aws_node_rbac_has_the_references_permissions(built: list[dict[str, Any]]) -> None:
    role = find(built, "ClusterRole", "aws-node")
    allowed = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    for needed in [
        ("crd.k8s.amazonaws.com", "eniconfigs", "list"),
        ("", "nodes", "get"),
        ("", "pods", "watch"),
        ("", "events", "create"),
        ("vpcresources.k8s.aws", "cninodes", "patch"),
    ]:
        assert needed in allowed
    binding = find(built, "ClusterRoleBinding", "aws-node")
    assert binding["roleRef"]["name"] == "aws-node"


def test_the_image_tag_is_this_version() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": "vpccni", "newTag": __version__}]
