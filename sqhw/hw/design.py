"""What `sqhw build` builds: a design config (design.yaml), validated like the board files.

One design kind today, the N:M sparse DSP chain array (`SparseDSPArray`: `lanes` chains of
`chain` multiply stages, run-time N for a fixed M, requantizer, valid/ready streams). Every
key is optional (`from_ptq` takes formats, N:M and layer shapes from a PTQ study's row:
sqhw.hw.from_ptq); what a file leaves out takes the default below, and `lanes` / `chain` left
out are sized from the board (`sized_for`). Errors name the file, line and key:
`design.yaml:3: lanes: expected a positive integer, got 0`.

    >>> from sqhw.hw.boards import load_board
    >>> design = DSPChainDesign().sized_for(load_board("alveo_u280"))
    >>> design.lanes, design.chain, design.multipliers, design.nm
    (564, 8, 4512, '2:4')
    >>> DSPChainDesign().sized_for(load_board("icebreaker")).multipliers
    4
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError,
                      model_validator)

from ._yaml_config import ConfigFileError, FieldProblem, describe, kind_of, read_yaml, show
from .boards import Board

__all__ = ["DSP_SHARE", "DSPChainDesign", "DesignError", "load_design"]

# The default design takes this share of the board's DSP blocks (one multiply per DSP): half
# leaves room for the memory interfaces, DMA and the platform shell a real design also needs.
DSP_SHARE = 0.5
MAX_CHAIN = 8  # the default chain: 8 stages, a run-time N of 1, 2 or 4 for M = 4 (8 for M = 8)


class DesignError(ConfigFileError):
    """A design that cannot be built; the message names the file, line and key."""


def _positive(value: int) -> int:
    if value < 1:
        raise FieldProblem((), f"expected a positive integer, got {show(value)}")
    return value


def _non_negative(value: int) -> int:
    if value < 0:
        raise FieldProblem((), f"expected an integer >= 0, got {value}")
    return value


def _power_of_two(value: int) -> int:
    _positive(value)
    if value & (value - 1):
        raise FieldProblem((), f"expected a power of two (the chain's group select is a "
                           f"shift), got {value}")
    return value


def _element_format(name: str) -> str:
    from ..formats import BlockScaled, parse

    try:
        fmt = parse(name)
    except ValueError as err:
        raise FieldProblem((), str(err)) from None
    if isinstance(fmt, BlockScaled):
        raise FieldProblem((), f"the chain multiplies element formats (integer, fixed, "
                           f"minifloat); {fmt.name} is block-scaled")
    return fmt.name


def _pattern(text: str) -> str:
    from ..sparsity import NM

    try:
        nm = NM.parse(text)
    except ValueError as err:
        raise FieldProblem((), str(err)) from None
    for key, value in (("n", nm.n), ("m", nm.m)):
        if value & (value - 1):
            raise FieldProblem((), f"the chain runs power-of-two n and m, got {nm} ({key} = "
                               f"{value})")
    return str(nm)


PositiveInt = Annotated[int, AfterValidator(_positive)]
PowerOfTwo = Annotated[int, AfterValidator(_power_of_two)]
ElementFormat = Annotated[str, AfterValidator(_element_format)]


class DSPChainDesign(BaseModel):
    """The N:M sparse DSP chain array. `k` is the longest dot product (it sizes the exact
    accumulator); `rows` x `k` weights times `k` x `cols` activations is the layer the
    roofline is computed for (default: a 4096 x 4096 matrix-vector product, the decode step
    of an LLM layer)."""
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    kind: Literal["dsp_chain"] = "dsp_chain"
    weight: ElementFormat = "int8"
    act: ElementFormat = "int8"
    out: ElementFormat = "int8"
    nm: Annotated[str, AfterValidator(_pattern)] = "2:4"
    lanes: PositiveInt | None = None   # None: sized from the board
    chain: PowerOfTwo | None = None    # None: sized from the board
    k: PositiveInt = 4096
    rows: PositiveInt = 4096
    cols: PositiveInt = 1
    rounding: Literal["rne", "rtz", "rna", "floor", "ceil"] = "rne"
    stages: Annotated[int, AfterValidator(_non_negative)] = 1  # register stages per multiply
    # the clock the build is constrained to (nextpnr --freq, the .lpf FREQUENCY) and the
    # roofline uses, and the frequency the chain's registers are placed for (the generators'
    # target_mhz, instead of `stages`); None: the board's clock_mhz and `stages`
    target_mhz: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    sizing: str = "given"  # how lanes and chain were chosen (filled in, not a file key)
    # filled in from `from_ptq` (sqhw.hw.from_ptq), not file keys: the model's layer shapes
    # ({name, rows, k, cols}) and the PTQ row the formats and pattern came from
    layers: tuple[dict, ...] = ()
    ptq: dict | None = None

    @model_validator(mode="after")
    def _one_pipelining(self):
        if self.target_mhz is not None and "stages" in self.model_fields_set:
            raise ValueError("stages and target_mhz: give one (target_mhz places the chain's "
                             "registers itself)")
        return self

    def pipelining(self) -> dict:
        """The generators' pipelining arguments: planned for target_mhz, else `stages`."""
        if self.target_mhz is not None:
            return {"stages": None, "target_mhz": self.target_mhz}
        return {"stages": self.stages}

    def layer_shapes(self) -> list[tuple[str, "DSPChainDesign"]]:
        """(name, this design with rows / k / cols of that layer) for each PTQ layer."""
        return [(layer["name"], self.model_copy(update={k: layer[k] for k in
                                                        ("rows", "k", "cols")}))
                for layer in self.layers]

    @property
    def n(self) -> int:
        return int(self.nm.split(":")[0])

    @property
    def m(self) -> int:
        return int(self.nm.split(":")[1])

    @property
    def multipliers(self) -> int:
        """Multiply stages: each maps onto one DSP block for formats of up to 16 bits."""
        return self.lanes * self.chain

    def clock_mhz(self, board: Board) -> float:
        """The clock this design is built for on `board`: target_mhz, else the board's."""
        return self.target_mhz if self.target_mhz is not None else board.clock_mhz

    def sized_for(self, board: Board) -> "DSPChainDesign":
        """What the file left out, from the board: lanes and chain, DSP_SHARE of its DSPs, a
        chain of MAX_CHAIN stages (fewer when that share is smaller), as many lanes as fit;
        and on a family the delay model is calibrated for (sqhw.hdl.timing.MODELS: ECP5),
        without `stages` or `target_mhz`, registers placed for the board's clock (elsewhere
        `stages` 1: the model would put Xilinx products in LUT trees, iCE40 is not fitted)."""
        from ..hdl.timing import MODELS

        design = self
        if (self.target_mhz is None and "stages" not in self.model_fields_set
                and board.family in MODELS):
            design = design.model_copy(update={"target_mhz": float(board.clock_mhz)})
        if design.lanes is not None and design.chain is not None:
            return design
        dsp = board.resources.dsp
        share = max(1, int(dsp.count * DSP_SHARE))
        chain = design.chain or min(MAX_CHAIN, 1 << (share.bit_length() - 1))
        lanes = design.lanes or max(1, share // chain)
        sized = "chain" if design.lanes is not None else \
            "lanes" if design.chain is not None else "lanes and chain"
        note = (f"{sized} sized from the board: {DSP_SHARE:.0%} of its {dsp.count} {dsp.kind} "
                f"= {share}, one per multiply")
        return design.model_copy(update={"lanes": lanes, "chain": chain, "sizing": note})

    def generate(self):
        """(component, manifest description) of the design (lanes and chain must be set)."""
        from ..hdl.emit import design_dsp_chain

        return design_dsp_chain(self.weight, self.act, self.m, self.chain, self.k, self.out,
                                rounding=self.rounding, lanes=self.lanes, array=True,
                                **self.pipelining())

    def row(self) -> dict:
        """The design as report.json gives it; `stages` is null when target_mhz placed the
        registers (the generators take one of the two)."""
        row = self.model_dump(mode="json")
        row["multipliers"] = self.multipliers
        row.update(self.pipelining())
        return row


FILLED_IN = ("sizing", "layers", "ptq")  # DSPChainDesign fields sqhw fills in


def load_design(path) -> DSPChainDesign:
    """A design file (YAML), validated; errors name the file, line and key."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        raise DesignError(f"{shown}: no such design file")
    try:
        data, lines = read_yaml(path.read_bytes(), shown, "design file")
    except ConfigFileError as err:
        raise DesignError(str(err)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DesignError(f"{shown}:1: expected a mapping of design keys at the top, got a "
                          f"{kind_of(data)}")
    for key in FILLED_IN:
        if key in data:
            raise DesignError(f"{shown}:{lines.get((key,), 1)}: {key}: not a design-file "
                              "key (sqhw fills it in)")
    if "from_ptq" in data:
        from .from_ptq import resolve

        data = resolve(dict(data), lines, shown, path, DesignError)
    if "stages" in data and data.get("target_mhz") is not None:
        raise DesignError(f"{shown}:{lines.get(('target_mhz',), 1)}: target_mhz: give it or "
                          "stages, not both (target_mhz places the chain's registers itself)")
    try:
        return DSPChainDesign.model_validate(data)
    except ValidationError as err:
        raise DesignError(describe(err, lines, shown, DSPChainDesign, hidden=FILLED_IN,
                                   extra=("from_ptq",))) from None
