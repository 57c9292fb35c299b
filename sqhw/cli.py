"""`sqhw <verb>`: the command line.

    sqhw formats [--json]     every preset with its derived limits
    sqhw tour [--json]        quantization error (SQNR) of every preset on real data
    sqhw demo                 the main job on its built-in default (formats, tour, PTQ study)
    sqhw gen mul|cvt|mac ...  Verilog + manifest.json for an operator
    sqhw synth DIR --target   LUT/FF/CARRY/DSP counts (xcup, xc7), placed-and-routed Fmax
                              (ecp5, ice40)
    sqhw synth DIR --board B  the same for a board's family, with its budget (fits / overflow)
    sqhw build --board B -o D a design for a board: Verilog, report.json (resources, fits,
                              roofline; ECP5 / iCE40: Fmax and a bitstream)
    sqhw boards [--json]      every board file: part, family, resources, clock, memory
    sqhw ptq --model NAME     PTQ study: accuracy per format beside ONNX Runtime (cli_ptq.py)
    sqhw bench [--json]       Numba encode / matmul beside ml_dtypes, torch and memcpy
"""

from __future__ import annotations

import argparse
import json
import math
import sys


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _describe(fmt) -> dict:
    from .formats import BlockScaled, Fixed, Minifloat

    row = {"name": fmt.name, "bits": fmt.bits, "max": fmt.max, "min_normal": fmt.min_normal,
           "min_subnormal": fmt.min_subnormal}
    if isinstance(fmt, Minifloat):
        row.update(kind="minifloat", exp_bits=fmt.exp_bits, man_bits=fmt.man_bits, bias=fmt.bias,
                   signed=fmt.signed, subnormals=fmt.subnormals, inf=fmt.inf, nan=fmt.nan)
    elif isinstance(fmt, Fixed):
        row.update(kind="fixed", int_bits=fmt.int_bits, frac_bits=fmt.frac_bits, signed=fmt.signed,
                   bias=None, inf=False, nan=None)
    elif isinstance(fmt, BlockScaled):
        row.update(kind="block", element=fmt.element.name, block_size=fmt.block_size,
                   scale=fmt.scale_format.name, tensor_scale=fmt.tensor_scale,
                   bits_per_element=fmt.bits_per_element, bias=None, inf=False, nan=None)
    return row


def _special(row: dict) -> str:
    if row["kind"] == "block":
        return f"{row['block_size']} x {row['element']}, scale {row['scale']}" + (
            " + fp32 tensor scale" if row["tensor_scale"] else "")
    if row["kind"] == "fixed":
        return "wraps (saturate=True clamps)"
    parts = ["Inf" if row["inf"] else "no Inf", f"NaN: {row['nan']}" if row["nan"] else "no NaN"]
    if not row["signed"]:
        parts.append("unsigned")
    if not row["subnormals"]:
        parts.append("no zero/subnormals")
    return ", ".join(parts)


