import subprocess
import sys

HEAVY = ["torch", "amaranth", "numba", "triton", "cocotb", "sklearn", "safetensors"]


def test_import_sqhw_stays_light():
    code = ("import sys, sqhw, sqhw.formats, sqhw.ref, sqhw.cli\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import sqhw pulled in: {out.stdout.strip()}"
    assert len(HEAVY) == 7
