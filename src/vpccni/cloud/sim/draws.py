"""Random draws of the simulated cloud, compiled: the same values from the same stream as `random.Random`'s
own methods, without a call into the interpreted `random` module per draw (one per address taken, one per
modelled latency). Each is checked draw for draw against the method it stands for (tests/unit/test_draws.py);
a Python whose `random` draws differently fails there, not silently."""

from __future__ import annotations

import math
import random
from typing import Final

TWO_PI: Final = 2.0 * math.pi
SPARE: Final = "gauss_next"  # where `Random.gauss` keeps its second normal (not in typeshed, hence getattr)


def draw_below(rng: random.Random, n: int) -> int:
    """`rng.randrange(n)` for n > 0: rejection sampling on `getrandbits(n.bit_length())`."""
    k = n.bit_length()
    r: int = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return r


def gauss_draw(rng: random.Random, mu: float, sigma: float) -> float:
    """`rng.gauss(mu, sigma)`: Box-Muller, two normals per two uniforms, the second kept on the generator
    (`gauss_next`) for the next call, so calls through `rng.gauss` and through here interleave correctly."""
    z: float | None = getattr(rng, SPARE)
    setattr(rng, SPARE, None)
    if z is None:
        x2pi = rng.random() * TWO_PI
        g2rad = math.sqrt(-2.0 * math.log(1.0 - rng.random()))
        z = math.cos(x2pi) * g2rad
        setattr(rng, SPARE, math.sin(x2pi) * g2rad)
    return mu + z * sigma
