"""`sqhw gen chain`, `sqhw verify`, `sqhw vectors` and the CLI's contract: one-line refusals
(exit 2) before anything is built or written, exit 1 on a mismatch, exit 3 with a log on an
internal error, output folders replaced only with --force.

The Verilator runs (marked rtl) reuse a few small designs, one build each, cached in the
user cache folder; every test counts what it checked."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sqhw.cli import main
from sqhw.verify import vectors as V


def _gen(out: Path, *args: str) -> Path:
    assert main(["gen", *args, "-o", str(out)]) == 0, args
    return out


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    """One small design of every kind (generated only; the rtl tests build them)."""
    root = tmp_path_factory.mktemp("designs")
    return {
        "mul": _gen(root / "mul", "mul", "--a", "int8", "--b", "int8"),
        "cvt": _gen(root / "cvt", "cvt", "--from", "fixed<s,8,8>", "--to", "float8_e4m3fn"),
        "mac": _gen(root / "mac", "mac", "--a", "int8", "--b", "int8", "--out", "int8",
                    "--length", "16"),
        "block": _gen(root / "block", "mac", "--a", "mxfp4", "--b", "mxfp4", "--out",
                      "float8_e4m3fn"),
        "chain": _gen(root / "chain", "chain", "--nm", "2:4", "--lanes", "2", "--chain", "4",
                      "--k", "64"),
        "int16": _gen(root / "int16", "mul", "--a", "int16", "--b", "int16"),
    }


def _refused(capsys, argv, message) -> None:
    """exit 2, one line on stderr that names the problem, no traceback."""
    with _no_system_exit() as code:
        code.value = main(argv)
    err = capsys.readouterr().err
    assert code.value == 2, (argv, err)
    assert message in err, (argv, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


class _no_system_exit:
    """argparse refusals exit through SystemExit(2); the rest return 2."""

    def __enter__(self):
        self.value = None
        return self

    def __exit__(self, kind, err, tb):
        if kind is SystemExit:
            self.value = err.code
            return True
        return False


GEN_REFUSALS = [
    (["mul", "--a", "int8", "--b", "int8", "--stages", "100000"],
     "argument --stages: expected 0 to 64"),
    (["mul", "--a", "int8", "--b", "int8", "--width", "100000"],
     "--width: the exact product of int8 x int8 needs 16 bits; expected 16 to 80"),
    (["mul", "--a", "int8", "--b", "int8", "--width", "12"], "expected 16 to 80"),
    (["cvt", "--from", "int16", "--to", "int8", "--dyadic-shift", "100000"],
     "--dyadic-shift: expected 1 to 32 for int16 inputs and 16-bit m"),
    (["cvt", "--from", "int16", "--to", "int8", "--dyadic-shift", "8", "--multiplier-bits",
      "0"], "--multiplier-bits: expected 1 to 64"),
    (["cvt", "--from", "fixed<s,8,8>", "--to", "int8", "--rounding", "stochastic",
      "--random-bits", "100000"], "--random-bits: expected 1 to 64"),
    (["mac", "--a", "mxfp8_e4m3", "--b", "mxfp8_e4m3", "--out", "float8_e4m3fn", "--length",
      "64"], "--length: mxfp8_e4m3 block dots have a fixed length of 32 (its block size)"),
    (["mac", "--a", "nvfp4", "--b", "nvfp4", "--out", "float8_e4m3fn", "--length", "32"],
     "nvfp4 block dots have a fixed length of 16"),
    (["mac", "--a", "int8", "--b", "int8", "--out", "int8", "--length", "0"],
     "--length: expected 1 to 2**24"),
    (["chain", "--lanes", "100000"], "--lanes: expected 1 to 64"),
    (["chain", "--chain", "6"], "--chain: expected a power of two from 1 to 64"),
    (["chain", "--chain", "128"], "--chain: expected a power of two from 1 to 64"),
    (["chain", "--k", "100000"], "--k: expected a reduction length of 1 to 65536"),
    (["chain", "--nm", "3:4"], "--nm: the chain runs power-of-two N and M"),
    (["chain", "--nm", "8:8", "--chain", "4"], "a chain of 4 stages runs n up to 4"),
    (["chain", "--stages", "100000"], "argument --stages: expected 0 to 64"),
    (["chain", "--weight", "float9"], "unknown format name 'float9'"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "a/b"], "--top: expected a Verilog "
     "identifier"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "../up"], "--top: expected a Verilog"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "has space"], "--top: expected a Verilog"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "1st"], "--top: expected a Verilog"),
    (["mul", "--a", "int8", "--b", "int8", "--top", ""], "--top: expected a Verilog"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "module"],
     "--top: 'module' is a reserved word of Verilog / SystemVerilog"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "logic"], "is a reserved word"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "sqhw_lanes"], "names sqhw's own"),
    (["mul", "--a", "int8", "--b", "int8", "--top", "x" * 65], "--top: at most 64 characters"),
]


@pytest.mark.parametrize("args,message", GEN_REFUSALS, ids=[" ".join(a)[:40] for a, _ in
                                                             GEN_REFUSALS])
def test_gen_refuses_before_writing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    _refused(capsys, ["gen", *args, "-o", str(out)], message)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_output_folder_rules(tmp_path, capsys):
    """-o: empty, a file, under a file; an existing design is replaced only with --force,
    which removes that design's files (not the user's) and verify's reports."""
    mul = ["gen", "mul", "--a", "int8", "--b", "int8"]
    _refused(capsys, [*mul, "-o", ""], "-o: expected a folder name, got an empty string")
    (tmp_path / "file").write_text("mine")
    _refused(capsys, [*mul, "-o", str(tmp_path / "file")], "exists and is not a folder")
    _refused(capsys, [*mul, "-o", str(tmp_path / "file" / "sub")], "cannot be created")
    out = tmp_path / "design"
    assert main([*mul, "-o", str(out)]) == 0
    first = (out / "sqhw_mul.v").read_bytes()
    _refused(capsys, [*mul, "--stages", "1", "-o", str(out)],
             "exists and is not empty (manifest.json, sqhw_mul.v); use --force")
    assert (out / "sqhw_mul.v").read_bytes() == first
    (out / "notes.txt").write_text("the user's")
    (out / "verify").mkdir()
    (out / "verify" / "failures.json").write_text("[]")
    assert main([*mul, "--top", "renamed", "--force", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.txt", "renamed.v"]
    assert json.loads((out / "manifest.json").read_text())["top"] == "renamed"
    capsys.readouterr()


def test_gen_chain_writes_verilog_and_manifest(tmp_path, capsys):
    out = tmp_path / "chain"
    assert main(["gen", "chain", "--nm", "2:8", "--weight", "float8_e4m3fn", "--act", "int8",
                 "--out", "float8_e4m3fn", "--lanes", "2", "--chain", "4", "--k", "300",
                 "--top", "my_chain", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    p = manifest["parameters"]
    assert (manifest["top"], manifest["kind"], manifest["sources"]) == (
        "my_chain", "dsp_chain", ["my_chain.v"])
    assert (p["w"], p["x"], p["out"], p["m"], p["chain"], p["lanes"], p["max_k"], p["nm"]) == (
        "float8_e4m3fn", "int8", "float8_e4m3fn", 8, 4, 2, 300, "2:8")
    assert p["runtime_patterns"] == ["1:8", "2:8", "4:8"]
    # multiplier stage, cascade, acc, requantizer, then the result queue's register, write
    # and read
    assert manifest["latency"] == 1 + 4 + 1 + 1 + 3
    assert (manifest["clock"], manifest["reset"], manifest["reset_active"],
            manifest["reset_synchronous"]) == ("clk", "rst", "high", True)
    text = (out / "my_chain.v").read_text()
    assert "module my_chain(" in text and "posedge rst" not in text
    # the same request writes the same bytes
    again = tmp_path / "again"
    assert main(["gen", "chain", "--nm", "2:8", "--weight", "float8_e4m3fn", "--act", "int8",
                 "--out", "float8_e4m3fn", "--lanes", "2", "--chain", "4", "--k", "300",
                 "--top", "my_chain", "-o", str(again)]) == 0
    assert (again / "my_chain.v").read_text() == text


def test_verify_and_vectors_refusals(designs, tmp_path, capsys):
    """Refused before any build: what cannot be checked, exported or written."""
    mul, chain, int16 = (str(designs[k]) for k in ("mul", "chain", "int16"))
    (tmp_path / "exists.fst").write_text("")
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = [
        (["verify", str(tmp_path / "none")], "no such folder"),
        (["verify", ""], "DIR: expected the folder of a generated design"),
        (["verify", str(tmp_path)], "manifest.json: no manifest"),
        (["verify", chain, "--exhaustive"], "--exhaustive: a chain's inputs are matrices"),
        (["verify", int16, "--exhaustive"], "--exhaustive: sqhw_mul has 2**32 input pairs; "
                                            "at most 2**24 run exhaustively"),
        (["verify", mul, "--vectors", "100000000"],
         "--vectors: expected 1 to 16777216 input pairs for a mul design"),
        (["verify", mul, "--vectors", "0"], "argument --vectors: expected 1 to 2**62"),
        (["verify", mul, "--seed", "-1"], "argument --seed: expected 0 to 2**63 - 1"),
        (["verify", mul, "--exhaustive", "--vectors", "5"], "not allowed with argument"),
        (["verify", mul, "--wave", str(tmp_path / "w.txt")], "expected a .fst file name"),
        (["verify", mul, "--wave", str(tmp_path / "exists.fst")], "exists; use --force"),
        (["verify", mul, "--wave", str(tmp_path / "no" / "w.vcd")], "is not a writable folder"),
        (["verify", mul, "--replay", str(tmp_path / "none.json")], "no such file"),
        (["verify", mul, "--replay", str(tmp_path / "exists.fst")], "not a JSON failures file"),
        (["vectors", mul, "-o", ""], "-o: expected a file name"),
        (["vectors", chain, "-o", str(tmp_path / "v"), "--nm", "3:4"], "--nm:"),
        (["vectors", chain, "-o", str(tmp_path / "v"), "--nm", "8:8"],
         "--nm: sqhw_chain runs 1:4, 2:4, 4:4"),
        (["vectors", mul, "-o", str(tmp_path)], "is a folder, expected a file name"),
        (["sim", "dsp-chain", "--acts", ""], "--acts: expected a .npy file, got an empty"),
        (["sim", "dsp-chain", "--weights", ""], "--weights: expected a .npy file"),
        (["sim", "dsp-chain", "--seed", "-1"], "argument --seed: expected 0 to 2**63 - 1"),
        (["sim", "dsp-chain", "--stages", "100000"], "argument --stages: expected 0 to 64"),
        (["sim", "dsp-chain", "--lanes", "100000"], "--lanes: expected 1 to 64"),
        (["sim", "dsp-chain", "--k", "100000"], "--k: expected a reduction length"),
        (["sim", "dsp-chain", "--vectors", "1000000"], "--vectors: expected 1 to 65536"),
        (["sim", "dsp-chain", "--cols", "0"], "--cols: expected 1 to 65536"),
        (["synth", mul, "--seed", "-3"], "argument --seed: expected 0 to 2**63 - 1"),
    ]
    # hand-edited manifests: a top or sources that would reach outside the folder
    for key, value, message in [("top", "../../x", "top: expected a Verilog identifier"),
                                ("sources", ["../sqhw_mul.v"], "sources: expected a list of file"),
                                ("kind", "fft", "kind: sqhw verifies mul, cvt, mac and")]:
        folder = tmp_path / f"edited_{key}"
        shutil.copytree(designs["mul"], folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest[key] = value
        (folder / "manifest.json").write_text(json.dumps(manifest))
        cases.append((["verify", str(folder)], message))
    (tmp_path / "v.npz").write_text("")
    cases.append((["vectors", mul, "-o", str(tmp_path / "v.npz")], "exists; use --force"))
    for argv, message in cases:
        _refused(capsys, argv, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["exists.fst", "bad", "v.npz"] + [f"edited_{k}" for k in ("top", "sources", "kind")])
    assert len(cases) == 31


def test_fst_needs_lz4(monkeypatch, designs, tmp_path, capsys):
    """Where Verilator's FST writer cannot be built, an .fst --wave is refused with the
    reason (a .vcd name works)."""
    from sqhw.verify import runner

    monkeypatch.setattr(runner, "fst_available", lambda: False)
    _refused(capsys, ["verify", str(designs["mul"]), "--wave", str(tmp_path / "w.fst")],
             "FST writer needs lz4.h and zlib.h (Debian: apt install liblz4-dev zlib1g-dev)")
    assert runner.wave_format() == "vcd" and runner.wave_format(tmp_path / "w.fst") == "fst"


def test_internal_error_is_one_line_with_a_log(monkeypatch, tmp_path, capsys):
    """A bug prints one line and the path of a log holding the traceback: exit 3."""
    import sqhw.formats

    monkeypatch.setenv("SQHW_CACHE_DIR", str(tmp_path))

    def broken():
        raise ZeroDivisionError("something\nbroke")

    monkeypatch.setattr(sqhw.formats, "presets", broken)
    assert main(["formats"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("sqhw formats: internal error: ZeroDivisionError: something broke "
                          "(traceback in ")
    log = Path(err.strip().rsplit("traceback in ", 1)[1].rstrip(")"))
    assert log.parent == tmp_path / "logs"
    assert "Traceback" in log.read_text() and "def broken" not in err


def test_first_verilator_build_says_so(monkeypatch, tmp_path, designs, capsys):
    """The line before the first build of a design, and not before a cached one (a fake
    runner stands in for Verilator: the message is what is tested)."""
    import cocotb_tools.runner

    from sqhw.verify import runner
    from sqhw.verify.harness import HARNESS_TOP

    builds = []

    class Fake:
        def build(self, build_dir, **kwargs):
            builds.append(kwargs["build_args"])
            (Path(build_dir) / HARNESS_TOP).write_text("")

    monkeypatch.setattr(cocotb_tools.runner, "get_runner", lambda name: Fake())
    monkeypatch.setenv("SQHW_CACHE_DIR", str(tmp_path))
    build_dir, _ = runner.build(designs["mul"], 4)
    assert build_dir.parent == tmp_path / "verilator"
    assert capsys.readouterr().err == (f"sqhw: building Verilator model for sqhw_mul (first "
                                       f"time ~3-5 min; cached in {build_dir})\n")
    runner.build(designs["mul"], 4)
    assert capsys.readouterr().err == ""
    traced, _ = runner.build(designs["mul"], 4, trace="vcd")  # another build, said again
    assert traced != build_dir and "building Verilator model" in capsys.readouterr().err
    assert len(builds) == 3 and "--trace-structs" in builds[2]


def test_first_yowasp_run_says_so(monkeypatch, tmp_path, capsys):
    import subprocess

    from sqhw.hw import open_flow, synth

    monkeypatch.setattr(open_flow, "_yowasp_compiled", lambda module, wasm: False)
    monkeypatch.setattr(open_flow, "_compiled", set())
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0,
                                                                                       "", ""))
    synth.yosys("help", tmp_path)
    assert capsys.readouterr().err == ("sqhw: compiling yosys (YoWASP) for this machine (first "
                                       "time only, 1-5 min; cached in the user cache folder)\n")
    monkeypatch.setattr(open_flow, "_yowasp_compiled", lambda module, wasm: True)
    synth.yosys("help", tmp_path)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- vectors (no simulator)


def _hex_words(path: Path) -> list[int]:
    return [int(line, 16) for line in path.read_text().splitlines() if not line.startswith("//")]


def _field(words, offset, width, signed=False):
    values = np.array([(w >> offset) & ((1 << width) - 1) for w in words], dtype=object)
    if signed:
        values = np.where(values >= 1 << (width - 1), values - (1 << width), values)
    return values.astype(np.int64)


@pytest.mark.parametrize("kind", ["mul", "cvt", "mac", "block", "chain"])
def test_vectors_export_npz_and_hex(designs, tmp_path, capsys, kind):
    """The exported vectors are the ones `sqhw verify` checks with the same seed; the hex
    words decode back to the npz arrays, which equal sqhw.ref recomputed."""
    from sqhw.hdl.emit import read_manifest
    from sqhw.verify.check import LANES

    stem = tmp_path / "golden"
    assert main(["vectors", str(designs[kind]), "-o", f"{stem}.npz", "--seed", "5"]) == 0
    assert "wrote" in capsys.readouterr().out
    manifest = read_manifest(designs[kind])
    vs = V.load(f"{stem}.npz")
    same = V.generate(manifest, 5, group=LANES[V.kind(manifest)])
    for name in same.inputs:
        np.testing.assert_array_equal(vs.inputs[name], same.inputs[name], strict=True)
    for name in same.expected:
        np.testing.assert_array_equal(vs.expected[name], same.expected[name], strict=True)
    recomputed = V.expected(manifest, vs)
    for name, want in recomputed.items():
        np.testing.assert_array_equal(vs.expected[name], want, strict=True)
    ins, outs = _hex_words(Path(f"{stem}.in.hex")), _hex_words(Path(f"{stem}.out.hex"))
    header = Path(f"{stem}.in.hex").read_text().splitlines()[0]
    assert header.startswith(f"// sqhw vectors of {manifest['top']} ({kind}), seed 5")
    if kind in ("mul", "cvt"):
        assert len(ins) == len(outs) == vs.size
        at = 0
        for port in (p for p in manifest["ports"] if p["direction"] == "in"):
            np.testing.assert_array_equal(_field(ins, at, port["width"]), vs.inputs[port["name"]])
            at += port["width"]
        p_width = manifest["outputs"].get("p", manifest["outputs"].get("o"))["width"]
        first = "p" if kind == "mul" else "o"
        np.testing.assert_array_equal(_field(outs, 0, p_width, kind == "mul"),
                                      vs.expected[first].astype(np.int64))
        checked = vs.size
    elif kind in ("mac", "block"):
        payload = manifest["inputs"]["terms"]["payload"]
        assert len(ins) == vs.count and len(outs) == vs.size
        for name in ("a", "b", "last"):
            f = payload[name]
            np.testing.assert_array_equal(_field(ins, f["offset"], f["width"]), vs.inputs[name])
        result = manifest["outputs"]["result"]["payload"]
        np.testing.assert_array_equal(_field(outs, 0, result["code"]["width"]),
                                      vs.expected["code"])
        if kind == "mac":
            acc = result["acc"]
            np.testing.assert_array_equal(_field(outs, acc["offset"], acc["width"], True),
                                          vs.expected["acc"])
        checked = vs.size
    else:
        result = manifest["outputs"]["result"]["payload"]
        lanes = manifest["parameters"]["lanes"]
        assert len(outs) == vs.size // lanes
        code = np.concatenate([[_field([w], result["code"]["offset"] + lane * 8, 8)[0]
                                for lane in range(lanes)] for w in outs])
        np.testing.assert_array_equal(code, vs.expected["code"])
        checked = code.size
    # mac: dot products of 1..16 terms, 100000 terms or more
    assert checked == {"mul": 65536, "cvt": 65536, "block": 3120, "chain": 256}.get(
        kind, same.size) and (kind != "mac" or 100_000 / 16 <= checked <= 100_000)


def test_vector_sets_count_what_they_hold(designs):
    from sqhw.hdl.emit import read_manifest

    sizes = {}
    for kind in ("mul", "cvt", "mac", "block", "chain"):
        manifest = read_manifest(designs[kind])
        vs = V.generate(manifest, 1)
        sizes[kind] = (vs.mode, vs.size, vs.count)
        if kind in ("mac", "block"):  # every pair of finite element codes appears
            a, b = vs.inputs["a"], vs.inputs["b"]
            pairs = np.unique(a * 256 + b).size
            assert pairs == V.input_space(manifest)
    assert sizes["mul"] == ("exhaustive", 65536, 65536)
    assert sizes["cvt"] == ("exhaustive", 65536, 65536)
    assert sizes["chain"] == ("random", 256, 256)
    assert sizes["mac"][2] >= 100_000 and sizes["block"][2] >= 100_000 - 8 * 32
    small = V.generate(read_manifest(designs["int16"]), 1)
    assert (small.mode, small.size) == ("random", 100_000)  # 2**32 pairs: random by default


# ---------------------------------------------------------------- under Verilator


@pytest.mark.rtl
def test_verify_passes_and_reports_a_mismatch(designs, tmp_path, capsys):
    """int8 x int8: every pair matches. The same Verilog under a manifest that claims uint8
    inputs mismatches exactly where the two readings differ: failures.json, a waveform of
    the replay around the first failure, and a replay command that fails again."""
    assert main(["verify", str(designs["mul"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["mode"], report["checked"], report["mismatches"]) == (
        "mul", "exhaustive", 65536, 0)
    from sqhw.verify.runner import wave_format

    suffix = f".{wave_format()}"  # FST where Verilator's FST writer builds, else VCD
    whole = tmp_path / f"whole{suffix}"
    assert main(["verify", str(designs["mul"]), "--vectors", "1000", "--seed", "7", "--wave",
                 str(whole)]) == 0
    out = capsys.readouterr().out
    assert "1000 vectors (1000 input pairs) match; random, seed 7" in out
    assert f"waveform: {whole}" in out and whole.stat().st_size > 1000

    wrong = tmp_path / "wrong"
    shutil.copytree(designs["mul"], wrong)
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["inputs"]["a"]["format"] = "uint8"
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    hardware = (np.where(a >= 128, a - 256, a) * np.where(b >= 128, b - 256, b))
    claimed = a * np.where(b >= 128, b - 256, b)
    differ = int((hardware != claimed).sum())
    assert differ == 128 * 255  # a >= 128 and b != 0

    assert main(["verify", str(wrong), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["mismatches"] == differ and report["checked"] == 65536
    failures = json.loads(Path(report["failures"]).read_text())
    assert Path(report["failures"]) == wrong / "verify" / "failures.json"
    assert failures["mismatches"] == differ and failures["listed"] == 1000
    assert len(failures["failures"]) == 1000
    for row in failures["failures"]:
        ia, ib = row["inputs"]["a"], row["inputs"]["b"]
        assert ia >= 128 and ib != 0
        assert row["got"]["p"] == int(hardware[ia, ib]) and row["want"]["p"] == int(
            claimed[ia, ib])
    assert failures["first_failure"]["index"] in [r["index"] for r in failures["replay"]]
    wave = Path(report["wave"])
    assert wave.parent == wrong / "verify" and wave.stat().st_size > 1000
    assert report["reproduced"] and "--replay" in report["replay"]
    if wave.suffix == ".vcd":
        assert "d0_lane[0]" in wave.read_text(errors="replace")

    # the printed replay command runs and fails again, tracing into its own waveform
    _replay_fails_again(wrong, report, failures, tmp_path / f"replay{wave.suffix}", capsys)
    assert sorted(p.name for p in wrong.iterdir()) == ["manifest.json", "sqhw_mul.v", "verify"]


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("kind,checked,unit", [("cvt", 65536, "input codes"),
                                               ("mac", 11344, "terms"),
                                               ("block", 3120, "terms"),
                                               ("chain", 3 * 256, "outputs")])
def test_verify_every_kind(designs, capsys, kind, checked, unit):
    """One small design per testbench (tb_cvt, the C++ stream program for MACs and block
    dots, tb_dsp_chain for every run-time pattern of the chain), each one Verilator build."""
    assert main(["verify", str(designs[kind]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mismatches"] == 0 and report["checked"] == checked
    assert report["unit"] == unit and report["testbench"] == V.TESTBENCH[kind]
    if kind == "chain":
        assert report["patterns"] == ["1:4", "2:4", "4:4"]
    if kind in ("mac", "block"):
        assert report["mode"] == "every element-code pair in random dot products"
        assert report["vectors"] >= 100_000 - 8 * 32


@pytest.mark.rtl
def test_verify_mac_reports_a_mismatch_with_a_waveform(designs, tmp_path, capsys):
    """A MAC goes through the stream program: the int8 x int8 MAC under a manifest that
    claims uint8 `a` mismatches exactly in the dot products where the b terms beside a
    negative a do not sum to 0 (counted from the vectors alone); failures.json, the replay's
    waveform from the program's traced build, and a replay that fails again."""
    from sqhw.hdl.emit import read_manifest
    from sqhw.verify.check import LANES

    wrong = tmp_path / "wrong"
    shutil.copytree(designs["mac"], wrong)
    manifest = json.loads((wrong / "manifest.json").read_text())
    manifest["parameters"]["a"] = "uint8"
    manifest["inputs"]["terms"]["payload"]["a"]["format"] = "uint8"
    (wrong / "manifest.json").write_text(json.dumps(manifest))
    vs = V.generate(read_manifest(wrong), 1234, count=5000, group=LANES["mac"])
    starts, _ = V.dots(vs)
    b = np.where(vs.inputs["b"] >= 128, vs.inputs["b"] - 256, vs.inputs["b"])
    independent = int(np.count_nonzero(np.add.reduceat(np.where(vs.inputs["a"] >= 128, b, 0),
                                                       starts)))
    assert 0 < independent < vs.size

    assert main(["verify", str(wrong), "--vectors", "5000", "--seed", "1234", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["testbench"] == "stream_program" and report["checked"] == vs.size
    assert report["mismatches"] == independent and report["reproduced"]
    failures = json.loads(Path(report["failures"]).read_text())
    assert failures["mismatches"] == independent
    assert len(failures["failures"]) == min(independent, 1000)
    for row in failures["failures"]:
        assert row["got"]["acc"] != row["want"]["acc"]
        assert any(a >= 128 for a in row["inputs"]["a"])
    wave = Path(report["wave"])
    assert wave.parent == wrong / "verify" and wave.stat().st_size > 1000
    _replay_fails_again(wrong, report, failures, tmp_path / f"replay{wave.suffix}", capsys)


def test_sweep_expected_values_are_the_exact_products(tmp_path):
    """The values the sweep program compares bfloat16 x float8_e4m3fn's 280-bit p with, as
    (odd, shift), are the exact products of sqhw.ref's integers (Python ints, NaN / Inf
    operands 0 with special 1): the first 65536 pairs and the 65536 of the largest bfloat16
    exponents. At one bit narrower exactly the products needing all 280 bits are marked
    UNHELD; narrow values the port cannot hold become 2**width; listed mismatches read back
    signed."""
    from sqhw import ref
    from sqhw.formats import parse
    from sqhw.manifest import port_width, read_manifest
    from sqhw.verify import sweep, sweep_expected, sweep_run

    manifest = read_manifest(_gen(tmp_path / "bf16", "mul", "--a", "bfloat16", "--b",
                                  "float8_e4m3fn"))
    width = port_width(manifest, "p")
    assert (width, sweep.want_files(width)) == (280, [("want", np.dtype("<i4")),
                                                      ("shift", np.dtype("<i2"))])
    fa, fb = parse("bfloat16"), parse("float8_e4m3fn")
    ta, tb = ([int(t) for t in ref.integer_table(f)] for f in (fa, fb))
    checked = unheld = 0
    for start in (0, 0x7F00 << 8):
        files = sweep_expected._wide_chunk(manifest, start, start + (1 << 16))
        odd, shift = files[("p", "want")], files[("p", "shift")]
        special = files[("special", "want")]
        v = np.arange(start, start + (1 << 16))
        a, b = v >> 8, v & 255
        finite = np.isfinite(fa.table[a]) & np.isfinite(fb.table[b])
        want = [ta[x] * tb[y] if f else 0 for x, y, f in zip(a, b, finite)]
        got = [int(o) << int(s) for o, s in zip(odd, shift)]
        assert (shift >= 0).all() and got == want
        np.testing.assert_array_equal(special, (~finite).astype(np.uint8), strict=True)
        by_ref = V.expected(manifest, V.Vectors("mul", {"a": a, "b": b}, {}))["p"]
        assert [int(x) for x in by_ref] == want
        _, narrower, _ = sweep_expected.wide_products(manifest, a, b, width - 1)
        needs_all = np.array([not -(1 << (width - 2)) <= w < 1 << (width - 2) for w in want])
        np.testing.assert_array_equal(narrower == sweep.UNHELD, needs_all, strict=True)
        checked += len(want)
        unheld += int(needs_all.sum())
    assert checked == 1 << 17 and unheld > 0
    # 4 + 2 bytes of p and 1 of special per pair; /dev/shm only where they fit twice
    assert sweep_run.expected_bytes(manifest) == 7 << 24
    assert sweep_run.scratch_dir(1 << 60) is None
    encoded = sweep_expected.encode_narrow(np.array([-128, -1, 0, 127, 128, -129]), 8, True)
    np.testing.assert_array_equal(encoded, np.array([0x80, 0xFF, 0, 0x7F, 256, 256],
                                                    dtype=np.uint16), strict=True)
    small = {"top": "m", "kind": "mul", "outputs": {"p": {"signed": True}, "special": {}},
             "ports": [{"name": "p", "width": 40}, {"name": "special", "width": 1}],
             "inputs": {"a": {"format": "int8"}, "b": {"format": "int8"}}}
    record = (np.array([7], "<u8").tobytes() + ((1 << 40) - 5).to_bytes(8, "little")
              + (1).to_bytes(4, "little"))
    (tmp_path / "listed").write_bytes(record * 2)
    index, values = sweep_expected.read_listed(tmp_path / "listed", small)
    assert index.tolist() == [7, 7] and values == {"p": [-5, -5], "special": [1, 1]}


def _replay_fails_again(design, report, failures, replay_wave, capsys):
    """The replay command `sqhw verify` printed runs, fails again (exit 1) on the recorded
    vectors and traces into its own waveform."""
    assert main(["verify", str(design), "--replay", report["failures"], "--wave",
                 str(replay_wave)]) == 1
    out = capsys.readouterr().out
    assert f"{len(failures['replay'])} vectors" in out and "MISMATCH; replay" in out
    assert replay_wave.stat().st_size > 1000


def test_verify_reads_the_manifest_without_amaranth(tmp_path):
    """`sqhw verify` reads and checks a manifest (here refusing its unknown format, exit 2)
    without importing amaranth: -X importtime lists every module the run imported."""
    import os
    import subprocess
    import sys

    design = tmp_path / "design"
    design.mkdir()
    (design / "m8.v").write_text("module m8; endmodule\n")
    (design / "manifest.json").write_text(json.dumps({
        "top": "m8", "sources": ["m8.v"], "latency": 0, "kind": "mul",
        "inputs": {"a": {"format": "nope"}, "b": {"format": "int8"}}}))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "sqhw", "verify",
                           str(design)], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    assert done.returncode == 2 and "unknown format name 'nope'" in done.stderr
    assert "sqhw.manifest" in imported and "numpy" in imported
    assert [m for m in imported if m.split(".")[0] == "amaranth"] == []
