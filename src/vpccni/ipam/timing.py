"""The pool loop's timing (ipamd spec §5.4), defined once for the engine and every simulator that drives it.

The reference's loop waits half a cycle, runs the pool manager, waits the other half, then reconciles
with EC2 if nothing happened for RECONCILE_INTERVAL: a pass every 5 s.
"""

from __future__ import annotations

from typing import Final

POOL_CYCLE: Final = 5.0
POOL_HALF_CYCLE: Final = POOL_CYCLE / 2
RECONCILE_INTERVAL: Final = 60.0