def _table(headers: list[str], rows: list[list], left=(0,)) -> str:
    """Plain-text table; columns in `left` are left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) if i in left else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _num(v) -> str:
    return "-" if v is None else f"{v:.6g}"


def cmd_formats(args) -> int:
    from .formats import presets

    rows = [_describe(f) for f in presets()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(_table(["format", "bits", "bias", "max", "min normal", "min subnormal", "special values"],
                 [[r["name"], r.get("bits_per_element", r["bits"]), _num(r["bias"]),
                   _num(r["max"]), _num(r["min_normal"]), _num(r["min_subnormal"]), _special(r)]
                  for r in rows], left=(0, 6)))
    return 0


def _sqnr(v):
    if v is None:
        return None
    return "exact" if math.isinf(v) else v


def cmd_tour(args) -> int:
    from .formats import parse
    from .ptq.error_table import error_table, real_datasets

    formats = None
    if args.formats:
        try:
            formats = [parse(n) for n in args.formats.split(",")]
        except ValueError as err:
            raise CommandError(f"--formats: {err}") from err
    try:
        datasets = real_datasets()
    except RuntimeError as err:
        raise CommandError(str(err)) from err
    rows = error_table(datasets, formats, progress=not args.json and sys.stderr.isatty())
    rows = [{k: (_sqnr(v) if k in datasets else v) for k, v in r.items()} for r in rows]
    if args.json:
        print(json.dumps({"metric": "SQNR dB", "datasets": {k: list(v[0].shape) for k, v in
                                                             datasets.items()}, "rows": rows},
                         indent=1))
        return 0
    print("Quantization error on real data, SQNR in dB (higher is better; '-' = format cannot")
    print("hold the data's signs; element formats use max scaling: digits per tensor, MiniLM")
    print("weights per output channel; block formats scale per block):\n")
    print(_table(["format", "bits/elem", *datasets],
                 [[r["format"], r["bits_per_element"], *("-" if r[k] is None else r[k]
                                                         for k in datasets)] for r in rows]))
    return 0


def cmd_demo(args) -> int:
    print("== sqhw formats ==")
    cmd_formats(argparse.Namespace(json=False))
    print("\n== quantization error on real data (sqhw tour) ==")
    cmd_tour(argparse.Namespace(json=False, formats=None))
    print("\n== PTQ study: the digits CNN, dense and 2:4, exact engine, beside ONNX Runtime "
          "(sqhw ptq) ==")
    from .cli_ptq import DEFAULT_FORMATS, cmd_ptq

    return cmd_ptq(argparse.Namespace(
        model="digits", formats=DEFAULT_FORMATS, sparsity="2:4", weights_only=False, algo="",
        peers="onnxruntime", engine="exact", no_cache=False, json=False, output=None))


def cmd_gen(args) -> int:
    from .hdl.emit import DESIGNS, write_design

    try:
        if args.design == "mul":
            dut, description = DESIGNS["mul"](args.a, args.b, args.stages, args.width)
        elif args.design == "cvt":
            dut, description = DESIGNS["cvt"](args.src, args.dst, args.rounding,
                                              args.saturate, args.stages, args.random_bits,
                                              args.dyadic_shift, args.multiplier_bits)
        else:
            dut, description = DESIGNS["mac"](args.a, args.b, args.length, args.out,
                                              args.rounding, args.saturate, args.stages)
    except (ValueError, TypeError) as err:  # refused before any file is written
        raise CommandError(str(err)) from err
    top = args.top or f"sqhw_{args.design}"
    manifest = write_design(dut, description, args.output, top)
    print(f"wrote {args.output}/{manifest['sources'][0]} and {args.output}/manifest.json "
          f"(latency {manifest['latency']})")
    return 0


def cmd_synth(args) -> int:
    from .hw.boards import BoardError
    from .hw.synth import XILINX_FAMILIES, SynthesisError, plan, synthesise

    try:
        target, board = plan(args.target, args.board)  # refused before any tool runs
        report = synthesise(args.design_dir, target, board, seed=args.seed)
    except (FileNotFoundError, ValueError, BoardError, SynthesisError) as err:
        raise CommandError(str(err)) from err
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    keys = (["lut", "ff", "carry", XILINX_FAMILIES[target].lower(), "dsp_cascade", "bram"]
            if target in XILINX_FAMILIES
            else ["fmax_mhz", "lut4", "ff", "mult18", "bram", "io"] if target == "ecp5"
            else ["fmax_mhz", "lc", "ff", "mac16", "bram", "spram", "io"])
    print(f"{report['top']} on {target} ({report['tool']}):")
    print(_table(keys, [[report[k] for k in keys]], left=()))
    if "budget" in report:
        print()
        print(_budget_text(report["budget"]))
    return 0


def _budget_text(budget: dict) -> str:
    """`dsp: 9600 of 9024 (106.4%, overflow)`, one line per resource."""
    verdict = "fits" if budget["fits"] else "does not fit"
    lines = [f"budget on {budget['board']}: {verdict}"]
    for key, row in budget["resources"].items():
        share = f"{100 * row['used'] / row['available']:.1f}%" if row["available"] else "-"
        lines.append(f"  {key}: {row['used']:g} of {row['available']} ({share}"
                     f"{'' if row['fits'] else ', overflow'})")
    return "\n".join(lines)


def cmd_build(args) -> int:
    from .hw.boards import BoardError
    from .hw.build import BuildError, plan, run
    from .hw.design import DesignError
    from .hw.open_flow import ToolError

    try:
        request = plan(args.board, args.design, args.output, args.force)  # before any tool
        report = run(request, seed=args.seed, progress=sys.stderr.isatty() and not args.json)
    except (BoardError, DesignError, BuildError, ToolError) as err:
        raise CommandError(str(err)) from err
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(_build_text(report, args.output))
    return 0 if report["fits"] else 1


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _rate(value) -> str:
    return "-" if value is None else f"{value / 1e9:,.1f} G"


def _build_text(report: dict, out) -> str:
    design, roof = report["design"], report["roofline"]
    lines = [f"{report['board']} ({report['part']}, {report['clock_mhz']:g} MHz): "
             f"{_count(design['lanes'], 'lane')} x {_count(design['chain'], 'stage')} = "
             f"{design['multipliers']} "
             f"multipliers, {design['weight']} x {design['act']} -> {design['out']}, "
             f"{design['nm']} ({design['sizing']})"]
    res = report["resources"]
    lines.append(_table(list(res), [[res[k] for k in res]], left=()))
    if report["estimated_from"]:
        lines.append(f"counted: {report['estimated_from']}")
    lines += ["", _budget_text(report["budget"])]
    if report["fmax_mhz"] is not None:
        met = "met" if report["timing_met"] else "NOT met"
        lines.append(f"Fmax {report['fmax_mhz']:g} MHz after place and route: timing {met} "
                     f"at {report['clock_mhz']:g} MHz")
    elif isinstance(report["place_and_route"], str):
        lines.append(f"place and route: {report['place_and_route']}")
    memory = roof["memory"]
    lines.append(f"roofline ({roof['layer']['rows']} x {roof['layer']['k']} @ "
                 f"{roof['layer']['k']} x {roof['layer']['cols']}): peak "
                 f"{_rate(roof['peak_macs_per_s'])}MAC/s dense-equivalent, memory "
                 + (f"{_rate(roof['memory_bound_macs_per_s'])}MAC/s ({memory['kind']} "
                    f"{memory['bandwidth_gbs']:g} GB/s, {roof['bytes_per_mac']:.3g} B/MAC)"
                    if memory else "- (no external memory)")
                 + f": {roof['bound']}-bound")
    lines.append(f"wrote {', '.join(report['files'])} in {out} "
                 f"({report['seconds']['total']:g} s)")
    return "\n".join(lines)


def _memory_text(board) -> str:
    size = lambda gib: f"{gib:g} GiB" if gib >= 1 else f"{gib * 1024:g} MiB"
    return " + ".join("none" if bank.kind == "none" else
                      f"{size(bank.size_gib)} {bank.kind} {bank.bandwidth_gbs:g} GB/s"
                      for bank in board.memory)


def _blocks_text(blocks) -> str:
    return "-" if blocks is None else f"{blocks.count} x {blocks.kbit}k"


def cmd_boards(args) -> int:
    from .hw.boards import BoardError, list_boards

    try:
        boards = list_boards()
    except BoardError as err:
        raise CommandError(str(err)) from err
    if args.json:
        print(json.dumps([b.row() for b in boards], indent=1))
        return 0
    res = lambda b: b.resources
    print(_table(["board", "part", "family", "LUT", "FF", "DSP", "BRAM", "URAM", "clock MHz",
                  "memory", "toolchain"],
                 [[b.name, b.part, b.family, res(b).lut, res(b).ff,
                   f"{res(b).dsp.count} {res(b).dsp.kind}", _blocks_text(res(b).bram),
                   _blocks_text(res(b).uram), f"{b.clock_mhz:g}", _memory_text(b), b.toolchain]
                  for b in boards], left=(0, 1, 2, 9, 10)))
    return 0


def cmd_bench(args) -> int:
    from .baselines import bench

    interactive = sys.stderr.isatty() and not args.json
    result = bench.run(quick=args.quick, progress=bench.main_progress if interactive else None)
    if interactive:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    print(json.dumps(result, indent=1) if args.json else bench.report(result))
    return 0


def cmd_sim(args) -> int:
    import tempfile

    from .hdl.emit import design_dsp_chain, write_design
    from .sparsity import NM
    from .verify.runner import run

    try:
        nm = NM.parse(args.nm)
        if args.chain < 1 or args.chain & (args.chain - 1):
            raise ValueError(f"--chain: expected a power of two, got {args.chain}")
        if nm.n & (nm.n - 1):
            raise ValueError(f"--nm: the chain runs power-of-two N, got {nm}")
        for arg, value in (("--lanes", args.lanes), ("--k", args.k), ("--cols", args.cols),
                           ("--vectors", args.vectors)):
            if value < 1:
                raise ValueError(f"{arg}: expected a positive integer, got {value}")
        for arg, value in (("--ready", args.ready), ("--valid", args.valid)):
            if not 0 < value <= 1:
                raise ValueError(f"{arg}: expected a probability in (0, 1], got {value}")
        layer = _layer(args, nm) if args.weights or args.acts else {}
        k = int(layer["SQHW_K"]) if layer else args.k
        dut, description = design_dsp_chain(args.weight, args.act, nm.m, args.chain,
                                            max(k, 1), args.out, stages=args.stages,
                                            lanes=args.lanes)
    except (ValueError, TypeError) as err:
        raise CommandError(str(err)) from err
    rows = -(-args.vectors // args.cols)
    with tempfile.TemporaryDirectory() as tmp:
        write_design(dut, description, tmp, "sqhw_dsp_chain")
        results = run("tb_dsp_chain", [tmp], 1, env={
            "SQHW_NM": str(nm), "SQHW_ROWS": str(rows), "SQHW_K": str(args.k),
            "SQHW_COLS": str(args.cols), "SQHW_READY": str(args.ready),
            "SQHW_VALID": str(args.valid),
            "SQHW_SEED": str(args.seed), **layer})
    result = next(iter(results.values()))
    result.pop("seconds", None)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        keys = ["pattern", "vectors", "mismatches", "cycles", "ideal_cycles", "dsp_utilisation",
                "dense_equivalent_speedup"]
        print(_table(keys, [[result[k] for k in keys]], left=()))
    return 1 if result["mismatches"] else 0


def _layer(args, nm) -> dict:
    """A real layer for the chain: --weights (rows, K) and --acts (K, cols) .npy files of
    codes, checked here (shapes, code ranges, the N:M pattern) so a bad layer is refused
    before anything is built. Returns the testbench's environment for it."""
    from pathlib import Path

    import numpy as np

    from . import ref
    from .formats import parse

    if not (args.weights and args.acts):
        raise ValueError("--weights and --acts go together (codes of one layer and its inputs)")
    arrays = {}
    for option, path, fmt_name, ndim in (("--weights", args.weights, args.weight, 2),
                                         ("--acts", args.acts, args.act, 2)):
        try:
            codes = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{option} {path}: cannot read a .npy array ({err})") from None
        fmt = parse(fmt_name)
        if codes.ndim != ndim:
            raise ValueError(f"{option} {path}: expected a 2-D array of {fmt.name} codes, got "
                             f"shape {codes.shape}")
        ref.to_ints(codes, fmt, f"{option} {path}")  # integer codes, in range, finite
        arrays[option] = (path, codes, fmt)
    (w_path, w, w_fmt), (x_path, x, _) = arrays["--weights"], arrays["--acts"]
    if w.shape[1] != x.shape[0]:
        raise ValueError(f"--weights {w_path} has K={w.shape[1]} columns but --acts {x_path} "
                         f"has {x.shape[0]} rows")
    nm.check(w_fmt.decode(w) != 0, f"--weights {w_path}")
    return {"SQHW_W_NPY": str(Path(w_path).resolve()), "SQHW_X_NPY": str(Path(x_path).resolve()),
            "SQHW_K": str(w.shape[1])}


