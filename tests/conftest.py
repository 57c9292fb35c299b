import os

import numpy as np
import pytest

from sqhw.formats import NAMED

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
