"""A tiny CRI v1 client, run with the e2e interpreter (which has container-runtime-interface-api).

usage: cri_driver.py SOCKET COMMAND [JSON]; prints one JSON object.
  status                      → {"runtime_ready", "network_ready"}
  run {"name","namespace","uid","cgroup_parent"} → {"id", "ip", "state", "pid"}
  stop-remove {"id"}          → {}
  remove-all                  → {"removed": n}
"""

import json
import sys

import grpc
from cri_api.v1 import api_pb2 as pb
from cri_api.v1 import api_pb2_grpc as rpc


def main() -> None:
    socket, command = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    runtime = rpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + socket))
    if command == "status":
        conditions = {c.type: c.status for c in runtime.Status(pb.StatusRequest()).status.conditions}
        out = {
            "runtime_ready": conditions.get("RuntimeReady", False),
            "network_ready": conditions.get("NetworkReady", False),
        }
    elif command == "run":
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=args["name"], namespace=args["namespace"], uid=args["uid"], attempt=0),
            hostname=args["name"],
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=args["cgroup_parent"]),
        )
        pod_id = runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
        status = runtime.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=True))
        out = {
            "id": pod_id,
            "ip": status.status.network.ip,
            "state": pb.PodSandboxState.Name(status.status.state),
            "pid": json.loads(status.info["info"]).get("pid"),
        }
    elif command == "stop-remove":
        runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=args["id"]))
        runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=args["id"]))
        out = {}
    elif command == "remove-all":
        items = runtime.ListPodSandbox(pb.ListPodSandboxRequest()).items
        for sandbox in items:
            runtime.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.id))
            runtime.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id))
        out = {"removed": len(items)}
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
