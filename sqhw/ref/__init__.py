"""Bit-exact reference arithmetic in integers: products, wide accumulation, requantization.

>>> import numpy as np
>>> from sqhw.formats import parse
>>> from sqhw import ref
>>> e4m3 = parse("float8_e4m3fn")
>>> a = e4m3.encode(np.array([[1.5, -2.0, 0.25]]))
>>> acc = ref.matmul(a, e4m3, a.T, e4m3)          # exact, in units of 2**-18
>>> int(acc[0, 0]), ref.product_format(e4m3, e4m3).frac_bits
(1654784, 18)
>>> e4m3.decode(ref.requantize(acc, 18, e4m3)).tolist()
[[6.5]]
"""

from .block import Exact, block_dot
from .exact import (
                    accumulator_format,
                    dot,
                    fit_fixed,
                    float_dtype,
                    int_range,
                    integer_table,
                    matmul,
                    mul,
                    product_format,
                    to_float_ints,
                    to_ints,
)
from .requantize import dyadic, requantize, requantize_dyadic, special_code
from .sparse import sparse_matmul

__all__ = ["Exact", "accumulator_format", "block_dot", "dot", "dyadic", "fit_fixed",
           "float_dtype", "int_range", "integer_table", "matmul", "mul", "product_format",
           "requantize", "requantize_dyadic", "sparse_matmul", "special_code",
           "to_float_ints", "to_ints"]
