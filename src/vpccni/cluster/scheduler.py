"""The scheduler: binds Unschedulable pods to Ready nodes that pass the filters (cluster spec §1.2).

Placement among feasible nodes, vpccni's choice approximating kube-scheduler's "least allocated": the
node with the lowest mean of requested CPU and memory fractions, then fewer pods, then name. Nodes sit
in a heap keyed that way (stale entries skipped lazily, and dropped when they outnumber the nodes), so
placing a pod costs about log(nodes).
"""

from __future__ import annotations

import heapq

from vpccni.cluster.model import Node, Pod, Shape
from vpccni.cluster.rounding import round_decimal


def allocation_share(node: Node) -> float:
    """The placement order's first key: the mean of requested CPU and memory fractions (rounded: ties go on)."""
    capacity = node.capacity
    share = (capacity.cpu_used / capacity.cpu if capacity.cpu else 0.0) + capacity.memory_used / capacity.memory
    return round_decimal(share / 2, 9)  # round(share / 2, 9), fast


# (share, pods, name, version, node): one flat tuple, so the heap compares scalars, never builds a key tuple; name
# and version are unique together, so the node itself is never compared
Entry = tuple[float, int, str, int, Node]


class Scheduler:
    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._version: dict[str, int] = {}

    def update(self, node: Node) -> None:
        """Call after anything that changes a node's allocation, readiness or taint."""
        version = self._version.get(node.name, 0) + 1
        self._version[node.name] = version
        if node.ready and not node.tainted:
            heapq.heappush(self._heap, (allocation_share(node), len(node.pods), node.name, version, node))
            if len(self._heap) > 2 * len(self._version) + 64:
                self._compact()

    def _compact(self) -> None:
        """Drop stale entries (placement reads only the newest one per node), so the heap stays ~ one per node."""
        self._heap = [entry for entry in self._heap if self._version.get(entry[2]) == entry[3]]
        heapq.heapify(self._heap)

    def forget(self, node: Node) -> None:
        self._version[node.name] = self._version.get(node.name, 0) + 1

    def place(self, pod: Pod) -> Node | None:
        """The best feasible node for `pod`, or None (the pod stays Unschedulable).

        The chosen node leaves the heap: the caller binds the pod to it and calls `update`, which files it
        again under its new allocation (putting the old entry back would only leave one more stale entry).
        """
        skipped = []
        chosen = None
        while self._heap:
            entry = heapq.heappop(self._heap)
            node = entry[4]
            if self._version.get(node.name) != entry[3]:
                continue  # stale entry
            if node.fits(pod):
                chosen = node
                break
            skipped.append(entry)
        for entry in skipped:
            heapq.heappush(self._heap, entry)
        return chosen


class PendingPods:
    """Pods waiting for a node, in the order they became pending, with what a scheduling pass needs to stop early:
    how many pending pods have each fit shape, and which were never tried (not yet marked Unschedulable)."""

    def __init__(self) -> None:
        self._pods: dict[str, Pod] = {}
        self._untried: dict[str, Pod] = {}
        self._shapes: dict[Shape, int] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def add(self, pod: Pod) -> None:
        if pod.name in self._pods:
            return
        self._pods[pod.name] = pod
        shape = pod.fit_shape
        self._shapes[shape] = self._shapes.get(shape, 0) + 1
        if not pod.unschedulable:
            self._untried[pod.name] = pod

    def remove(self, pod: Pod) -> None:
        # membership and del, not pop(name, None): compiled, these are native dict operations (once per bound pod)
        name = pod.name
        if name not in self._pods:
            return
        del self._pods[name]
        if name in self._untried:
            del self._untried[name]
        shape = pod.fit_shape
        left = self._shapes[shape] - 1
        if left:
            self._shapes[shape] = left
        else:
            del self._shapes[shape]

    def pods(self) -> list[Pod]:
        return list(self._pods.values())

    def refused(self, pod: Pod) -> None:
        """The scheduler tried `pod` and no node took it (PodScheduled=False, reason Unschedulable)."""
        pod.unschedulable = True
        self._untried.pop(pod.name, None)

    def settled(self, refused: set[Shape]) -> bool:
        """Whether the rest of a pass would change nothing: every pending shape is refused (binding only fills
        nodes, so none fits later in the pass), once the pods never tried are marked as refused here."""
        if not all(shape in refused for shape in self._shapes):
            return False
        for pod in list(self._untried.values()):
            self.refused(pod)
        return True
