"""Number formats, each one object from which values, codes and hardware widths derive.

>>> from sqhw.formats import parse
>>> fmt = parse("float8_e4m3fn")
>>> fmt.bits, fmt.max, fmt.quantize([0.3]).tolist()
(8, 448.0, [0.3125])
"""

from .block import BlockEncoded, BlockScaled
from .fixed import Fixed
from .minifloat import NAN_POLICIES, Minifloat, OutsideFloat64
from .presets import NAMED, design_space, integers, parse, presets
from .rounding import DETERMINISTIC_MODES, ROUNDING_MODES, Rounding

__all__ = ["DETERMINISTIC_MODES", "BlockEncoded", "BlockScaled", "Fixed", "Minifloat", "NAMED",
           "NAN_POLICIES", "ROUNDING_MODES", "OutsideFloat64", "Rounding", "design_space",
           "integers", "parse", "presets"]
