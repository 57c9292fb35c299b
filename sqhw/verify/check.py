"""`sqhw verify DIR`: a generated design against sqhw.ref, from its manifest alone.

The manifest's kind picks the testbench: a cocotb module in sim/ (tb_mul, tb_cvt,
tb_dsp_chain), whose `given` test drives the vectors, or for MACs and block dots the
stream program (sqhw.verify.stream_program: a C++ main streams the terms from a file at
Verilator's speed). sqhw.verify.vectors makes the inputs and the expected outputs (every
input where the input space allows it), a traced Verilator build of the design returns what
came out, and the comparison happens here. On a mismatch the failing vectors go to
DIR/verify/failures.json and a replay of the vectors around the first failure is traced into
a waveform (FST; VCD where Verilator's FST writer cannot be built).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import numpy as np

from ..manifest import read_manifest
from ..paths import cache_dir, write_text
from . import replay as R
from . import vectors as V

# vectors per cycle: a harness of this many copies of the design (one Verilator build each);
# for mac / block the dot products come in groups of this many (vector sets and exports stay
# as they were), and the stream program runs them all on one lane, in order
LANES = {"mul": 64, "cvt": 64, "mac": 16, "block": 8, "chain": 1}
MAX_LISTED = 1000  # failing vectors written out in full
WINDOW = 8         # vectors before the first failure that its replay (and waveform) includes
REPORT_DIR = "verify"
WAVE_SCOPE = "every lane of sqhw_lanes runs the replayed vectors; see d0_lane[0].dut"


def plan(design_dir, seed: int, count: int | None = None, exhaustive: bool | None = None,
         replay=None) -> tuple[dict, list[V.Vectors]]:
    """(manifest, vector sets) of a verify request; refuses what cannot be done (VectorError,
    FileNotFoundError, ValueError) before anything is built."""
    manifest = read_manifest(design_dir)
    k = V.kind(manifest)
    if replay is not None:
        return manifest, [R.from_records(manifest, _replay_rows(replay), str(replay))]
    if k == "chain":
        return manifest, [V.generate(manifest, seed + i, count, exhaustive, nm=nm)
                          for i, nm in enumerate(V.chain_patterns(manifest))]
    return manifest, [V.generate(manifest, seed, count, exhaustive, group=LANES[k])]


def _replay_rows(path) -> list:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"--replay {path}: no such file") from None
    except (OSError, json.JSONDecodeError) as err:
        raise V.VectorError(f"--replay {path}: not a JSON failures file ({err})") from None
    return data.get("replay") if isinstance(data, dict) else data


def verify(design_dir, seed: int, count: int | None = None, exhaustive: bool | None = None,
           wave: Path | None = None, replay=None, planned=None) -> dict:
    """Run the check; returns the report (see `sqhw verify --json`). `planned`: what `plan`
    returned for the same arguments (it is not made twice)."""
    from .runner import wave_format

    started = time.perf_counter()
    design_dir = Path(design_dir)
    manifest, sets = planned or plan(design_dir, seed, count, exhaustive, replay)
    k = V.kind(manifest)
    testbench = V.TESTBENCH[k]
    trace = wave_format(wave)  # one traced build serves the run and a failure's replay
    if replay is not None and wave is None:  # a replay is for its waveform
        wave = _report_dir(design_dir, manifest["top"]) / f"replay.{trace}"
    checked = mismatched = 0
    failing = None  # (vector set, its outputs, mismatch mask) of the first failing set
    for i, vs in enumerate(sets):
        got = _simulate(k, design_dir, vs, seed, trace, wave if i == 0 else None)
        bad = R.mismatches(vs, got)
        checked += vs.size
        mismatched += int(bad.sum())
        if bad.any() and failing is None:
            failing = (vs, got, bad)
    report = {"design": str(design_dir), "top": manifest["top"], "kind": k,
              "formats": V.describe(manifest), "testbench": testbench, "seed": seed,
              "mode": sets[0].mode, "notes": sets[0].notes, "unit": V.UNIT[k],
              "vectors": int(sum(vs.count for vs in sets)), "checked": checked,
              "mismatches": mismatched, "patterns": [vs.nm for vs in sets if vs.nm],
              "failures": None, "wave": str(wave) if wave else None, "replay": None}
    if failing is not None and replay is not None:
        vs, got, bad = failing
        first = R.records(vs, [int(np.flatnonzero(bad)[0])], got)[0]
        again = (f"sqhw verify {shlex.quote(str(design_dir))} --replay "
                 f"{shlex.quote(str(replay))} --wave {shlex.quote(str(wave))} --force")
        report.update(failures=str(replay), replay=again, rerun=again, reproduced=True,
                      first_failure=first, wave_scope=WAVE_SCOPE)
    elif failing is not None:
        report.update(_report_failure(manifest, design_dir, seed, count, exhaustive, wave,
                                      trace, *failing))
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _simulate(k, design_dir, vs, seed, trace, wave) -> dict:
    """Drive one vector set through the design's traced build; what came out."""
    if k in ("mac", "block"):
        from .stream_run import simulate

        return simulate(design_dir, vs, seed, trace, wave)
    from .bench import read_got
    from .runner import run

    folder = cache_dir("runs")
    tag = f"{time.time_ns()}-{id(vs)}"
    vectors_file, got_file = folder / f"{tag}.npz", folder / f"{tag}-got.npz"
    try:
        V.save(vs, vectors_file, expected_too=False)
        run(V.TESTBENCH[k], [design_dir], LANES[k], test_filter="given", trace=trace,
            wave=wave, env={"SQHW_VECTORS": str(vectors_file), "SQHW_GOT": str(got_file),
                            "SQHW_SEED": str(seed)})
        return read_got(got_file)
    finally:
        vectors_file.unlink(missing_ok=True)
        got_file.unlink(missing_ok=True)


