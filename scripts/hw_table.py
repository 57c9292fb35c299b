"""The README's hardware-cost table: generate each operator, synthesise it for UltraScale+
(Yosys synth_xilinx -family xcup) and 7-series (-family xc7, where Yosys packs DSP
post-adders and PCOUT -> PCIN cascades), and place and route it on ECP5 (nextpnr-ecp5,
the bare LFE5U-25F of boards/ecp5_25k.yaml).

    .venv/bin/python scripts/hw_table.py [--json]
    .venv/bin/python scripts/hw_table.py --dsp [--json]   # the DSP-efficiency table
    .venv/bin/python scripts/hw_table.py --only ecp5 --json > ecp5.json   # one flow
    .venv/bin/python scripts/hw_table.py --from-json ecp5.json --from-json xilinx.json
    .venv/bin/python scripts/hw_table.py --only ecp5 --rows '^N:M chain [ie]' --json \
        --update docs/hw_table_ecp5.json   # remeasure some rows into a saved run

Every row is a fresh `sqhw gen` design with 2 pipeline stages (MACs: accumulator sized for
dot products of 1024 terms) for the Xilinx columns; the ECP5 columns place and route the
same operator generated with `--target-mhz` (ECP5_TARGETS: 200 MHz for the 8-bit multipliers
and the int8 MAC, 150 MHz for the rest; the delay model of sqhw.hdl.timing places the
registers), so they show the latency and the LUT / FF cost of the added registers. ECP5 Fmax
is register to register (inputs and outputs registered around the design), nextpnr seed 1;
--json keeps each row's worst path (`ecp5.critical_path`: its first and last cell, logic and
routing ns), what the delay model is calibrated against (docs/pipelining.md)."""

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from _markdown import table

from sqhw.hdl.emit import (
    design_cvt,
    design_dsp_chain,
    design_index_muxes,
    design_mac,
    design_mul,
    design_packed_mul,
    design_result_queue,
    write_design,
)
from sqhw.hw.synth import SynthesisError, synth_ecp5, synth_ice40, synth_xc7, synth_xcup

