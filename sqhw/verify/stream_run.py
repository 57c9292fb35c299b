"""Build the MAC stream program (sqhw.verify.stream_program) around generated MAC / block-dot
designs, feed it vector sets (sqhw.verify.vectors) through files, and compare what it wrote
with their expected outputs (sqhw.ref) in numpy.

    >>> import numpy as np
    >>> from sqhw.verify.vectors import Vectors
    >>> vs = Vectors("mac", {"a": np.arange(5), "b": np.arange(5),
    ...                      "last": np.array([0, 1, 0, 0, 1])}, {})
    >>> [(terms.tolist(), dots.tolist()) for terms, dots in lane_split(vs, 2)]
    [([0, 1], [0]), ([2, 3, 4], [1])]
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..manifest import port_width, read_manifest
from . import stream_program as S
from .harness import HARNESS_TOP, harness_verilog
from .mac_vectors import dots, ranges
from .program import build as build_program
from .replay import mismatches, records
from .runner import TRACE_ARGS
from .streams import field_values, mac_term_values, payload_words, words
from .sweep_run import cpu_seconds

MAX_EXAMPLES = 10


def build(design_dirs, lanes: int, trace: str | None = None, cache: Path | None = None
          ) -> tuple[Path, list[dict]]:
    """Verilate the designs in the lanes harness with the stream program's C++ main; returns
    (the program, manifests). `trace` ('fst' / 'vcd') compiles a waveform writer in."""
    design_dirs = [design_dirs] if isinstance(design_dirs, (str, Path)) else design_dirs
    manifests = [read_manifest(d) for d in design_dirs]
    main = S.main_cpp(manifests, lanes, trace)  # refuses designs that are not MACs
    sources = [Path(d) / s for d, m in zip(design_dirs, manifests) for s in m["sources"]]
    names = manifests[0]["top"] + (f" and {len(manifests) - 1} more" if len(manifests) > 1
                                   else "")
    extra = TRACE_ARGS[trace] if trace else []
    program = build_program(sources, harness_verilog(manifests, lanes), main,
                            HARNESS_TOP, S.PROGRAM, f"{manifests[0]['top']}-stream",
                            f"MAC stream program for {names}", extra, cache)
    return program, manifests


def lane_split(vs, lanes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(term indices, dot indices) per lane: dot d runs on lane d % lanes, its terms in
    order. Lanes need not take equal numbers of terms (each has its own handshake)."""
    starts, lengths = dots(vs)
    every = np.arange(starts.size)
    return [(ranges(starts[d], lengths[d]), d) for d in (every[j::lanes] for j in range(lanes))]


def write_terms(prefix: str, k: int, manifest: dict, vs, lanes: int) -> list[np.ndarray]:
    """Write design k's term files (one per lane); returns each lane's dot indices."""
    payload = manifest["inputs"]["terms"]["payload"]
    width = port_width(manifest, "terms__payload")
    _, lengths = dots(vs)
    lane_dots = []
    for j, (terms, d) in enumerate(lane_split(vs, lanes)):
        inputs = {n: vs.inputs[n][terms] for n in ("a", "b", "last")}
        inputs.update({n: vs.inputs[n][d] for n in ("sa", "sb") if n in vs.inputs})
        term_words = payload_words(payload, mac_term_values(inputs, lengths[d]), width)
        term_words.tofile(f"{prefix}{k}_{j}.terms")
        lane_dots.append(d)
    return lane_dots


def read_results(prefix: str, k: int, manifest: dict, lane_dots: list[np.ndarray],
                 size: int) -> dict[str, np.ndarray]:
    """Design k's outputs per dot product, in the vector set's order (`size` dots)."""
    width = port_width(manifest, "result__payload")
    fields = manifest["outputs"]["result"]["payload"]
    got = {}
    for j, d in enumerate(lane_dots):
        path = Path(f"{prefix}{k}_{j}.results")
        raw = np.fromfile(path, dtype="<u4")
        if raw.size != d.size * words(width):
            raise RuntimeError(f"{manifest['top']} lane {j}: {raw.size // words(width)} "
                               f"results for {d.size} dot products")
        raw = raw.reshape(d.size, words(width))
        for name, f in fields.items():
            values = field_values(raw, f["offset"], f["width"], bool(f.get("signed")))
            if name not in got:
                got[name] = np.zeros(size, dtype=values.dtype)
            elif values.dtype == object and got[name].dtype != object:
                got[name] = got[name].astype(object)
            got[name][d] = values
    return got


