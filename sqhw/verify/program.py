"""A Verilog harness plus a generated C++ main, built by Verilator as one program (`--cc
--exe --build`: no cocotb, no simulator interface in the loop, so every signal can be
optimised), cached like sqhw.verify.runner's builds: by the hash of what goes into them, in
the user's cache folder. The sweep harness (sqhw.verify.sweep_run) and the MAC stream
program (sqhw.verify.stream_run) are built this way."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .runner import BUILD_ARGS, BuildError, _digest, _locked, default_cache
from .toolchain import use_verilator

BINARY_ARGS = ["--cc", "--exe", "--build", "-j", "2"]


def build(sources: list[Path], harness: str, main: str, top: str, name: str, tag: str,
          label: str, extra_args: list[str] = (), cache: Path | None = None) -> Path:
    """Verilate `sources` + the harness text (top module `top`) + the C++ main into the
    program `name`, in the cache folder `tag`-(hash); returns its path. An unchanged build is
    reused; the first says so on stderr (`label` names what is built)."""
    args = BUILD_ARGS + BINARY_ARGS + list(extra_args)
    key = _digest([Path(s).read_text() for s in sources] + [harness, main], args)
    build_dir = (cache or default_cache()) / f"{tag}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    program = build_dir / "obj" / name
    with _locked(build_dir):
        if program.exists():
            return program
        harness_file = build_dir / "harness.sv"
        harness_file.write_text(harness)
        main_file = build_dir / "main.cpp"
        main_file.write_text(main)
        local = []
        for s in map(Path, sources):
            shutil.copyfile(s, build_dir / s.name)
            local.append(build_dir / s.name)
        print(f"sqhw: building the {label} (first time: a minute or more; cached in "
              f"{build_dir})", file=sys.stderr, flush=True)
        verilator = use_verilator()
        log = build_dir / "build.log"
        with open(log, "w") as out:
            done = subprocess.run([str(verilator), *args, "--top-module", top,
                                   "-Mdir", str(build_dir / "obj"), "-o", name,
                                   *map(str, local), str(harness_file), str(main_file)],
                                  stdout=out, stderr=subprocess.STDOUT, cwd=build_dir)
        if done.returncode != 0 or not program.exists():
            raise BuildError(f"the Verilator build of the {label} failed (exit "
                             f"{done.returncode}); see {log}")
    return program
