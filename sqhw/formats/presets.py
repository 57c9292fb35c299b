"""Named formats (ml_dtypes / LLVM names, OCP MX v1.0, NVFP4) and `parse(name)`."""

from __future__ import annotations

import difflib
import re

from .block import BlockScaled
from .fixed import Fixed
from .minifloat import Minifloat, OutsideFloat64

FLOAT8_E4M3FN = Minifloat(4, 3, nan="outer", name="float8_e4m3fn")
FLOAT8_E5M2 = Minifloat(5, 2, inf=True, nan="ieee", name="float8_e5m2")
FLOAT8_E4M3FNUZ = Minifloat(4, 3, nan="negzero", name="float8_e4m3fnuz")
FLOAT8_E5M2FNUZ = Minifloat(5, 2, nan="negzero", name="float8_e5m2fnuz")
FLOAT8_E4M3 = Minifloat(4, 3, inf=True, nan="ieee", name="float8_e4m3")
FLOAT8_E3M4 = Minifloat(3, 4, inf=True, nan="ieee", name="float8_e3m4")
FLOAT6_E2M3FN = Minifloat(2, 3, name="float6_e2m3fn")
FLOAT6_E3M2FN = Minifloat(3, 2, name="float6_e3m2fn")
FLOAT4_E2M1FN = Minifloat(2, 1, name="float4_e2m1fn")
FLOAT8_E8M0FNU = Minifloat(8, 0, subnormals=False, nan="outer", signed=False,
                           name="float8_e8m0fnu")

# MXINT8 elements: 8-bit two's complement with an implied scale of 2**-6 (OCP MX v1.0 5.3)
MXINT8_ELEMENT = Fixed(2, 6, name="mxint8_element")


def _mx(element, name):
    return BlockScaled(element, 32, FLOAT8_E8M0FNU, name=name)


MXFP8_E4M3 = _mx(FLOAT8_E4M3FN, "mxfp8_e4m3")
MXFP8_E5M2 = _mx(FLOAT8_E5M2, "mxfp8_e5m2")
MXFP6_E2M3 = _mx(FLOAT6_E2M3FN, "mxfp6_e2m3")
MXFP6_E3M2 = _mx(FLOAT6_E3M2FN, "mxfp6_e3m2")
MXFP4 = _mx(FLOAT4_E2M1FN, "mxfp4")
MXINT8 = _mx(MXINT8_ELEMENT, "mxint8")
NVFP4 = BlockScaled(FLOAT4_E2M1FN, 16, FLOAT8_E4M3FN, tensor_scale=True, name="nvfp4")

NAMED = {f.name: f for f in (
    FLOAT8_E4M3FN, FLOAT8_E5M2, FLOAT8_E4M3FNUZ, FLOAT8_E5M2FNUZ, FLOAT8_E4M3, FLOAT8_E3M4,
    FLOAT6_E2M3FN, FLOAT6_E3M2FN, FLOAT4_E2M1FN, FLOAT8_E8M0FNU,
    MXFP8_E4M3, MXFP8_E5M2, MXFP6_E2M3, MXFP6_E3M2, MXFP4, MXINT8, NVFP4)}

_INT = re.compile(r"(u?)int(\d+)")
_FIXED = re.compile(r"fixed<([su]),\s*(\d+),\s*(\d+)>")
_EXMY = re.compile(r"e(\d+)m(\d+)")


def design_space(min_bits: int = 3, max_bits: int = 8) -> list[Minifloat]:
    """Every signed eXmY split of min_bits..max_bits bits (IEEE bias, subnormals, all codes
    finite, saturating) whose values float64 holds: the minifloat design space of a PTQ sweep.

    >>> [f.name for f in design_space(16, 16)][-2:]   # e11m4 and wider exponents leave float64
    ['e9m6', 'e10m5']
    """
    formats = []
    for bits in range(min_bits, max_bits + 1):
        for e in range(1, bits):
            try:
                formats.append(Minifloat(e, bits - 1 - e))
            except OutsideFloat64:
                continue
    return formats


def integers(max_bits: int = 8) -> list[Fixed]:
    return [Fixed(b, 0, signed=s) for s in (True, False) for b in range(2, max_bits + 1)]


def presets() -> list:
    """All named formats: ml_dtypes names, the eXmY design space, int/uint 2..8, MX, NVFP4."""
    return list(NAMED.values()) + design_space() + integers()


def parse(name: str):
    """Format object for a name.

    >>> parse("float8_e4m3fn").max, parse("int8").min_int, parse("fixed<s,8,4>").frac_bits
    (448.0, -128, 4)
    >>> parse("e3m2").bits
    6
    """
    if not isinstance(name, str):
        raise TypeError(f"format name: expected a string, got {type(name).__name__}")
    key = name.strip().lower().replace(" ", "")
    if key in NAMED:
        return NAMED[key]
    if m := _INT.fullmatch(key):
        if 1 <= int(m[2]) <= 64:
            return Fixed(int(m[2]), 0, signed=not m[1])
    elif m := _FIXED.fullmatch(key):
        return Fixed(int(m[2]), int(m[3]), signed=m[1] == "s")
    elif m := _EXMY.fullmatch(key):
        e, man = int(m[1]), int(m[2])
        if e >= 1 and 1 + e + man <= 16:
            return Minifloat(e, man)
    known = list(NAMED) + [f.name for f in design_space() + integers()]
    close = difflib.get_close_matches(key, known, n=5, cutoff=0.5)
    hint = f"; closest known names: {', '.join(close)}" if close else ""
    raise ValueError(f"unknown format name {name!r}{hint} (also accepted: intN, uintN, "
                     "fixed<s,I,F>, eXmY)")
