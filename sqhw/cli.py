"""`sqhw <verb>`: the command line.

    sqhw formats [--json]     every preset with its derived limits
    sqhw tour [--json]        quantization error (SQNR) of every preset on real data
    sqhw demo [-o DIR]        the whole flow on a small default: PTQ, builds, report (cli_demo.py)
    sqhw gen mul|cvt|mac|chain ...  Verilog + manifest.json for an operator or the N:M chain
    sqhw verify DIR           a generated design against sqhw.ref under Verilator (cocotb)
    sqhw vectors DIR -o FILE  its golden vectors (npz + $readmemh hex) for a vendor simulator
    sqhw synth DIR --target   LUT/FF/CARRY/DSP counts (xcup, xc7), placed-and-routed Fmax
                              (ecp5, ice40)
    sqhw synth DIR --board B  the same for a board's family, with its budget (fits / overflow)
    sqhw build --board B -o D a design for a board: Verilog, report.json (resources, fits,
                              roofline; ECP5 / iCE40: Fmax and a bitstream)
    sqhw boards [--json]      every board file: part, family, resources, clock, memory
    sqhw ptq --model NAME     PTQ study: accuracy per format beside ONNX Runtime (cli_ptq.py)
    sqhw sweep SPEC.yaml      PTQ + build per point on a local pool or Ray, into SQLite
    sqhw results --db PATH    the stored points of a sweep (cli_sweep.py)
    sqhw bench [--json]       Numba encode / matmul beside ml_dtypes, torch and memcpy; on a
                              CUDA GPU, Triton beside torch, cuBLAS and cuSPARSELt
    sqhw report --ptq R -o D  PTQ rows joined with builds, cost per MAC, baselines (cli_report.py)

Exit status: 0 ok; 1 a check found a mismatch (verify, sim) or a sweep point failed (stored);
2 bad input or usage (one line naming the argument); 3 an internal error (one line and the
path of a log file with the traceback); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (exit status 2) like every other refusal."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Upper bounds of the generator and simulation options: past them a request is refused
# before anything is elaborated (a bound of 100000 stages or lanes was a hang)
MAX_STAGES = 64       # the designs have 2-3 cut points; more stages only delay the output
MAX_EXTRA_WIDTH = 64  # --width: the exact product's width plus at most this many sign bits
MAX_LENGTH = 1 << 24  # --length: terms of the longest dot product (the accumulator grows
                      # with log2 of it)
MAX_WORD_BITS = 64    # --multiplier-bits, --random-bits
MAX_LANES = 64        # chain lanes
PACK_HELP = ("products per DSP multiply, integer formats (2: two int8 columns of X share each "
             "weight, WP486; the chain must stay within the packing's bound, 8 stages for int8)")
MAX_CHAIN = 64        # chain stages (a power of two)
MAX_K = 1 << 16       # chain reduction length
MAX_SIM_VECTORS = 1 << 16  # `sim dsp-chain` outputs (rows x cols)
SEED_LIMIT = 1 << 63


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


def _output_dir(text: str, force: bool, arg: str = "-o") -> tuple[Path, list[str]]:
    """The output folder of a generator and, with --force, the files of the design written
    there before (its manifest's sources, the manifest, verify's reports) that the new one
    replaces. Refuses an empty name, a file, a folder that cannot be created or written, and
    one that holds anything unless --force."""
    import os

    if not text or not text.strip():
        raise CommandError(f"{arg}: expected a folder name, got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise CommandError(f"{arg} {text}: exists and is not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise CommandError(f"{arg} {text}: the folder is not writable")
        entries = sorted(p.name for p in path.iterdir())
        if entries and not force:
            raise CommandError(f"{arg} {text}: exists and is not empty ({', '.join(entries[:3])}"
                               f"{' ...' if len(entries) > 3 else ''}); use --force to replace "
                               "the design in it")
        return path, _design_files(path) if entries else []
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"{arg} {text}: cannot be created ({parent} is not a writable "
                           "folder)")
    return path, []


def _design_files(path: Path) -> list[str]:
    """What a design folder holds that sqhw wrote: the manifest, its sources (plain names
    only: a hand-edited manifest must not make --force delete elsewhere), verify's reports."""
    from .manifest import MANIFEST

    names = [MANIFEST, "verify"]
    try:
        written = json.loads((path / MANIFEST).read_text())
        sources = [*written.get("sources", []), *written.get("simulation_models", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        sources = []
    names += [s for s in sources if isinstance(s, str) and s == Path(s).name
              and s not in ("", ".", "..")]
    return names


def _gen_design(args):
    """(dut, description) of a `sqhw gen` request, every bound checked first."""
    from .formats import BlockScaled, parse
    from .hdl.emit import DESIGNS

    if args.design == "mul":
        if args.width is not None:
            exact = _product_bits(args.a, args.b)
            if not exact <= args.width <= exact + MAX_EXTRA_WIDTH:
                raise ValueError(f"--width: the exact product of {args.a} x {args.b} needs "
                                 f"{exact} bits; expected {exact} to {exact + MAX_EXTRA_WIDTH} "
                                 f"(wider only repeats the sign), got {args.width}")
        return DESIGNS["mul"](args.a, args.b, args.stages, args.width,
                              target_mhz=args.target_mhz)
    if args.design == "cvt":
        for arg, value in (("--multiplier-bits", args.multiplier_bits),
                           ("--random-bits", args.random_bits)):
            if not 1 <= value <= MAX_WORD_BITS:
                raise ValueError(f"{arg}: expected 1 to {MAX_WORD_BITS}, got {value}")
        if args.dyadic_shift is not None:
            src = parse(args.src)
            top = src.bits + args.multiplier_bits
            if not 1 <= args.dyadic_shift <= top:
                raise ValueError(f"--dyadic-shift: expected 1 to {top} for {src.name} inputs "
                                 f"and {args.multiplier_bits}-bit m (i * m has {top} bits; a "
                                 f"larger shift leaves only the zero point), got "
                                 f"{args.dyadic_shift}")
        return DESIGNS["cvt"](args.src, args.dst, args.rounding, args.saturate, args.stages,
                              args.random_bits, args.dyadic_shift, args.multiplier_bits,
                              target_mhz=args.target_mhz)
    if args.design == "mac":
        a, b = parse(args.a), parse(args.b)
        block = next((f for f in (a, b) if isinstance(f, BlockScaled)), None)
        if block is not None:
            if args.length is not None and args.length != block.block_size:
                raise ValueError(f"--length: {block.name} block dots have a fixed length of "
                                 f"{block.block_size} (its block size), got {args.length}; "
                                 "leave --length out")
            length = block.block_size
        else:
            length = 1024 if args.length is None else args.length
            if not 1 <= length <= MAX_LENGTH:
                raise ValueError(f"--length: expected 1 to 2**24 terms, got {length}")
        return DESIGNS["mac"](args.a, args.b, length, args.out, args.rounding, args.saturate,
                              args.stages, target_mhz=args.target_mhz)
    nm = _chain_shape(args.nm, args.lanes, args.chain, args.k)
    dut, description = DESIGNS["dsp_chain"](args.weight, args.act, nm.m, args.chain, args.k,
                                            args.out, args.rounding, args.saturate,
                                            args.stages, args.lanes, pack=args.pack,
                                            primitive=args.primitive,
                                            target_mhz=args.target_mhz)
    description["parameters"]["nm"] = str(nm)  # the pattern verify / vectors use by default
    return dut, description


def _product_bits(a: str, b: str) -> int:
    from . import ref
    from .formats import parse

    return ref.product_format(parse(a), parse(b)).bits


def _chain_shape(text: str, lanes: int, chain: int, k: int):
    """The N:M pattern of a chain request, with its lanes, chain and K bounds checked."""
    from .sparsity import NM

    nm = NM.parse(text)
    if not 1 <= chain <= MAX_CHAIN or chain & (chain - 1):
        raise ValueError(f"--chain: expected a power of two from 1 to {MAX_CHAIN}, got {chain}")
    if nm.m & (nm.m - 1) or nm.n & (nm.n - 1):
        raise ValueError(f"--nm: the chain runs power-of-two N and M, got {nm}")
    if nm.n > min(nm.m, chain):
        raise ValueError(f"--nm: a chain of {chain} stages runs n up to {min(nm.m, chain)} "
                         f"for m = {nm.m}, got {nm}")
    if not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"--lanes: expected 1 to {MAX_LANES}, got {lanes}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"--k: expected a reduction length of 1 to {MAX_K}, got {k}")
    return nm


def cmd_gen(args) -> int:
    import shutil

    from .hdl.emit import MANIFEST, check_top, write_design

    top = args.top if args.top is not None else f"sqhw_{args.design}"
    try:
        check_top(top)
        dut, description = _gen_design(args)
    except (ValueError, TypeError) as err:  # refused before any file is written
        raise CommandError(str(err)) from err
    out, previous = _output_dir(args.output, args.force)
    manifest = write_design(dut, description, out, top)
    for name in set(previous) - {*manifest["sources"], *manifest.get("simulation_models", ()),
                                 MANIFEST}:  # the replaced design's
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    print(f"wrote {out / manifest['sources'][0]} and {out / 'manifest.json'} "
          f"(latency {manifest['latency']})")
    return 0


def _design_dir(text: str) -> Path:
    if not text or not text.strip():
        raise CommandError("DIR: expected the folder of a generated design, got an empty "
                           "string")
    path = Path(text)
    if not path.is_dir():
        raise CommandError(f"{text}: no such folder (generate a design with `sqhw gen ... -o "
                           f"{text}`)")
    return path


def cmd_verify(args) -> int:
    from .verify import check
    from .verify.vectors import VectorError

    design = _design_dir(args.design_dir)
    wave = None
    if args.wave is not None:
        suffix = Path(args.wave).suffix
        wave = _new_file(args.wave, suffix if suffix in (".fst", ".vcd") else ".fst", "--wave",
                         args.force)
        from .verify.runner import fst_available

        if suffix == ".fst" and not fst_available():
            raise CommandError(f"--wave {args.wave}: Verilator's FST writer needs lz4.h and "
                               "zlib.h (Debian: apt install liblz4-dev zlib1g-dev), not found "
                               "here; use a .vcd file name")
    exhaustive = True if args.exhaustive else None
    try:  # every refusal before anything is built
        planned = check.plan(design, args.seed, args.vectors, exhaustive, args.replay)
    except (FileNotFoundError, VectorError, ValueError) as err:
        raise CommandError(str(err)) from err
    report = check.verify(design, args.seed, args.vectors, exhaustive, wave, args.replay,
                          planned)
    print(json.dumps(report, indent=1) if args.json else check.text(report))
    return 1 if report["mismatches"] else 0


def _new_file(text: str, suffix: str, arg: str, force: bool) -> Path:
    """An output file: not empty, the right suffix, a writable existing folder, replaced
    only with --force."""
    import os

    if not text or not text.strip():
        raise CommandError(f"{arg}: expected a file name, got an empty string")
    path = Path(text)
    if path.suffix != suffix:
        raise CommandError(f"{arg} {text}: expected a {suffix} file name")
    if path.name.startswith(".") or path.name == suffix:
        raise CommandError(f"{arg} {text}: expected a file name before {suffix}")
    if path.is_dir():
        raise CommandError(f"{arg} {text}: is a folder, expected a file name")
    if path.exists() and not force:
        raise CommandError(f"{arg} {text}: exists; use --force to replace it")
    parent = path.absolute().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"{arg} {text}: {parent} is not a writable folder")
    return path


def cmd_vectors(args) -> int:
    from .manifest import read_manifest
    from .verify import export
    from .verify.check import LANES
    from .verify.vectors import UNIT, VectorError, generate, kind

    design = _design_dir(args.design_dir)
    stem = Path(args.output[:-4] if args.output.endswith(".npz") else args.output)
    if not args.output.strip() or not stem.name:
        raise CommandError(f"-o: expected a file name, got {args.output!r}")
    if Path(args.output).is_dir():
        raise CommandError(f"-o {args.output}: is a folder, expected a file name (FILE.npz)")
    try:
        manifest = read_manifest(design)
        vs = generate(manifest, args.seed, args.vectors, True if args.exhaustive else None,
                      group=LANES[kind(manifest)], nm=args.nm)
    except (FileNotFoundError, VectorError, ValueError) as err:
        raise CommandError(str(err)) from err
    for path in export.outputs_of(stem):
        _new_file(str(path), path.suffix, "-o", args.force)
    paths = export.write(manifest, vs, stem, args.seed)
    print(f"wrote {vs.size} vectors ({vs.count} {UNIT[vs.kind]}, {vs.mode}, seed "
          f"{args.seed}) of {manifest['top']}: {', '.join(map(str, paths))}")
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
    kernel = report.get("deliverables")
    if kernel:
        lines.append(f"{kernel['folder']}/: {kernel['kind']} ({kernel['top']}: "
                     f"{', '.join(sorted(Path(f).name for f in kernel['files'].values()))}); "
                     f"{len(kernel['vendor_steps'])} steps need Vivado / Vitis and were not run")
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
    result = bench.run(quick=args.quick, progress=bench.main_progress if interactive else None,
                       gpu_only=args.gpu_only)
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
        for arg, value in (("--weights", args.weights), ("--acts", args.acts)):
            if value is not None and not value.strip():
                raise ValueError(f"{arg}: expected a .npy file, got an empty string")
        nm = _chain_shape(args.nm, args.lanes, args.chain, args.k)
        for arg, value, top in (("--cols", args.cols, MAX_SIM_VECTORS),
                                ("--vectors", args.vectors, MAX_SIM_VECTORS)):
            if not 1 <= value <= top:
                raise ValueError(f"{arg}: expected 1 to {top}, got {value}")
        for arg, value in (("--ready", args.ready), ("--valid", args.valid)):
            if not 0 < value <= 1:
                raise ValueError(f"{arg}: expected a probability in (0, 1], got {value}")
        layer = _layer(args, nm) if args.weights is not None or args.acts is not None else {}
        k = int(layer["SQHW_K"]) if layer else args.k
        if layer and k > MAX_K:
            raise ValueError(f"--weights {args.weights}: K = {k} columns; the chain takes at "
                             f"most {MAX_K}")
        # sized for --k (or the layer's K where larger): a layer with a shorter K runs on the
        # same build (K is a run-time input), so the default design's Verilator build is reused
        dut, description = design_dsp_chain(args.weight, args.act, nm.m, args.chain,
                                            max(k, args.k, 1), args.out, stages=args.stages,
                                            lanes=args.lanes, pack=args.pack)
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

    if args.weights is None or args.acts is None:
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


def _integer(text: str, low: int, high: int, why: str = "", shown: str | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {low} to {shown or high}{why}, got {value}")
    return value


def _stages(text: str) -> int:
    return _integer(text, 0, MAX_STAGES, " (the designs have 2-3 cut points; more stages "
                    "only delay the output)")


def _target_mhz(text: str) -> float:
    from .hdl.timing import MAX_TARGET_MHZ

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a frequency in MHz, got {text!r}") from None
    if not 0 < value <= MAX_TARGET_MHZ:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected a frequency above 0 and at most "
                                         f"{MAX_TARGET_MHZ:g} MHz, got {text}")
    return value


def _seed(text: str) -> int:
    return _integer(text, 0, SEED_LIMIT - 1, shown="2**63 - 1")


def _positive(text: str) -> int:
    return _integer(text, 1, 1 << 62, shown="2**62")


def _add_gen(sub) -> None:
    from .formats import ROUNDING_MODES

    gen = sub.add_parser("gen", help="generate Verilog + manifest.json for an operator")
    kinds = gen.add_subparsers(dest="design", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", required=True, help="output folder (new or empty)")
    common.add_argument("--force", action="store_true",
                        help="replace the design already in the output folder")
    common.add_argument("--stages", type=_stages, default=None,
                        help=f"pipeline register stages, 0 to {MAX_STAGES} (latency; default 0, "
                        "mac and chain 1)")
    common.add_argument("--target-mhz", type=_target_mhz, default=None, metavar="F",
                        help="place pipeline registers until the delay model (calibrated on "
                        "ECP5 with nextpnr) says every path meets F MHz, like FloPoCo's "
                        "frequency= (instead of --stages; the latency goes in the manifest)")
    common.add_argument("--top", help="Verilog module name, a plain identifier (default "
                        "sqhw_<design>; submodules are named <top>.<name>)")
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
    p.add_argument("--random-bits", type=int, default=16,
                   help=f"random word width (stochastic), 1 to {MAX_WORD_BITS}")
    p.add_argument("--dyadic-shift", type=int, help="integer path: o = round(i * m / 2**S) + "
                   "zero_point with run-time inputs m and zero_point")
    p.add_argument("--multiplier-bits", type=int, default=16,
                   help=f"width of m (dyadic), 1 to {MAX_WORD_BITS}")
    p = kinds.add_parser("mac", parents=[common, rounding],
                         help="streaming dot product (block formats: one result per block)")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--length", type=int, help="longest dot product, sizes the accumulator "
                   "(default 1024; block formats: their block size, fixed)")
    p.add_argument("--out", required=True, help="output format of the requantizer")
    p = kinds.add_parser("chain", parents=[common, rounding],
                         help="N:M sparse DSP chain (FlightLLM-style; N set at run time)")
    p.add_argument("--nm", default="2:4", help="pattern n:m: m sizes the index muxes, n is the "
                   "default run-time pattern (every power-of-two n <= min(m, chain) runs)")
    p.add_argument("--weight", default="int8", help="weight format")
    p.add_argument("--act", default="int8", help="activation format")
    p.add_argument("--out", default="int8", help="output format of the requantizer")
    p.add_argument("--lanes", type=int, default=1,
                   help=f"chains in parallel sharing the activations (1 to {MAX_LANES})")
    p.add_argument("--chain", type=int, default=8,
                   help=f"multiply stages per chain (a power of two up to {MAX_CHAIN})")
    p.add_argument("--k", type=int, default=1024,
                   help=f"longest reduction length K, sizes the accumulator (up to {MAX_K})")
    p.add_argument("--pack", type=int, default=1, help=PACK_HELP)
    p.add_argument("--primitive", choices=["DSP48E2", "DSP48E1"], default=None,
                   help="build the stages from instantiated Xilinx DSP slices (A/B, M and P "
                        "registers inside, PCOUT -> PCIN); integer formats")
    gen.set_defaults(func=cmd_gen)


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="check a generated design against sqhw.ref (Verilator)")
    p.add_argument("design_dir", metavar="DIR", help="a folder written by `sqhw gen`")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--exhaustive", action="store_true",
                     help="every input (pair) even past 2**16 vectors, up to 2**24 (the "
                     "default is exhaustive up to 2**16: every pair of 8-bit operands)")
    how.add_argument("--vectors", type=_positive,
                     help="random vectors: input pairs / codes, MAC terms or chain outputs")
    how.add_argument("--replay", metavar="FILE.json",
                     help="run only the vectors of a failures file (DIR/verify/failures.json)")
    p.add_argument("--seed", type=_seed, default=1234, help="seed of the random vectors")
    p.add_argument("--wave", metavar="FILE.fst", help="write a waveform of the run (FST, or VCD "
                   "for a .vcd name; on a mismatch: of the vectors around the first failure)")
    p.add_argument("--force", action="store_true", help="replace an existing --wave file")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("vectors", help="golden vectors of a design (npz + $readmemh hex)")
    p.add_argument("design_dir", metavar="DIR", help="a folder written by `sqhw gen`")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="FILE.npz; FILE.in.hex and FILE.out.hex are written beside it")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--exhaustive", action="store_true", help="as for `sqhw verify`")
    how.add_argument("--vectors", type=_positive, help="as for `sqhw verify`")
    p.add_argument("--seed", type=_seed, default=1234,
                   help="the seed `sqhw verify` checks the same vectors with")
    p.add_argument("--nm", help="chain: the run-time pattern (default: the design's)")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(func=cmd_vectors)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sqhw", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("formats", help="table of every preset format")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_formats)
    p = sub.add_parser("tour", help="quantization error of every preset on real data")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--formats", help="comma-separated format names (default: every preset)")
    p.set_defaults(func=cmd_tour)
    from .cli_demo import add_parser as add_demo

    add_demo(sub)
    _add_gen(sub)
    _add_verify(sub)
    p = sub.add_parser("synth", help="resources (and Fmax on ECP5) of a generated design")
    p.add_argument("design_dir", help="a directory written by `sqhw gen`")
    p.add_argument("--target", choices=["xcup", "xc7", "ecp5", "ice40"],
                   help="xcup: UltraScale+ counts; xc7: 7-series counts (Yosys packs DSP "
                   "post-adders and cascades only there); ecp5, ice40: place and route, Fmax "
                   "(default: the board's family, else xcup)")
    p.add_argument("--board", help="a board (boards/NAME.yaml or a path): picks the target "
                   "and reports the design's budget on it (ecp5 default: ecp5_25k, ice40: "
                   "icebreaker)")
    p.add_argument("--seed", type=_seed, default=1, help="nextpnr placement seed")
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
    q.add_argument("--lanes", type=int, default=4, help="chains in parallel (output rows at "
                   f"once), sharing the activations (1 to {MAX_LANES})")
    q.add_argument("--chain", type=int, default=8,
                   help=f"multiply stages per chain (a power of two up to {MAX_CHAIN})")
    q.add_argument("--k", type=int, default=512, help=f"reduction length K (up to {MAX_K})")
    q.add_argument("--cols", type=int, default=1, help="columns of X (1: matrix-vector)")
    q.add_argument("--pack", type=int, default=1, help=PACK_HELP)
    q.add_argument("--vectors", type=int, default=256,
                   help=f"output values to check (up to {MAX_SIM_VECTORS})")
    q.add_argument("--ready", type=float, default=1.0, help="P(result.ready) per cycle")
    q.add_argument("--valid", type=float, default=1.0,
                   help="P(an idle input stream offers its next beat) per cycle")
    q.add_argument("--stages", type=_stages, default=1)
    q.add_argument("--weights", help="a real layer: .npy of weight codes (rows, K) that "
                   "follow --nm (with --acts; replaces the random matrices)")
    q.add_argument("--acts", help="a real layer's inputs: .npy of activation codes (K, cols)")
    q.add_argument("--seed", type=_seed, default=1234)
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sim)
    from .cli_ptq import add_parser as add_ptq
    from .cli_sweep import add_parser as add_sweep

    add_ptq(sub)
    add_sweep(sub)
    from .cli_report import add_parser as add_report

    add_report(sub)
    p = sub.add_parser("bench", help="Numba vs ml_dtypes / torch / memcpy, in one run; on a "
                       "CUDA GPU, Triton vs torch, cuBLAS int8 and cuSPARSELt")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--gpu-only", action="store_true", help="only the GPU rows")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb == "gen" and args.stages is not None and args.target_mhz is not None:
        print("sqhw gen: error: --stages and --target-mhz: give one (--target-mhz places the "
              "registers itself)", file=sys.stderr)
        return 2
    if getattr(args, "stages", 0) is None and args.verb == "gen" and args.target_mhz is None:
        args.stages = 1 if args.design in ("mac", "chain") else 0
    try:
        return args.func(args)
    except CommandError as err:
        print(f"sqhw {args.verb}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"sqhw {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug or a tool failure: one line, the traceback in a log
        return _internal_error(args.verb, err)


def _internal_error(verb: str, err: Exception) -> int:
    import os
    import tempfile
    import time
    import traceback

    from . import __version__

    text = "".join(traceback.format_exception(err))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{verb}-{stamp}-{os.getpid()}.log"
    try:
        from .paths import cache_dir

        log = cache_dir("logs") / name
        log.write_text(f"sqhw {__version__} {' '.join(sys.argv)}\n{text}")
    except Exception:  # no cache folder (or no platformdirs): the temp folder will do
        log = Path(tempfile.gettempdir()) / f"sqhw-{name}"
        log.write_text(text)
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"sqhw {verb}: internal error: {type(err).__name__}: {message[:300]} (traceback in "
          f"{log})", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
