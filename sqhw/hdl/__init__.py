"""Amaranth generators; every width and constant is read from format objects.

Importing this package imports amaranth (sqhw itself does not).
"""

from .block_mac import BlockDotProduct
from .convert import DyadicRequantizer, MinifloatToFixed, Requantizer
from .mac import DotProduct
from .multiplier import Multiplier
from .operand import layout_of

__all__ = ["BlockDotProduct", "DotProduct", "DyadicRequantizer", "MinifloatToFixed", "Multiplier", "Requantizer", "layout_of"]
