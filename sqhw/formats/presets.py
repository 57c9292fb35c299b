"""Named formats (ml_dtypes / LLVM names, OCP MX v1.0, NVFP4) and `parse(name)`."""

from __future__ import annotations

import difflib
import re

from .block import BlockScaled
from .fixed import Fixed
from .minifloat import NAN_POLICIES, Minifloat, OutsideFloat64

FLOAT8_E4M3FN = Minifloat(4, 3, nan="outer", name="float8_e4m3fn")
FLOAT8_E5M2 = Minifloat(5, 2, inf=True, nan="ieee", name="float8_e5m2")
FLOAT8_E4M3FNUZ = Minifloat(4, 3, nan="negzero", name="float8_e4m3fnuz")
FLOAT8_E5M2FNUZ = Minifloat(5, 2, nan="negzero", name="float8_e5m2fnuz")
FLOAT8_E4M3 = Minifloat(4, 3, inf=True, nan="ieee", name="float8_e4m3")
FLOAT8_E3M4 = Minifloat(3, 4, inf=True, nan="ieee", name="float8_e3m4")
FLOAT6_E2M3FN = Minifloat(2, 3, name="float6_e2m3fn")
FLOAT6_E3M2FN = Minifloat(3, 2, name="float6_e3m2fn")
FLOAT4_E2M1FN = Minifloat(2, 1, name="float4_e2m1fn")
# bfloat16 (ml_dtypes' name): float32's 8-bit exponent, 7 mantissa bits, IEEE Inf and NaN
BFLOAT16 = Minifloat(8, 7, inf=True, nan="ieee", name="bfloat16")
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
    FLOAT6_E2M3FN, FLOAT6_E3M2FN, FLOAT4_E2M1FN, FLOAT8_E8M0FNU, BFLOAT16,
    MXFP8_E4M3, MXFP8_E5M2, MXFP6_E2M3, MXFP6_E3M2, MXFP4, MXINT8, NVFP4)}

# a name inside a preset that is not a preset itself
_PARTS = {MXINT8_ELEMENT.name: MXINT8_ELEMENT}

# the shapes of the names sqhw generates (parse sees them lower-cased, without spaces)
_INT = re.compile(r"(u?)int(\d+)")
_FIXED = re.compile(r"fixed<([su]),(-?\d+),(\d+)>")
_EXMY = re.compile(r"e(\d+)m(\d+)")
_MINIFLOAT = re.compile(r"minifloat<e(\d+),m(\d+)((?:,[^,<>]*)*)>")
_BLOCK = re.compile(r"block<(.+)>")
_SHAPES = ("intN, uintN, fixed<s,I,F>, eXmY, minifloat<eX,mY,bias=B[,subnormals=False][,inf]"
           "[,nan=P][,unsigned]>, block<ELEMENT,N,SCALE[,tensor_scale]>")

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
    """Format object for a name: a preset's, or any name sqhw generates for a format.

    >>> parse("float8_e4m3fn").max, parse("int8").min_int, parse("fixed<s,8,4>").frac_bits
    (448.0, -128, 4)
    >>> parse("e3m2").bits
    6
    >>> parse("minifloat<e4,m3,bias=7,nan=outer>") == parse("float8_e4m3fn")
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"format name: expected a string, got {type(name).__name__}")
    key = name.strip().lower().replace(" ", "")
    fmt = _parse_key(key)
    if fmt is not None:
        return fmt
    known = list(NAMED) + list(_PARTS) + [f.name for f in design_space() + integers()]
    close = difflib.get_close_matches(key, known, n=5, cutoff=0.5)
    hint = f"; closest known names: {', '.join(close)}" if close else ""
    raise ValueError(f"unknown format name {name!r}{hint} (also accepted: {_SHAPES})")


def _parse_key(key: str):
    """The format a normalised name spells, or None; a malformed part raises ValueError."""
    if key in NAMED:
        return NAMED[key]
    if key in _PARTS:
        return _PARTS[key]
    if m := _INT.fullmatch(key):
        return Fixed(int(m[2]), 0, signed=not m[1]) if int(m[2]) >= 1 else None
    if m := _FIXED.fullmatch(key):
        return Fixed(int(m[2]), int(m[3]), signed=m[1] == "s")
    if m := _EXMY.fullmatch(key):
        return Minifloat(int(m[1]), int(m[2])) if int(m[1]) >= 1 else None
    if m := _MINIFLOAT.fullmatch(key):
        return _minifloat(int(m[1]), int(m[2]), m[3].split(",")[1:], key)
    if m := _BLOCK.fullmatch(key):
        return _block(_split_arguments(m[1]), key)
    return None


def _minifloat(exp_bits: int, man_bits: int, options: list[str], name: str) -> Minifloat:
    nans = [policy for policy in NAN_POLICIES if policy]
    fields = {}
    for option in options:
        field, _, value = option.partition("=")
        if option == "inf":
            fields["inf"] = True
        elif option == "unsigned":
            fields["signed"] = False
        elif option == "subnormals=false":
            fields["subnormals"] = False
        elif field == "bias" and re.fullmatch(r"-?\d+", value):
            fields["bias"] = int(value)
        elif field == "nan" and value in nans:
            fields["nan"] = value
        else:
            raise ValueError(f"format name {name!r}: unknown minifloat option {option!r}; expected "
                             f"bias=B, subnormals=False, inf, nan={'|'.join(nans)} or unsigned")
    return Minifloat(exp_bits, man_bits, **fields)


def _block(arguments: list[str], name: str) -> BlockScaled:
    if (len(arguments) not in (3, 4) or not arguments[1].isdigit()
            or arguments[3:] not in ([], ["tensor_scale"])):
        raise ValueError(f"format name {name!r}: expected block<ELEMENT,N,SCALE[,tensor_scale]>")
    try:
        element, scale = parse(arguments[0]), parse(arguments[2])
    except ValueError as error:
        raise ValueError(f"format name {name!r}: {error}") from None
    return BlockScaled(element, int(arguments[1]), scale, tensor_scale=len(arguments) == 4)


def _split_arguments(text: str) -> list[str]:
    """Split at the commas outside <...> (element names have commas of their own)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]
