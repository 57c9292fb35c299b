"""Amaranth generators; every width and constant is read from format objects.

The generators below import amaranth when first used (`from sqhw.hdl import Multiplier`);
`sqhw.hdl.timing`, the delay model, does not, so `sqhw.hw` reads it without amaranth.
"""

import importlib

_WHERE = {"BlockDotProduct": "block_mac", "DyadicRequantizer": "convert",
          "MinifloatToFixed": "convert", "Requantizer": "convert", "DotProduct": "mac",
          "Multiplier": "multiplier", "layout_of": "operand",
          "SparseDSPChain": "sparse_chain", "SparseDSPArray": "chain_array"}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
