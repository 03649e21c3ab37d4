"""Each node's pool loop on virtual time: the reference's 5 s cycle, without running turns known to do nothing.

A node whose last cycle changed nothing, whose datastore agrees with metadata (a no-op reconcile
followed) and whose engine has no timer pending sleeps until a pod or subnet event wakes it; the
reconciles it skipped only moved `last_pool_action`, which `wake` accounts for. A node still waiting for
a reconcile keeps its 5 s grid, but a cycle that would repeat a no-op (nothing touched the engine since
the last cycle, which changed nothing, and no engine timer has come due) is not run. `skip_idle=False`
runs every cycle and every reconcile check instead; the two give the same results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from vpccni.cluster.clocks import ActingClock, EventQueue, Timeline, _Acting
from vpccni.cluster.model import Node
from vpccni.ipam.timing import POOL_CYCLE, POOL_HALF_CYCLE, RECONCILE_INTERVAL

TIMER_SLACK: Final = 1e-9  # a cycle exactly at an engine timer must run: the timer's own test is strict


class NodeStepper:
    def __init__(
        self,
        events: EventQueue,
        world: Timeline,
        acting: ActingClock,
        note_idle: Callable[[Node], None],
        note_subnets: Callable[[], None],
        skip_idle: bool = True,
    ) -> None:
        self.events = events
        self.world = world
        self.acting = acting
        self.note_idle = note_idle
        self.note_subnets = note_subnets
        self.skip_idle = skip_idle
        self.steps = 0  # cycle events handled (work done, not an outcome)

    def start(self, node: Node) -> None:
        """A node became Ready: its loop starts on a grid anchored at this instant."""
        node.grid_origin = self.world.now()
        self._schedule(node, node.next_cycle_after(self.world.now()))

    def stop(self, node: Node) -> None:
        """The node is going away: its pending cycle no longer runs."""
        node.step_token += 1

    def engine(self, node: Node) -> _Acting:
        """The node's engine is about to act outside its pool cycle: what its next cycle would do is unknown again."""
        node.quiet_before = None
        return self.acting.acting(node.clock)

    def wake(self, node: Node) -> None:
        """A pod or subnet event: the node's next 5 s cycle must see it, even if it slept until a timer."""
        if not node.ready:
            return
        wanted = node.next_cycle_after(self.world.now())
        if node.step_at is None or node.step_at > wanted:
            self._catch_up_reconciles(node)
            self._schedule(node, wanted)

    def _schedule(self, node: Node, when: float) -> None:
        if node.step_at is not None and node.step_at <= when:
            return
        node.step_token += 1
        token = node.step_token
        node.step_at = when
        self.events.at(when, lambda: self._cycle(node, token))

    def _catch_up_reconciles(self, node: Node) -> None:
        """Account for the no-op reconciles a sleeping node skipped: they only moved last_pool_action."""
        ipam = node.ipam
        assert ipam is not None
        now = self.world.now()
        checks = node.grid_origin + POOL_CYCLE  # reconcile checks at origin + 5k
        skipped = math.floor((ipam.last_pool_action + RECONCILE_INTERVAL - checks) / POOL_CYCLE) + 1
        first = checks + skipped * POOL_CYCLE
        if first < now:
            period = RECONCILE_INTERVAL + POOL_CYCLE
            ipam.last_pool_action = first + math.floor((now - first) / period) * period

    @staticmethod
    def _engine_state(node: Node) -> tuple[int, int, float, float, float | None, float | None]:
        """Everything a reference-policy pool cycle can change: if none of it moved, the cycle was a no-op.

        The first three are what EC2 and the datastore see (the node must then be reconciled).
        """
        ipam = node.ipam
        assert ipam is not None
        ds = ipam.ds
        return (
            len(ds.enis),
            ds.total,
            node.metrics.calls_total,
            ipam.last_pool_action,
            ipam.last_decrease,
            ipam.last_insufficient,
        )

    def _cycle(self, node: Node, token: int) -> None:
        if token != node.step_token or not node.ready:
            return
        node.step_at = None
        ipam = node.ipam
        assert ipam is not None
        self.steps += 1
        now = self.world.now()
        quiet = node.quiet_before
        if quiet is not None and max(now, node.clock.now()) < quiet:
            # The last cycle changed nothing, nothing touched the engine since and no timer has come due:
            # this cycle would decide the same, so it is not run (the reconcile timing below still is).
            node.clock.advance_to(now)
            changed = False
        else:
            before = self._engine_state(node)
            with self.acting.acting(node.clock):
                ipam.cycle()
            self.note_idle(node)
            after = self._engine_state(node)
            changed = after[:3] != before[:3]
            if changed:
                node.unsynced = True
                self.note_subnets()
            quiet = None
            if self.skip_idle and after == before and ipam.observed is None:  # adaptive cycles learn as they go
                timer = ipam.next_timer()
                quiet = math.inf if timer is None else timer - TIMER_SLACK
            node.quiet_before = quiet
        check = now + POOL_HALF_CYCLE
        if check - ipam.last_pool_action > RECONCILE_INTERVAL or not self.skip_idle:
            self.events.at(check, lambda: self._reconcile(node))
        if not self.skip_idle or changed or node.unsynced:
            self._schedule(node, node.next_cycle_after(now))
            return
        if quiet is None:  # the adaptive policy: ask the engine
            timer = ipam.next_timer()
            quiet = None if timer is None else timer - TIMER_SLACK
        if quiet is not None and quiet != math.inf:
            self._schedule(node, max(node.next_cycle_after(quiet), node.next_cycle_after(now)))

    def _reconcile(self, node: Node) -> None:
        if not node.ready or node.tainted:
            return
        ipam = node.ipam
        assert ipam is not None
        with self.engine(node):
            if not ipam.reconcile_due():
                return
            before = self._engine_state(node)[:3]
            ipam.reconcile()
        self.note_idle(node)
        if self._engine_state(node)[:3] != before:
            node.unsynced = True
            self.wake(node)
        else:
            node.unsynced = False