def _report_dir(design_dir: Path, top: str) -> Path:
    """DIR/verify/, or a folder in the cache when DIR cannot be written (an installed
    deliverable): where the failures file and the default waveform go."""
    target = design_dir / REPORT_DIR
    try:
        target.mkdir(exist_ok=True)
        probe = target / ".probe"
        probe.write_text("")
        probe.unlink()
        return target
    except OSError:
        import hashlib

        key = hashlib.sha256(str(design_dir.resolve()).encode()).hexdigest()[:12]
        return cache_dir("verify", f"{top}-{key}")


def _report_failure(manifest, design_dir, seed, count, exhaustive, wave, trace, vs, got,
                    bad) -> dict:
    """failures.json, the waveform of a replay around the first failure, the commands."""
    folder = _report_dir(design_dir, manifest["top"])
    where = np.flatnonzero(bad)
    first = int(where[0])
    if vs.kind == "chain":  # the failing outputs' rows and columns, first failure first
        window = where[:16]
    else:  # the vectors just before the first failure (a pipeline's history) and after
        window = np.arange(max(0, first - WINDOW), min(vs.size, first + WINDOW))
    replay_rows = R.records(vs, window)
    failures_file = folder / "failures.json"
    wave = Path(wave) if wave else folder / f"first_failure.{trace}"
    write_text(failures_file, _json_lines({
        "design": str(design_dir), "top": manifest["top"], "kind": vs.kind, "seed": seed,
        "mode": vs.mode, "pattern": vs.nm, "vectors": vs.size,
        "mismatches": int(bad.sum()), "listed": min(int(bad.sum()), MAX_LISTED),
        "first_failure": R.records(vs, [first], got)[0],
        "replay": replay_rows,
        "failures": R.records(vs, where[:MAX_LISTED], got)}))
    replayed = R.from_records(manifest, replay_rows, str(failures_file))
    again = _simulate(vs.kind, design_dir, replayed, seed, trace, wave)
    reproduced = bool(R.mismatches(replayed, again).any())
    dir_arg = shlex.quote(str(design_dir))
    rerun = f"sqhw verify {dir_arg} --seed {seed}" + (
        f" --vectors {count}" if count else "") + (" --exhaustive" if exhaustive else "")
    replay_cmd = (f"sqhw verify {dir_arg} --replay {shlex.quote(str(failures_file))} "
                  f"--wave {shlex.quote(str(wave))} --force")
    return {"failures": str(failures_file), "wave": str(wave), "replay": replay_cmd,
            "rerun": rerun, "reproduced": reproduced,
            "first_failure": R.records(vs, [first], got)[0],
            "wave_scope": WAVE_SCOPE}


def _json_lines(report: dict) -> str:
    """JSON with one vector per line (a failures file stays readable at 1000 vectors)."""
    lines = []
    for key, value in report.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"  {json.dumps(v)}" for v in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def text(report: dict) -> str:
    """The report as a few lines for a terminal."""
    verdict = ("match" if not report["mismatches"] else
               f"checked, {report['mismatches']} MISMATCH")
    what = f"{report['top']} ({report['kind']}, {report['formats']})"
    lines = [f"{what}: {report['checked']} vectors ({report['vectors']} {report['unit']}) "
             f"{verdict}; {report['mode']}, seed {report['seed']}"]
    if report["patterns"]:
        lines.append(f"run-time patterns: {', '.join(report['patterns'])}")
    lines += [f"  {note}" for note in report["notes"]]
    if report["mismatches"]:
        first = report["first_failure"]
        lines += [f"first failure: inputs {_short(first['inputs'])}: got {first['got']}, "
                  f"want {first['want']}",
                  f"failing vectors: {report['failures']}",
                  f"waveform around the first failure: {report['wave']} "
                  f"({report['wave_scope']})"
                  + ("" if report["reproduced"] else " - the replay did NOT fail again"),
                  f"replay: {report['replay']}",
                  f"rerun:  {report['rerun']}"]
    elif report["wave"]:
        lines.append(f"waveform: {report['wave']}")
    return "\n".join(lines)


def _short(inputs: dict) -> str:
    parts = []
    for name, value in inputs.items():
        if isinstance(value, list) and len(value) > 8:
            value = f"[{', '.join(map(str, value[:8]))}, ... {len(value)} codes]"
        parts.append(f"{name}={value}")
    return " ".join(parts)
