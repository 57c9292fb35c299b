"""`sqhw bench` runs end to end (a smoke run at small sizes; no timing is asserted)."""

import json

from sqhw.cli import main


def test_bench_quick_json(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    impls = {(r["format"], r["impl"]) for r in result["encode"]}
    assert ("float8_e4m3fn", "sqhw numba") in impls and ("-", "memcpy (float32 bytes)") in impls
    assert ("float8_e4m3fn", "ml_dtypes astype") in impls
    assert ("float8_e4m3fn", "torch .to(float8_e4m3fn)") in impls
    assert {r["impl"] for r in result["matmul"]} == {"numba dense", "numba 2:4", "numba 1:4",
                                                     "torch matmul"}
    assert all(r["seconds"] > 0 for r in result["encode"] + result["matmul"])
    assert result["machine"]["cores"] >= 1 and len(result["encode"]) == 12
