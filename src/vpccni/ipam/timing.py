"""The pool loop's timing (ipamd spec §5.4), defined once for the engine and every simulator that drives it.

The reference's loop waits half a cycle, runs the pool manager, waits the other half, then reconciles
with EC2 if nothing happened for RECONCILE_INTERVAL: a pass every 5 s.
"""

from __future__ import annotations

POOL_CYCLE = 5.0
POOL_HALF_CYCLE = POOL_CYCLE / 2
RECONCILE_INTERVAL = 60.0
