"""The designs that the RTL checks (tests/test_rtl.py, tests/test_rtl_mac.py) and the
verification speed benchmark (scripts/verify_speed.py) both run, so they measure the same
thing.

Each group is a list of (builder, keyword arguments, top); `generate` writes them as
`sqhw gen` does."""

from __future__ import annotations

import itertools
from pathlib import Path

from ..formats import DETERMINISTIC_MODES, ROUNDING_MODES
from ..hdl.emit import design_mac, design_cvt, design_mul, write_design

EIGHT_BIT = ["float8_e4m3fn", "float8_e5m2", "int8"]
NARROW = ["float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"]
REQUANT_OUT = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn",
               "float4_e2m1fn", "int8"]


def top_name(*parts) -> str:
    return "_".join(str(p).replace("float", "f").replace("<", "").replace(">", "")
                    .replace(",", "_") for p in parts)


HIGH_TARGET = 250  # MHz: a target the delay model pipelines every kind for (latency > 0)


def pipelining(i: int) -> dict:
    """Every fourth design planned for HIGH_TARGET (partial-product trees, chunked
    negations, registers in every segment the model cuts), the others fixed stages 0-2:
    one build checks the fixed and the planned latencies."""
    return {"target_mhz": HIGH_TARGET} if i % 4 == 3 else {"stages": i % 4}


def multipliers(formats: list[str]) -> list:
    """Every ordered pair of the formats, fixed 0-2 stages or planned for HIGH_TARGET."""
    return [(design_mul, {"a": a, "b": b, **pipelining(i)}, top_name("mul", a, b))
            for i, (a, b) in enumerate(itertools.product(formats, repeat=2))]


def converters() -> list:
    """5 minifloat -> fixed converters, 72 requantizers (6 outputs x 6 modes x saturate),
    20 dyadic requantizers, each fixed 0-2 stages or planned for HIGH_TARGET."""
    designs = [(design_cvt, {"src": f, "dst": None, **pipelining(i)}, top_name("tofixed", f))
               for i, f in enumerate(EIGHT_BIT[:2] + NARROW)]
    designs += [(design_cvt, {"src": "fixed<s,8,8>", "dst": out, "rounding": mode,
                              "saturate": sat, **pipelining(i), "random_bits": 8},
                 top_name("rq", out, mode, int(sat)))
                for i, (out, mode, sat) in enumerate(itertools.product(
                    REQUANT_OUT, ROUNDING_MODES, (True, False)))]
    designs += [(design_cvt, {"src": "int16", "dst": out, "rounding": mode, "saturate": sat,
                              **pipelining(i), "dyadic_shift": 18, "multiplier_bits": 12},
                 top_name("dyadic", out, mode, int(sat)))
                for i, (out, mode, sat) in enumerate(itertools.product(
                    ["int8", "uint8"], DETERMINISTIC_MODES, (True, False)))]
    return designs


BF16 = [(design_mul, {"a": "bfloat16", "b": "float8_e4m3fn", "stages": 1}, "mul_bf16_e4m3fn")]


def groups() -> dict[str, list]:
    return {"mul8": multipliers(EIGHT_BIT), "mulnarrow": multipliers(NARROW),
            "cvt": converters(), "bf16": BF16}


# MACs and block dots: (a, b, out, rounding, fixed stages or "target" (planned for
# HIGH_TARGET)); dot products of 1..MAC_LENGTH terms, block dots of their block size
MACS = [
    ("int8", "int8", "int8", "rne", 1),
    ("float8_e4m3fn", "float8_e4m3fn", "float8_e4m3fn", "rne", 2),
    ("float8_e4m3fn", "int8", "float8_e5m2", "rtz", "target"),
    ("float8_e5m2", "float8_e5m2", "float8_e4m3fn", "rna", 3),
    ("int8", "int8", "int8", "rna", "target"),
] + [(a, b, "float8_e4m3fn", "rne", "target" if a == b == "float4_e2m1fn" else 1)
     for a, b in itertools.product(NARROW, repeat=2)] + [
    # block-scaled: one result per block, element dot x both scales, rounded once
    ("mxfp8_e4m3", "mxfp8_e4m3", "float8_e4m3fn", "rne", "target"),
    ("mxfp8_e5m2", "mxfp8_e5m2", "float8_e5m2", "rna", 2),
    ("mxfp6_e2m3", "mxfp6_e2m3", "float8_e4m3fn", "floor", 1),
    ("mxfp6_e3m2", "mxfp6_e3m2", "float6_e3m2fn", "rne", 0),
    ("mxfp4", "mxfp4", "float4_e2m1fn", "ceil", 1),
    ("mxint8", "mxint8", "int8", "rne", 1),
    ("nvfp4", "nvfp4", "float8_e4m3fn", "rtz", 2),
    ("nvfp4", "nvfp4", "float8_e4m3fn", "rne", "target"),
]
MAC_LENGTH = 96


def macs() -> list:
    """The MACS as designs (tops mac_0, mac_1, ...)."""
    return [(design_mac, {"a": a, "b": b, "length": MAC_LENGTH, "out": out, "rounding": mode,
                          **({"target_mhz": HIGH_TARGET} if stages == "target"
                             else {"stages": stages})}, top_name("mac", i))
            for i, (a, b, out, mode, stages) in enumerate(MACS)]


# sweep harnesses and their lanes: the <= 16-bit input spaces together (8 lanes: the
# simulation costs the same per vector at any lane count, and fewer lanes compile faster),
# bf16 x e4m3fn alone (16 lanes, 2**20 cycles; beside it the others would be evaluated,
# idle, all along). Measured on one core: 16 lanes build in 63 s and sweep in ~1.2 CPU s,
# 64 lanes in 173 s and ~1.6 CPU s (each lane's check gives its copy its own settle code)
SWEEP_HARNESSES = {("mul8", "mulnarrow", "cvt"): 8, ("bf16",): 16}
LANES = 64
MAC_LANES = 2  # lanes per MAC / block dot in the stream program (tests and verify_speed)


def generate(out_dir, designs) -> list[Path]:
    """Write each design into out_dir/d{i}; returns the folders."""
    dirs = []
    for i, (builder, kwargs, top) in enumerate(designs):
        dut, description = builder(**kwargs)
        folder = Path(out_dir) / f"d{i}"
        write_design(dut, description, folder, top)
        dirs.append(folder)
    return dirs
