"""`verilator --lint-only -Wall` on every kind of generated design: no zero-width signals,
only the warnings the README waives, submodules named after their top (so two designs live
in one project), and the synchronous active-high reset the manifest states."""

import re
import subprocess

import pytest

from sqhw.hdl.emit import (design_cvt, design_dsp_chain, design_mac, design_mul, read_manifest,
                           write_design)
from sqhw.verify.toolchain import use_verilator

pytestmark = pytest.mark.rtl

# the README's waivers: what Amaranth's Verilog backend (Yosys write_verilog) emits
WAIVED = {
    "UNUSEDSIGNAL",  # intermediate wires Amaranth names and keeps (e.g. the unused sign bit)
    "PROCASSINIT",   # `reg r = init;` plus an always block: the FPGA power-up value
    "WIDTHEXPAND",   # Yosys' expressions mix widths (`{...} + x`, `! a[6:3]`): sized on purpose
    "WIDTHTRUNC",
    "DECLFILENAME",  # submodules `top.sub` live in top.v
}

DESIGNS = {
    "mul_int": (design_mul, {"a": "int8", "b": "int8"}),
    "mul_float": (design_mul, {"a": "float8_e4m3fn", "b": "float8_e5m2", "stages": 2}),
    "mul_e1": (design_mul, {"a": "e1m2", "b": "int4"}),
    "to_fixed": (design_cvt, {"src": "float8_e4m3fn", "dst": None}),
    "requantize": (design_cvt, {"src": "fixed<s,8,8>", "dst": "float8_e4m3fn", "stages": 1}),
    "stochastic": (design_cvt, {"src": "fixed<s,8,8>", "dst": "float4_e2m1fn",
                                "rounding": "stochastic"}),
    "dyadic": (design_cvt, {"src": "int16", "dst": "int8", "dyadic_shift": 18}),
    "mac": (design_mac, {"a": "int8", "b": "int8", "length": 16, "out": "int8"}),
    "mac_float": (design_mac, {"a": "float8_e4m3fn", "b": "float8_e4m3fn", "length": 64,
                               "out": "float8_e4m3fn", "stages": 2}),
    "block_mx": (design_mac, {"a": "mxfp4", "b": "mxfp4", "length": 32,
                              "out": "float8_e4m3fn"}),
    "block_nv": (design_mac, {"a": "nvfp4", "b": "nvfp4", "length": 16,
                              "out": "float8_e4m3fn"}),
    "chain": (design_dsp_chain, {"w": "int8", "x": "int8", "m": 4, "chain": 4, "max_k": 64,
                                 "out": "int8", "lanes": 2}),
    "chain_e4m3": (design_dsp_chain, {"w": "float8_e4m3fn", "x": "int8", "m": 8, "chain": 2,
                                      "max_k": 300, "out": "float8_e4m3fn"}),
    # planned by --target-mhz: partial-product trees, chunked negations, two-step shifts
    "mul_piped": (design_mul, {"a": "float8_e5m2", "b": "int8", "target_mhz": 250}),
    "dyadic_piped": (design_cvt, {"src": "int16", "dst": "int8", "dyadic_shift": 18,
                                  "target_mhz": 250}),
    "mac_piped": (design_mac, {"a": "float8_e4m3fn", "b": "float8_e4m3fn", "length": 64,
                               "out": "float8_e5m2", "target_mhz": 250}),
    "block_mx_piped": (design_mac, {"a": "mxfp8_e4m3", "b": "mxfp8_e4m3", "length": 32,
                                    "out": "float8_e4m3fn", "target_mhz": 250}),
    "block_nv_piped": (design_mac, {"a": "nvfp4", "b": "nvfp4", "length": 16,
                                    "out": "float8_e4m3fn", "target_mhz": 250}),
    "chain_piped": (design_dsp_chain, {"w": "float8_e4m3fn", "x": "int8", "m": 4, "chain": 2,
                                       "max_k": 64, "out": "int8", "target_mhz": 250}),
}


def _lint(sources, top) -> list[str]:
    binary = use_verilator()
    done = subprocess.run([str(binary), "--lint-only", "-Wall", "--top-module", top,
                           *map(str, sources)], capture_output=True, text=True)
    errors = [e for e in re.findall(r"%Error[^\n]*", done.stderr)
              if not e.startswith("%Error: Exiting due to")]  # the warnings' count
    assert not errors, errors[:5]
    return re.findall(r"%Warning-([A-Z0-9_]+):", done.stderr)


def test_every_design_kind_lints_with_only_waived_warnings(tmp_path):
    seen = {}
    for name, (builder, kwargs) in DESIGNS.items():
        dut, description = builder(**kwargs)
        out = tmp_path / name
        write_design(dut, description, out, name)
        text = (out / f"{name}.v").read_text()
        assert "[-1:0]" not in text, name  # no zero-width signals
        modules = re.findall(r"^module\s+([^\s(]+)", text, flags=re.M)
        assert modules[0] == name and all(m.startswith(f"\\{name}.") for m in modules[1:]), \
            modules
        manifest = read_manifest(out)
        if manifest["clock"]:
            assert (manifest["reset"], manifest["reset_active"],
                    manifest["reset_synchronous"]) == ("rst", "high", True)
            assert re.search(r"always @\(posedge clk\)", text)
            assert not re.search(r"(pos|neg)edge rst", text), name  # no asynchronous reset
        else:
            assert manifest["reset"] is None and "input clk" not in text
        warnings = _lint([out / f"{name}.v"], name)
        assert set(warnings) <= WAIVED, (name, set(warnings) - WAIVED)
        assert "ASCRANGE" not in warnings and "CASEINCOMPLETE" not in warnings
        seen[name] = len(warnings)
    assert len(seen) == len(DESIGNS) == 19


def test_two_designs_with_submodules_share_one_project(tmp_path):
    """Two MACs (each with multiplier and requantizer submodules) and a wrapper that
    instantiates both lint as one project: their module names do not clash."""
    files = []
    for top, length in (("mac_a", 16), ("mac_b", 64)):
        dut, description = design_mac("int8", "int8", length, "int8")
        write_design(dut, description, tmp_path / top, top)
        files.append(tmp_path / top / f"{top}.v")
    names = [re.findall(r"^module\s+([^\s(]+)", f.read_text(), flags=re.M) for f in files]
    assert len(names[0]) == len(names[1]) == 3 and not set(names[0]) & set(names[1])
    ports = read_manifest(tmp_path / "mac_a")["ports"]
    wires = "\n".join(f"  wire [{p['width'] - 1}:0] {k}_{p['name']};" for k in ("a", "b")
                      for p in ports if p["name"] not in ("clk", "rst"))
    inst = "\n".join(f"  mac_{k} {k} (.clk(clk), .rst(rst), " + ", ".join(
        f".{p['name']}({k}_{p['name']})" for p in ports if p["name"] not in ("clk", "rst"))
        + ");" for k in ("a", "b"))
    (tmp_path / "both.v").write_text(f"module both (input clk, input rst);\n{wires}\n{inst}\n"
                                     "endmodule\n")
    _lint([*files, tmp_path / "both.v"], "both")