ROWS = [
    ("mul", "int8 x int8", design_mul, {"a": "int8", "b": "int8", "stages": 2}),
    ("mul", "e4m3fn x e4m3fn", design_mul, {"a": "float8_e4m3fn", "b": "float8_e4m3fn",
                                            "stages": 2}),
    ("mul", "e5m2 x e5m2", design_mul, {"a": "float8_e5m2", "b": "float8_e5m2", "stages": 2}),
    ("mul", "e4m3fn x int8", design_mul, {"a": "float8_e4m3fn", "b": "int8", "stages": 2}),
    ("mul", "fp6 e2m3 x e2m3", design_mul, {"a": "float6_e2m3fn", "b": "float6_e2m3fn",
                                            "stages": 2}),
    ("mul", "fp6 e3m2 x e3m2", design_mul, {"a": "float6_e3m2fn", "b": "float6_e3m2fn",
                                            "stages": 2}),
    ("mul", "fp4 e2m1 x e2m1", design_mul, {"a": "float4_e2m1fn", "b": "float4_e2m1fn",
                                            "stages": 2}),
    ("mac", "int8 x int8 -> int8", design_mac, {"a": "int8", "b": "int8", "length": 1024,
                                                "out": "int8", "stages": 2}),
    ("mac", "e4m3fn x e4m3fn -> e4m3fn", design_mac,
     {"a": "float8_e4m3fn", "b": "float8_e4m3fn", "length": 1024, "out": "float8_e4m3fn",
      "stages": 2}),
    ("mac", "fp4 x fp4 -> e4m3fn", design_mac, {"a": "float4_e2m1fn", "b": "float4_e2m1fn",
                                                "length": 1024, "out": "float8_e4m3fn",
                                                "stages": 2}),
    ("block dot", "mxfp8_e4m3 (32) -> e4m3fn", design_mac,
     {"a": "mxfp8_e4m3", "b": "mxfp8_e4m3", "length": 32, "out": "float8_e4m3fn",
      "stages": 2}),
    ("block dot", "mxfp4 (32) -> e4m3fn", design_mac,
     {"a": "mxfp4", "b": "mxfp4", "length": 32, "out": "float8_e4m3fn", "stages": 2}),
    ("block dot", "nvfp4 (16) -> e4m3fn", design_mac,
     {"a": "nvfp4", "b": "nvfp4", "length": 16, "out": "float8_e4m3fn", "stages": 2}),
    ("N:M chain", "int8 x int8, m 8, 8 stages", design_dsp_chain,
     {"w": "int8", "x": "int8", "m": 8, "chain": 8, "max_k": 4096, "out": "int8",
      "stages": 1}),
    # as SparseDSPArray (the lane module synthesised whole, then flattened for nextpnr): the
    # flat 4-lane netlist, whose registers have no clock enable, exhausts the call stack of
    # YoWASP's ABC under synth_ecp5 -dff (a wasm trap in Nwk_ManPushForward*)
    ("N:M chain", "int8 x int8, m 8, 8 stages, 4 lanes sharing acts", design_dsp_chain,
     {"w": "int8", "x": "int8", "m": 8, "chain": 8, "max_k": 4096, "out": "int8",
      "stages": 1, "lanes": 4, "array": True}),
    ("N:M chain part", "its index muxes alone (int8, m 8, 8 stages)", design_index_muxes,
     {"x": "int8", "m": 8, "chain": 8}),
    ("N:M chain part", "its result queue alone (a lane's: int8, m 8, 8 stages)",
     design_result_queue, {"w": "int8", "x": "int8", "m": 8, "chain": 8, "max_k": 4096,
                           "out": "int8", "stages": 1}),
    ("N:M chain", "e4m3fn x int8, m 4, 8 stages", design_dsp_chain,
     {"w": "float8_e4m3fn", "x": "int8", "m": 4, "chain": 8, "max_k": 4096, "out": "int8",
      "stages": 1}),
    ("cvt", "fixed<s,8,8> -> e4m3fn rne", design_cvt,
     {"src": "fixed<s,8,8>", "dst": "float8_e4m3fn", "stages": 2}),
    ("cvt", "e4m3fn -> exact fixed", design_cvt, {"src": "float8_e4m3fn", "dst": None,
                                                  "stages": 2}),
    ("cvt", "int24 -> int8 dyadic m/2^20", design_cvt,
     {"src": "int24", "dst": "int8", "stages": 2, "dyadic_shift": 20}),
]


EIGHT_BIT_TARGET, OTHER_TARGET = 200.0, 150.0


def ecp5_target(kind: str, label: str, builder) -> float | None:
    """The --target-mhz of a row's ECP5 design (None: a design without a pipeline)."""
    if builder is design_index_muxes:
        return None
    eight_bit_mul = kind == "mul" and label.split(" x ")[0] in ("int8", "e4m3fn", "e5m2")
    return EIGHT_BIT_TARGET if eight_bit_mul or (kind, label) == ("mac",
                                                                  "int8 x int8 -> int8") \
        else OTHER_TARGET


def _ecp5_kwargs(kwargs: dict, target: float | None) -> dict:
    if target is None:
        return kwargs
    return {**{k: v for k, v in kwargs.items() if k != "stages"}, "target_mhz": target}


