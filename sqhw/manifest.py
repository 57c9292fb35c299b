"""A generated design's manifest (manifest.json beside its Verilog): its file name, the rule
for top names, and reading one with every key checked that the tools rely on. No amaranth
here: `sqhw verify`, `sqhw synth` and the harnesses read manifests without the generators.

    >>> check_top("mul_e4m3")
    'mul_e4m3'
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"

# IEEE 1800-2017 reserved words (Verilog-2005's among them): Verilator and vendor tools read
# .v files as SystemVerilog, so none of these can name a module
KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup
coverpoint cross deassign default defparam design disable dist do edge else end endcase
endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endsequence endspecify endtable
endtask enum event eventually expect export extends extern final first_match for force
foreach forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone
ignore_bins illegal_bins implements implies import incdir include initial inout input inside
instance int integer interconnect interface intersect join join_any join_none large let
liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output
package packed parameter pmos posedge primitive priority program property protected pull0
pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos
rpmos rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with
scalared sequence shortint shortreal showcancelled signed small soft solve specify
specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on
sync_reject_on table tagged task this throughout time timeprecision timeunit tran tranif0
tranif1 tri tri0 tri1 triand trior trireg type typedef union unique unique0 unsigned until
until_with untyped use uwire var vectored virtual void wait wait_order wand weak weak0 weak1
while wildcard wire with within wor xnor xor
""".split())
MAX_TOP = 64  # characters: room for Amaranth's `top.submodule` names and file names
RESERVED_TOPS = ("sqhw_lanes", "sqhw_timing")  # the verify harness and the synth wrapper


def check_top(top) -> str:
    """A top name must be a plain Verilog identifier (it names the module, its submodules
    `top.sub` and the file top.v): letters, digits and _, not starting with a digit, at
    most MAX_TOP characters, no reserved word, not a name sqhw's harnesses use."""
    import re

    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", top):
        raise ValueError(f"--top: expected a Verilog identifier (letters, digits and _, not "
                         f"starting with a digit), got {top!r}")
    if len(top) > MAX_TOP:
        raise ValueError(f"--top: at most {MAX_TOP} characters, got {len(top)}")
    if top in KEYWORDS:
        raise ValueError(f"--top: {top!r} is a reserved word of Verilog / SystemVerilog")
    if top in RESERVED_TOPS:
        raise ValueError(f"--top: {top!r} names sqhw's own test or timing wrapper; pick another")
    return top


def port_width(manifest: dict, name: str) -> int:
    """The width of port `name` as the manifest's port list gives it."""
    return next(p["width"] for p in manifest["ports"] if p["name"] == name)


def read_manifest(design_dir) -> dict:
    path = Path(design_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (generate the design with `sqhw gen`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    for key in ("top", "sources", "latency"):
        if key not in manifest:
            raise ValueError(f"{path}: missing key {key!r}")
    try:
        check_top(manifest["top"])
    except ValueError as err:
        raise ValueError(f"{path}: top: {str(err).removeprefix('--top: ')}") from None
    sources = manifest["sources"]
    if not isinstance(sources, list) or not sources or not all(
            isinstance(s, str) and s == Path(s).name and s not in ("", ".", "..")
            for s in sources):
        raise ValueError(f"{path}: sources: expected a list of file names in the folder, "
                         f"got {sources!r}")
    for source in sources:
        if not (Path(design_dir) / source).is_file():
            raise FileNotFoundError(f"{path}: sources: {source} is missing from "
                                    f"{design_dir}")
    if not isinstance(manifest["latency"], int) or manifest["latency"] < 0:
        raise ValueError(f"{path}: latency: expected an integer >= 0, got "
                         f"{manifest['latency']!r}")
    return manifest
