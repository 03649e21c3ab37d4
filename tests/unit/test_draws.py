"""The simulated cloud's compiled draws (cloud/sim/draws.py) must take the same values from the same stream as
the `random.Random` methods they stand for: every simulator answer depends on each draw."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from vpccni.cloud.sim.draws import draw_below, gauss_draw


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bounds=st.lists(st.integers(1, 2**20), min_size=1, max_size=40))
def test_draw_below_is_randrange_draw_for_draw(seed: int, bounds: list[int]) -> None:
    """Any bound, powers of two too, and the stream left where `randrange` leaves it."""
    ours, theirs = random.Random(seed), random.Random(seed)
    for n in [*bounds, 1, 2, 256, 2**16]:
        assert draw_below(ours, n) == theirs.randrange(n)
    assert ours.getrandbits(64) == theirs.getrandbits(64)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    calls=st.lists(st.tuples(st.booleans(), st.floats(-5, 5), st.floats(0, 3)), min_size=1, max_size=30),
)
def test_gauss_draw_is_gauss_draw_for_draw(seed: int, calls: list[tuple[bool, float, float]]) -> None:
    """Interleaved with `rng.gauss` itself (the spare normal is shared), and the stream left where gauss leaves it."""
    ours, theirs = random.Random(seed), random.Random(seed)
    for compiled, mu, sigma in calls:
        expected = theirs.gauss(mu, sigma)
        assert (gauss_draw(ours, mu, sigma) if compiled else ours.gauss(mu, sigma)) == expected
    assert ours.random() == theirs.random()
    assert ours.gauss(0.0, 1.0) == theirs.gauss(0.0, 1.0)


def test_a_reseeded_generator_forgets_its_spare_normal() -> None:
    rng = random.Random(7)
    gauss_draw(rng, 0.0, 1.0)  # leaves a spare
    rng.seed(7)
    assert gauss_draw(rng, 0.0, 1.0) == random.Random(7).gauss(0.0, 1.0)