def measure(rows=ROWS, only: str | None = None):
    """Every row's figures; only="ecp5" or "xilinx" runs that flow alone (the other
    columns are left empty: None)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, label, builder, kwargs) in enumerate(rows):
            print(f"[{i + 1}/{len(rows)}] {kind} {label}", file=sys.stderr, flush=True)
            top = f"{re.sub(r'[^A-Za-z0-9]', '_', kind)}_{i}"
            dut, description = builder(**kwargs)
            design = Path(tmp) / f"d{i}"
            write_design(dut, description, design, top)
            target = ecp5_target(kind, label, builder)
            dut, ecp5_description = builder(**_ecp5_kwargs(kwargs, target))
            ecp5_design = Path(tmp) / f"e{i}"
            write_design(dut, ecp5_description, ecp5_design, top)
            row = {"operator": kind, "formats": label, "latency": description["latency"],
                   "ecp5_target_mhz": target, "ecp5_latency": ecp5_description["latency"],
                   "ecp5_estimated_mhz": ecp5_description["parameters"].get("estimated_mhz")}
            for name, fn, keys, where in (
                    ("xcup", synth_xcup, ("lut", "ff", "carry", "dsp48e2"), design),
                    ("xc7", synth_xc7, ("lut", "dsp48e1", "dsp_cascade"), design),
                    ("ecp5", synth_ecp5, ("fmax_mhz", "lut4", "ff", "mult18",
                                           "critical_path"), ecp5_design)):
                if only is not None and (name == "ecp5") != (only == "ecp5"):
                    row[name] = {k: None for k in keys}
                    continue
                row.setdefault("measured", []).append(name)
                try:  # one tool failure must not lose the rows already measured
                    report = fn(where)
                    row[name] = {k: report[k] for k in keys}
                except SynthesisError as err:
                    first = str(err).splitlines()[0]
                    print(f"  {name}: {first}", file=sys.stderr)
                    row[name] = {k: None for k in keys}
                    row.setdefault("failed", {})[name] = first
            out.append(row)
    return out


def markdown(rows) -> str:
    return table(["operator", "formats", "latency", "xcup LUT", "xcup FF", "xcup CARRY4",
                  "xcup DSP48E2", "xc7 LUT", "xc7 DSP48E1", "xc7 PCIN cascades",
                  "ECP5 target MHz", "ECP5 latency", "ECP5 Fmax MHz", "ECP5 LUT4", "ECP5 FF",
                  "ECP5 MULT18"],
                 [[r["operator"], r["formats"], r["latency"], r["xcup"]["lut"], r["xcup"]["ff"],
                   r["xcup"]["carry"], r["xcup"]["dsp48e2"], r["xc7"]["lut"],
                   r["xc7"]["dsp48e1"], r["xc7"]["dsp_cascade"],
                   r["ecp5_target_mhz"] and f"{r['ecp5_target_mhz']:g}", r["ecp5_latency"],
                   "failed" if "ecp5" in r.get("failed", {}) else r["ecp5"]["fmax_mhz"],
                   r["ecp5"]["lut4"], r["ecp5"]["ff"],
                   r["ecp5"]["mult18"]] for r in rows])


# DSP efficiency: products per cycle against the DSP cells that compute them. Each row:
# (operator, formats, multiply-accumulates per cycle, builder, kwargs, targets). The iCE40
# UP5K's SB_MAC16 is 16 x 16: no room for two int8 products, so packed rows are xcup only.
CHAIN8 = {"w": "int8", "x": "int8", "m": 8, "chain": 8, "max_k": 4096, "out": "int8",
          "stages": 1}
DSP_ROWS = [
    ("mul", "int8 x int8", 1, design_mul, {"a": "int8", "b": "int8", "stages": 2},
     ("xcup", "ice40")),
    ("packed mul", "2 x int8 x int8 sharing w (WP486)", 2, design_packed_mul,
     {"x": "int8", "w": "int8", "pack": 2, "stages": 2}, ("xcup",)),
    ("packed mul", "4 x int4 x int4 sharing w", 4, design_packed_mul,
     {"x": "int4", "w": "int4", "pack": 4, "stages": 2}, ("xcup",)),
    ("packed mul", "3 x int4 x int4 sharing w", 3, design_packed_mul,
     {"x": "int4", "w": "int4", "pack": 3, "stages": 2}, ("xcup",)),
    ("mac", "int8 x int8 -> int8", 1, design_mac,
     {"a": "int8", "b": "int8", "length": 1024, "out": "int8", "stages": 2}, ("xcup", "ice40")),
    ("N:M chain", "int8, m 8, 8 stages, 2 lanes", 16, design_dsp_chain, {**CHAIN8, "lanes": 2},
     ("xcup",)),
    ("N:M chain", "int8, m 8, 8 stages, pack 2 (2 columns per weight)", 16, design_dsp_chain,
     {**CHAIN8, "pack": 2}, ("xcup",)),
    ("N:M chain", "int8, m 8, 8 stages, DSP48E2 primitives", 8, design_dsp_chain,
     {**CHAIN8, "primitive": "DSP48E2"}, ("xcup",)),
    ("N:M chain", "int8, m 8, 8 stages, pack 2, DSP48E2 primitives", 16, design_dsp_chain,
     {**CHAIN8, "pack": 2, "primitive": "DSP48E2"}, ("xcup",)),
    ("N:M chain", "int8, m 8, 8 stages, DSP48E1 primitives (xc7)", 8, design_dsp_chain,
     {**CHAIN8, "primitive": "DSP48E1"}, ("xc7",)),
    ("N:M chain", "int8, m 4, 4 stages", 4, design_dsp_chain,
     {**CHAIN8, "m": 4, "chain": 4}, ("xcup", "ice40")),
]
DSP_KEYS = {"xcup": (synth_xcup, ("lut", "ff", "carry", "dsp48e2", "dsp_cascade",
                                  "dsp_pipelined")),
            "xc7": (synth_xc7, ("lut", "ff", "carry", "dsp48e1", "dsp_cascade",
                                "dsp_pipelined")),
            "ice40": (synth_ice40, ("fmax_mhz", "lc", "ff", "mac16"))}


def measure_dsp(rows=DSP_ROWS):
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, label, macs, builder, kwargs, targets) in enumerate(rows):
            print(f"[{i + 1}/{len(rows)}] {kind} {label}", file=sys.stderr, flush=True)
            dut, description = builder(**kwargs)
            design = Path(tmp) / f"d{i}"
            write_design(dut, description, design, f"{re.sub(r'[^A-Za-z0-9]', '_', kind)}_{i}")
            row = {"operator": kind, "formats": label, "macs_per_cycle": macs,
                   "latency": description["latency"]}
            for target, (fn, keys) in DSP_KEYS.items():
                row[target] = {k: None for k in keys}
                if target not in targets:
                    continue
                try:  # one tool failure must not lose the rows already measured
                    report = fn(design)
                    row[target] = {k: report[k] for k in keys}
                except SynthesisError as err:
                    print(f"  {target}: {str(err).splitlines()[0]}", file=sys.stderr)
            family = "xc7" if "xc7" in targets and "xcup" not in targets else "xcup"
            row["family"] = family
            dsp = row[family]["dsp48e1" if family == "xc7" else "dsp48e2"]
            row["dsp_per_mac"] = None if dsp is None else round(dsp / macs, 3)
            out.append(row)
    return out


def dsp_markdown(rows) -> str:
    """Xilinx columns from xcup (UltraScale+), or from xc7 for a DSP48E1 row."""
    def xilinx(r, key):
        family = r.get("family", "xcup")
        if key == "dsp":
            key = "dsp48e1" if family == "xc7" else "dsp48e2"
        return r[family].get(key)
    return table(["operator", "formats", "MACs / cycle", "latency", "Xilinx DSPs",
                  "DSPs per MAC", "fed by PCIN", "A/B+M+P regs inside", "LUT", "FF",
                  "CARRY4", "iCE40 Fmax MHz", "iCE40 LC", "iCE40 FF", "iCE40 SB_MAC16"],
                 [[r["operator"], r["formats"], r["macs_per_cycle"], r["latency"],
                   xilinx(r, "dsp"), r["dsp_per_mac"], xilinx(r, "dsp_cascade"),
                   xilinx(r, "dsp_pipelined"), xilinx(r, "lut"), xilinx(r, "ff"),
                   xilinx(r, "carry"), r["ice40"]["fmax_mhz"], r["ice40"]["lc"],
                   r["ice40"]["ff"], r["ice40"]["mac16"]] for r in rows])


TOOL_COLUMNS = ("xcup", "xc7", "ecp5")  # a row's measured columns, one dict per flow


def merge(runs: list[list[dict]]) -> list[dict]:
    """Rows of several --json runs (e.g. one --only ecp5, one --only xilinx) as one table:
    the first run's rows, each flow's columns taken from the first run that measured them."""
    merged = [dict(row) for row in runs[0]]
    for run in runs[1:]:
        by_key = {(r["operator"], r["formats"]): r for r in run}
        for row in merged:
            other = by_key.get((row["operator"], row["formats"]))
            for flow in TOOL_COLUMNS:
                if other is not None and all(v is None for v in row[flow].values()):
                    row[flow] = other[flow]
    return merged


def update(saved: list[dict], measured: list[dict]) -> list[dict]:
    """The saved rows with the rows measured now put in: a measured row replaces the saved
    row of the same operator and formats, except for the flows this run did not run (--only),
    which keep the saved figures (a flow that ran and failed is empty, with its error under
    `failed`); a row not saved before is added. Rows keep the order of ROWS."""
    by_key = {(r["operator"], r["formats"]): r for r in measured}
    out = []
    for row in saved:
        new = by_key.pop((row["operator"], row["formats"]), None)
        if new is None:
            out.append(row)
            continue
        ran = new.get("measured", TOOL_COLUMNS)
        merged = {**new, **{flow: new[flow] if flow in ran else row[flow]
                            for flow in TOOL_COLUMNS}}
        merged["measured"] = sorted(set(ran) | set(row.get("measured", ())))
        failed = {**row.get("failed", {}), **new.get("failed", {})}
        for flow in ran:
            if flow not in new.get("failed", {}):
                failed.pop(flow, None)
        if failed:
            merged["failed"] = failed
        else:
            merged.pop("failed", None)
        out.append(merged)
    out += by_key.values()
    known = {(kind, label): i for i, (kind, label, _, _) in enumerate(ROWS)}
    return sorted(out, key=lambda r: known.get((r["operator"], r["formats"]), len(known)))


def load_runs(parser, files: list[str]) -> list[dict]:
    runs = []
    for name in files:
        try:
            rows = json.loads(Path(name).read_text())
            if not isinstance(rows, list) or not all(
                    isinstance(r, dict) and {"operator", "formats", *TOOL_COLUMNS} <= set(r)
                    for r in rows):
                raise ValueError("expected the rows of a hw_table.py --json run")
        except (OSError, ValueError) as err:
            parser.error(f"--from-json {name}: {err}")
        runs.append(rows)
    return merge(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dsp", action="store_true",
                        help="the DSP-efficiency table (xcup DSPs per MAC, iCE40 UP5K)")
    parser.add_argument("--dsp-rows", default=None, metavar="TEXT",
                        help="with --dsp: only the rows whose formats contain this text")
    parser.add_argument("--only", choices=("ecp5", "xilinx"),
                        help="run one flow (the other columns print as -)")
    parser.add_argument("--rows", default=None, metavar="REGEX",
                        help="only the rows whose 'operator formats' this regular expression "
                             "matches (re.search; e.g. '^N:M chain [ie]', the three chains); "
                             "--update FILE puts them into a saved run")
    parser.add_argument("--update", metavar="FILE", default=None,
                        help="with --json: write the rows measured now into FILE (an earlier "
                             "--json run), replacing the same rows' measured flows, and print "
                             "the whole table")
    parser.add_argument("--from-json", metavar="FILE", action="append",
                        help="print the table of rows saved by an earlier --json run; given "
                             "more than once, each flow's columns come from the first file "
                             "that measured them (an --only ecp5 run + an --only xilinx run)")
    args = parser.parse_args()
    if args.dsp_rows is not None and not args.dsp:
        parser.error("--dsp-rows: goes with --dsp")
    if args.dsp and (args.rows is not None or args.update is not None):
        parser.error("--rows / --update: the hardware table's; --dsp takes --dsp-rows")
    if args.update is not None and (not args.json or args.from_json):
        parser.error("--update: goes with --json (and a measurement, not --from-json)")
    try:
        pattern = re.compile(args.rows or "")
    except re.error as err:
        parser.error(f"--rows: not a regular expression ({err})")
    rows_of = [r for r in ROWS if pattern.search(f"{r[0]} {r[1]}")]
    if not rows_of:
        parser.error(f"--rows: no row matches {args.rows!r}")
    saved = load_runs(parser, [args.update]) if args.update is not None else None
    if args.dsp:
        rows = measure_dsp([r for r in DSP_ROWS
                            if args.dsp_rows is None or args.dsp_rows in r[1]])
        print(json.dumps(rows, indent=1) if args.json else dsp_markdown(rows))
        return
    rows = load_runs(parser, args.from_json) if args.from_json else measure(rows_of,
                                                                               only=args.only)
    if saved is not None:
        rows = update(saved, rows)
        Path(args.update).write_text(json.dumps(rows, indent=1) + "\n")
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))


if __name__ == "__main__":
    main()
