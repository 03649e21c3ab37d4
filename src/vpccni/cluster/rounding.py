"""`round(value, digits)` for the simulator's hot paths, exactly, without its decimal conversion.

CPython's `round(x, n)` converts `x` to a decimal string and back (correctly rounded, ties to even on the
exact binary value), which costs about ten times a multiplication. Away from a tie the scaled value's nearest
integer is the decimal rounding's, and dividing that exact integer by 10**digits gives the float nearest the
decimal result, which is what `round` returns; near a tie, the exact product (its rounding error recovered by
Dekker's two-product) decides, ties to even.
"""

from __future__ import annotations

from math import floor
from typing import Final

_SCALES: Final = [10.0**digits for digits in range(16)]  # exact: powers of ten up to 1e22 are floats
_LIMIT: Final = 1e12  # below it, the scaled value is within 1.2e-4 of value × 10**digits
_MARGIN: Final = 1e-3  # how far from a tie the scaled value must be for the fast answer


def round_decimal(value: float, digits: int) -> float:
    """Exactly `round(value, digits)` for 0 ≤ digits < 16 (anything else, and zero or negative values, by `round`)."""
    if 0 <= digits < 16:
        scale = _SCALES[digits]
        scaled = value * scale
        if 0.0 < scaled < _LIMIT:  # zero keeps its sign by `round`; NaN fails this test
            nearest = floor(scaled + 0.5)
            d = scaled - (nearest - 0.5)  # from the tie below `nearest`
            if abs(d) > _MARGIN:
                return nearest / scale
            # near a tie: which side of it the exact product lies on (d is a whole number of the product's ulps,
            # so only when it is zero can the product's rounding error decide)
            if d == 0.0:
                d = _product_error(value, scale, scaled)
                if d == 0.0:  # an exact tie: to even
                    return (nearest if nearest % 2 == 0 else nearest - 1) / scale
            return (nearest if d > 0.0 else nearest - 1) / scale
    return round(value, digits)


_SPLIT: Final = 134217729.0  # 2**27 + 1: splits a double into two halves whose products are exact


def _product_error(a: float, b: float, product: float) -> float:
    """a × b − product exactly, for product = fl(a × b) (Dekker's two-product, without a fused multiply-add)."""
    c = _SPLIT * a
    a_high = c - (c - a)
    a_low = a - a_high
    c = _SPLIT * b
    b_high = c - (c - b)
    b_low = b - b_high
    return ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