def _stages(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _add_gen(sub) -> None:
    from .formats import ROUNDING_MODES

    gen = sub.add_parser("gen", help="generate Verilog + manifest.json for an operator")
    kinds = gen.add_subparsers(dest="design", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", required=True, help="output directory")
    common.add_argument("--stages", type=_stages, default=None,
                        help="pipeline register stages (latency; default 0, mac 1)")
    common.add_argument("--top", help="Verilog module name (default sqhw_<design>)")
    rounding = argparse.ArgumentParser(add_help=False)
    rounding.add_argument("--rounding", choices=ROUNDING_MODES, default="rne")
    rounding.add_argument("--saturate", action=argparse.BooleanOptionalAction, default=True,
                          help="clamp overflow to +-max (default) or follow the format's rule")
    p = kinds.add_parser("mul", parents=[common], help="exact multiplier a x b")
    p.add_argument("--a", required=True, help="format of a, e.g. float8_e4m3fn")
    p.add_argument("--b", required=True, help="format of b")
    p.add_argument("--width", type=int, help="output width (default: the exact product's)")
    p = kinds.add_parser("cvt", parents=[common, rounding], help="converter / requantizer")
    p.add_argument("--from", dest="src", required=True, help="input format")
    p.add_argument("--to", dest="dst", help="output format (minifloat input: its exact fixed)")
    p.add_argument("--random-bits", type=int, default=16, help="random word width (stochastic)")
    p.add_argument("--dyadic-shift", type=int, help="integer path: o = round(i * m / 2**S) + "
                   "zero_point with run-time inputs m and zero_point")
    p.add_argument("--multiplier-bits", type=int, default=16, help="width of m (dyadic)")
    p = kinds.add_parser("mac", parents=[common, rounding],
                         help="streaming dot product (block formats: one result per block)")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--length", type=int, default=1024, help="longest dot product (sizes acc)")
    p.add_argument("--out", required=True, help="output format of the requantizer")
    gen.set_defaults(func=cmd_gen)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqhw", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("formats", help="table of every preset format")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_formats)
    p = sub.add_parser("tour", help="quantization error of every preset on real data")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--formats", help="comma-separated format names (default: every preset)")
    p.set_defaults(func=cmd_tour)
    p = sub.add_parser("demo", help="run the main job on the built-in default")
    p.set_defaults(func=cmd_demo)
    _add_gen(sub)
    p = sub.add_parser("synth", help="resources (and Fmax on ECP5) of a generated design")
    p.add_argument("design_dir", help="a directory written by `sqhw gen`")
    p.add_argument("--target", choices=["xcup", "xc7", "ecp5", "ice40"],
                   help="xcup: UltraScale+ counts; xc7: 7-series counts (Yosys packs DSP "
                   "post-adders and cascades only there); ecp5, ice40: place and route, Fmax "
                   "(default: the board's family, else xcup)")
    p.add_argument("--board", help="a board (boards/NAME.yaml or a path): picks the target "
                   "and reports the design's budget on it (ecp5 default: ecp5_25k, ice40: "
                   "icebreaker)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_synth)
    p = sub.add_parser("build", help="a design for a board: Verilog, resources, fit, roofline "
                       "(and on ECP5 / iCE40 boards place and route and a bitstream)")
    p.add_argument("--board", required=True, help="a board: boards/NAME.yaml or a path")
    p.add_argument("--design", help="design.yaml (formats, nm, lanes, chain, k, layer shape); "
                   "default: the 2:4 int8 sparse chain array on half the board's DSPs")
    p.add_argument("-o", "--output", required=True, help="output directory (new or empty)")
    p.add_argument("--force", action="store_true",
                   help="build into a non-empty directory (replaces a previous build's files)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--json", action="store_true", help="print report.json")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("boards", help="every board file: part, resources, clock, memory")
    p.add_argument("--json", action="store_true", help="one JSON row per board")
    p.set_defaults(func=cmd_boards)
    p = sub.add_parser("sim", help="simulate a generated design with Verilator + cocotb")
    kinds = p.add_subparsers(dest="design", required=True)
    q = kinds.add_parser("dsp-chain", help="N:M sparse DSP chain vs sqhw.ref, bit for bit")
    q.add_argument("--nm", default="2:4", help="pattern n:m (power-of-two n)")
    q.add_argument("--weight", default="int8", help="weight format")
    q.add_argument("--act", default="int8", help="activation format")
    q.add_argument("--out", default="int8", help="output format of the requantizer")
    q.add_argument("--lanes", type=int, default=4,
                   help="chains in parallel (output rows at once), sharing the activations")
    q.add_argument("--chain", type=int, default=8, help="multiply stages per chain")
    q.add_argument("--k", type=int, default=512, help="reduction length K")
    q.add_argument("--cols", type=int, default=1, help="columns of X (1: matrix-vector)")
    q.add_argument("--vectors", type=int, default=256, help="output values to check")
    q.add_argument("--ready", type=float, default=1.0, help="P(result.ready) per cycle")
    q.add_argument("--valid", type=float, default=1.0,
                   help="P(an idle input stream offers its next beat) per cycle")
    q.add_argument("--stages", type=_stages, default=1)
    q.add_argument("--weights", help="a real layer: .npy of weight codes (rows, K) that "
                   "follow --nm (with --acts; replaces the random matrices)")
    q.add_argument("--acts", help="a real layer's inputs: .npy of activation codes (K, cols)")
    q.add_argument("--seed", type=int, default=1234)
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sim)
    from .cli_ptq import add_parser as add_ptq

    add_ptq(sub)
    p = sub.add_parser("bench", help="Numba vs ml_dtypes / torch / memcpy, in one run")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "stages", 0) is None and args.verb == "gen":
        args.stages = 1 if args.design == "mac" else 0
    try:
        return args.func(args)
    except CommandError as err:
        print(f"sqhw {args.verb}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
