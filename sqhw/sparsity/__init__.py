"""N:M structured sparsity: masks, pruning, the packed layout the hardware reads, SR-STE.

>>> import numpy as np
>>> from sqhw.formats import parse
>>> from sqhw.sparsity import NM
>>> int8 = parse("int8")
>>> codes = int8.encode(NM(2, 4).prune(np.array([[5.0, -1.0, 0.0, 7.0]])))
>>> packed = NM(2, 4).pack(codes, int8)
>>> int8.decode(packed.values).tolist(), packed.indices.tolist()
([[[5.0, 7.0]]], [[[0, 3]]])
"""

from .nm import NM, Packed

PATTERNS = ("1:4", "2:4", "1:8", "2:8", "4:8")

__all__ = ["NM", "PATTERNS", "Packed"]
