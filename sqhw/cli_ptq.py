"""`sqhw ptq`: the post-training-quantization study on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_FORMATS = "int8,int4,float8_e4m3fn,float6_e2m3fn,float4_e2m1fn,mxfp4,nvfp4"


def add_parser(sub) -> None:
    p = sub.add_parser("ptq", help="PTQ study: accuracy per format, dense and N:M, beside "
                       "ONNX Runtime, Brevitas and torchao")
    p.add_argument("--model", default="digits",
                   help="digits, mnist1d, efficientnet_lite0, minilm, or FILE.onnx")
    p.add_argument("--formats", default=DEFAULT_FORMATS, help="comma-separated format names")
    p.add_argument("--sparsity", help="an N:M pattern (e.g. 2:4): adds N:M rows to the dense ones")
    p.add_argument("--weights-only", action="store_true", help="activations stay FP32")
    p.add_argument("--algo", default="", help="comma-separated: gptq, smoothquant, "
                   "bias-correction, srste (SR-STE fine-tune of the N:M rows; models with "
                   "training data) (default: none, plain rounding)")
    p.add_argument("--peers", default="", help="comma-separated peers on the same model and "
                   "data: onnxruntime, brevitas, torchao (torchao: nn.Linear layers only)")
    p.add_argument("--engine", choices=["exact", "emulate"], default="exact",
                   help="exact: integer products and sums as sqhw.ref (default); emulate: "
                   "float32 fake quantization")
    p.add_argument("--calibration", choices=["minmax", "percentile", "mse"], default="minmax",
                   help="activation ranges of element formats: min-max, a percentile of |x| "
                   "(each calibration batch's, averaged: Brevitas's rule), or the MSE-optimal "
                   "clipping (block formats scale per block)")
    p.add_argument("--percentile", type=float, metavar="Q",
                   help="the percentile of --calibration percentile, in (50, 100] (default "
                   "99.999, Brevitas's PTQ default; 100 is the mean of the batches' maxima, "
                   "what Brevitas's minifloat activations use)")
    p.add_argument("--amax-code", choices=["max", "min"], default="max",
                   help="integer formats: the code a range maps to, max (int4: 7, default) or "
                   "min (its magnitude: int4 8, scale = range / 2^(b-1), Brevitas's signed "
                   "integers without narrow range); weights and activations (block formats keep "
                   "their own scales)")
    p.add_argument("--act-granularity", choices=["tensor", "token"], default="tensor",
                   help="activation scales of element formats: one per tensor, calibrated "
                   "(default), or one per token (input row of a Linear layer), taken from the "
                   "row at run time")
    p.add_argument("--no-cache", action="store_true", help="recompute every row")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-o", "--output", help="a folder for results.json and results.md")
    p.set_defaults(func=cmd_ptq)


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _check_output(path: str | None) -> Path | None:
    from .cli import CommandError

    if path is None:
        return None
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CommandError(f"-o: {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"-o: cannot create {out}: {err.strerror}") from None
    return out


def _validate(args):
    """Every argument checked before the (long) run."""
    from .cli import CommandError
    from .formats import parse
    from .ptq.config import ALGORITHMS
    from .ptq.peers import PEERS
    from .sparsity import NM

    formats = _names(args.formats)
    if not formats:
        raise CommandError("--formats: expected at least one format name")
    from .ptq.config import ACT_PERCENTILE

    if args.percentile is not None and args.calibration != "percentile":
        raise CommandError("--percentile: applies with --calibration percentile only")
    if args.percentile is None:
        args.percentile = ACT_PERCENTILE
    if not 50 < args.percentile <= 100:  # NaN fails too; checked here to name the option
        raise CommandError(f"--percentile: expected a number in (50, 100], got {args.percentile}")
    for name in formats:
        try:
            parse(name)
        except ValueError as err:
            raise CommandError(f"--formats: {err}") from None
    algorithms = tuple(_names(args.algo))
    for a in algorithms:
        if a not in ALGORITHMS:
            raise CommandError(f"--algo: unknown algorithm {a!r}; known: {', '.join(ALGORITHMS)}")
    if "srste" in algorithms and not args.sparsity:
        raise CommandError("--algo srste: fine-tunes N:M weights; give --sparsity N:M")
    if "smoothquant" in algorithms and args.weights_only:
        raise CommandError("--algo smoothquant: needs quantized activations (drop --weights-only)")
    peers = tuple(_names(args.peers))
    for p in peers:
        if p not in PEERS:
            raise CommandError(f"--peers: unknown peer {p!r}; known: {', '.join(PEERS)}")
    nm = None
    if args.sparsity:
        try:
            nm = NM.parse(args.sparsity)
        except ValueError as err:
            raise CommandError(f"--sparsity: {err}") from None
    model = args.model
    if model.endswith(".onnx"):
        if not Path(model).is_file():
            raise CommandError(f"--model: {model}: no such file")
    else:
        from .models import MODELS

        if model not in MODELS:
            raise CommandError(f"--model: unknown model {model!r}; built-in models: "
                               f"{', '.join(MODELS)} (or a path to a .onnx file)")
    return formats, algorithms, peers, nm


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def table(result: dict) -> str:
    from .cli import _table

    head = f"{result['model']}: {result['metric']}, FP32 = {_fmt(result['fp32'])}"
    rows = [[r["engine"], r["format"], r["sparsity"], r["algo"], _fmt(r.get("score")),
             "-" if r.get("score") is None else f"{(r['score'] - result['fp32']) * 100:+.2f}",
             "" if r.get("status", "ok") == "ok" else
             f"{r['status']}: {r.get('error', '')}"[:60]]
            for r in result["rows"]]
    return head + "\n\n" + _table(["engine", "format", "sparsity", "algo", "score",
                                   "vs FP32 (points)", "note"], rows, left=(0, 1, 2, 3, 6))


def cmd_ptq(args) -> int:
    from .cli import CommandError

    formats, algorithms, peers, nm = _validate(args)
    out = _check_output(args.output)
    try:
        from .paths import cache_dir
        from .ptq import study
    except ImportError as err:
        raise CommandError(f"the PTQ study needs sqhw's ptq extra: pip install 'sqhw[ptq]' "
                           f"({err})") from None

    def progress(total):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"ptq {args.model}", unit="row", file=sys.stderr,
                    disable=not sys.stderr.isatty())

    import contextlib

    try:
        # peers print progress of their own: with --json, stdout carries the JSON alone
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
                result = study.run(args.model, formats, nm, args.weights_only, algorithms, peers,
                               args.engine, None if args.no_cache else cache_dir("ptq"),
                               progress=progress, calibration=args.calibration,
                               act_granularity=args.act_granularity,
                               percentile=args.percentile, amax_code=args.amax_code)
    except (ValueError, RuntimeError) as err:
        raise CommandError(str(err)) from None
    text = table(result)
    if out is not None:
        from .paths import write_text

        write_text(out / "results.json", json.dumps(result, indent=1))
        write_text(out / "results.md", text + "\n")
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(text)
        if out is not None:
            print(f"\nwrote {out / 'results.json'} and {out / 'results.md'}")
    return 0
