import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: each worker's torch (and the processes it starts)
    # on one OpenMP thread, so that two workers never run four spinning threads on two cores
    # (oversubscribed, torch's OpenMP barriers made model tests ~10x slower under load)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sqhw.formats import NAMED  # noqa: E402

ML_DTYPES_NAMES = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                   "float8_e4m3", "float8_e3m4", "float6_e2m3fn", "float6_e3m2fn",
                   "float4_e2m1fn", "float8_e8m0fnu"]
MINIFLOAT_PRESETS = [NAMED[n] for n in ML_DTYPES_NAMES]


@pytest.fixture(scope="session")
def seed() -> int:
    """SQHW_SEED from the environment (printed) so a failure can be replayed."""
    value = int(os.environ.get("SQHW_SEED", "1234"))
    print(f"SQHW_SEED={value}")
    return value


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def near_ties(values) -> np.ndarray:
    """Every finite magnitude of a format, every midpoint of two neighbours, and the float64
    neighbours of both, with both signs (float64: the last bit is where arithmetic on the
    input can go wrong). Rounding modes differ at these points."""
    values = np.asarray(values, dtype=np.float64)
    mags = np.unique(np.abs(values[np.isfinite(values)]))
    points = np.concatenate([mags, (mags[:-1] + mags[1:]) / 2])  # exact: few-bit binary values
    points = np.concatenate([points, np.nextafter(points, np.inf), np.nextafter(points, -np.inf)])
    return np.concatenate([points, -points])