def run(program: Path, manifests: list[dict], sets: list, lanes: int, seed: int = 1234,
        p_valid: float = 1.0, p_ready: float = 1.0, wave: Path | None = None) -> dict:
    """Stream vector set k through design k (on `lanes` lanes each), valid and ready high
    for the given fractions of the cycles (at random); compare every result with the set's
    expected outputs. Returns {terms, dot_products, mismatches, examples, cycles, extra,
    designs: {top: {terms, dot_products, mismatches, cycles, ideal_cycles, extra}},
    got (per design, the outputs per dot), seconds, simulated_seconds, terms_per_second,
    cpu_seconds}. A design's `cycles` is when its last result came (cycles after reset),
    `ideal_cycles` its longest lane's terms plus its latency."""
    if len(sets) != len(manifests):
        raise ValueError(f"{len(sets)} vector sets for {len(manifests)} designs")
    levels = []
    for name, p in (("p_valid", p_valid), ("p_ready", p_ready)):
        if not 0 < p <= 1:
            raise ValueError(f"{name}: expected a fraction in (0, 1], got {p!r}")
        levels.append(max(1, round(p * S.ALWAYS)))
    start, cpu = time.perf_counter(), cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="sqhw-stream-") as tmp:
        prefix = f"{tmp}/s"
        lane_dots = [write_terms(prefix, k, m, vs, lanes)
                     for k, (m, vs) in enumerate(zip(manifests, sets))]
        sim_start = time.perf_counter()
        args = [str(program), f"+sqhw_out={prefix}", f"+sqhw_seed={seed}",
                f"+sqhw_valid={levels[0]}", f"+sqhw_ready={levels[1]}"]
        if wave is not None:
            args.append(f"+sqhw_wave={Path(wave).resolve()}")
        longest = max(vs.count for vs in sets)
        done = subprocess.run(args, capture_output=True, text=True,
                              timeout=600 + 4 * longest // 100_000)
        simulated = time.perf_counter() - sim_start
        summary_file = Path(f"{prefix}summary.json")
        if done.returncode not in (0, 3) or not summary_file.exists():
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"{program}: exit {done.returncode}: {' / '.join(tail)}")
        summary = json.loads(summary_file.read_text())
        streams = summary["streams"]
        if done.returncode == 3:  # a hang: say which streams stopped where
            stuck = [f"{manifests[i // lanes]['top']} lane {i % lanes}: {s['taken']} of "
                     f"{s['terms']} terms taken, {s['got']} of {s['results']} results"
                     for i, s in enumerate(streams) if s["taken"] < s["terms"] or
                     s["got"] < s["results"]]
            raise RuntimeError(f"the stream program stopped after {summary['cycles']} cycles "
                               f"(its limit) with streams unfinished: {'; '.join(stuck[:4])}")
        result = {"terms": 0, "dot_products": 0, "mismatches": 0, "examples": [],
                  "cycles": summary["cycles"], "extra": 0, "designs": {}, "got": []}
        for k, (m, vs) in enumerate(zip(manifests, sets)):
            got = read_results(prefix, k, m, lane_dots[k], vs.size)
            bad = mismatches(vs, got)
            mine = streams[k * lanes:(k + 1) * lanes]
            row = {"terms": int(vs.count), "dot_products": int(vs.size),
                   "mismatches": int(bad.sum()),
                   "cycles": max(s["last_result_cycle"] for s in mine) + 1,
                   "ideal_cycles": max(s["terms"] for s in mine) + m["latency"],
                   "extra": sum(s["extra"] for s in mine)}
            result["designs"][m["top"]] = row
            room = MAX_EXAMPLES - len(result["examples"])
            if bad.any() and room > 0:
                result["examples"] += [{"design": m["top"], **r}
                                       for r in records(vs, np.flatnonzero(bad)[:room], got)]
            for key in ("terms", "dot_products", "mismatches", "extra"):
                result[key] += row[key]
            result["got"].append(got)
    elapsed = time.perf_counter() - start
    result.update(seconds=round(elapsed, 3), simulated_seconds=round(simulated, 3),
                  terms_per_second=round(result["terms"] / elapsed),
                  cpu_seconds=round(cpu_seconds() - cpu, 3))
    return result


def simulate(design_dir, vs, seed: int, trace: str | None = None, wave: Path | None = None
             ) -> dict[str, np.ndarray]:
    """One design's outputs for one vector set, on one lane (what `sqhw verify` compares);
    `trace`: run the traced build (a run with `wave` writes the waveform)."""
    program, manifests = build([design_dir], 1, trace)
    result = run(program, manifests, [vs], 1, seed, wave=wave)
    if result["extra"]:
        raise RuntimeError(f"{manifests[0]['top']}: {result['extra']} results past the "
                           f"{vs.size} dot products it was given")
    return result["got"][0]
