import subprocess
import sys

HEAVY = ["torch", "amaranth", "numba", "triton", "cocotb", "sklearn", "safetensors"]


def _heavy_loaded_by(modules: str) -> list[str]:
    """The heavy packages in sys.modules after importing `modules` in a fresh interpreter."""
    code = (f"import sys, {modules}\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_sqhw_stays_light():
    loaded = _heavy_loaded_by("sqhw, sqhw.formats, sqhw.ref, sqhw.cli")
    assert loaded == [], f"import sqhw pulled in: {loaded}"
    # the same check does see a heavy import where there is one (so the empty list above
    # is a finding, not a check that cannot fail)
    assert "numba" in _heavy_loaded_by("sqhw.baselines.numba_cpu")
