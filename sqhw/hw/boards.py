"""Board files (boards/*.yaml): one frozen, validated `Board` per file.

A board's name is its file's stem. Every problem in a file is reported with the file, the
line and the key, e.g. `boards/alveo_u280.yaml:17: resources.dsp.count: expected an integer,
got 'many'`. Files are read with PyYAML's safe loader within limits (`_yaml_config`): an
alias bomb or a deeply nested file is refused before it is turned into Python objects.

    >>> board = load_board("alveo_u280")
    >>> board.family, board.resources.dsp.kind, board.resources.dsp.count
    ('xcup', 'DSP48E2', 9024)
    >>> board.budget({"dsp": 9600})["resources"]["dsp"]
    {'used': 9600, 'available': 9024, 'fits': False}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..paths import data_dir
from ._yaml_config import ConfigFileError, FieldProblem, describe, kind_of, read_yaml, show

__all__ = ["BOARD_DIR", "FAMILIES", "Board", "BoardError", "board_names", "list_boards",
           "load_board"]

BOARD_DIR = data_dir("boards")  # the checkout's boards/, or the installed sqhw._boards


@dataclass(frozen=True)
class Family:
    """What a device family fixes: its cells (the kinds a board file must name), its LUT
    size and the Yosys target that synthesises for it (None: no flow in sqhw yet)."""
    dsp: str
    bram: str
    bram_kbit: int
    large_ram: str | None     # UltraRAM / SPRAM
    lut_inputs: int
    vendor_toolchain: str     # the toolchain boards of this family use
    synth_target: str | None
    nextpnr_devices: frozenset[str] = frozenset()
    speed_grades: frozenset[int] = frozenset()


FAMILIES = {
    "xcup": Family("DSP48E2", "RAMB36E2", 36, "URAM288", 6, "vivado", "xcup"),
    "xc7": Family("DSP48E1", "RAMB36E1", 36, None, 6, "vivado", "xc7"),
    "ecp5": Family("MULT18X18D", "DP16KD", 18, None, 4, "open", "ecp5",
                   frozenset({"12k", "25k", "45k", "85k", "um-25k", "um-45k", "um-85k",
                              "um5g-25k", "um5g-45k", "um5g-85k"}), frozenset({6, 7, 8})),
    "ice40": Family("SB_MAC16", "SB_RAM40_4K", 4, "SB_SPRAM256KA", 4, "open", "ice40",
                    frozenset({"lp384", "lp1k", "lp4k", "lp8k", "hx1k", "hx4k", "hx8k",
                               "up3k", "up5k", "u1k", "u2k", "u4k"})),
}


class BoardError(ConfigFileError):
    """A board file that cannot be used; the message names the file, line and key."""


class _Spec(BaseModel):
    # strict: a quoted "100" is not a number and true is not 1; forbid: typos are errors
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(gt=0)]
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]


class Cells(_Spec):
    """A hard block: its cell name (as the tools report it) and how many the part has."""
    kind: Name
    count: Count


class RamBlocks(_Spec):
    kind: Name
    count: Count
    kbit: Positive  # size of one block


class Resources(_Spec):
    lut: Positive
    ff: Positive
    dsp: Cells
    bram: RamBlocks
    uram: RamBlocks | None = None  # UltraRAM (xcup) or SPRAM (ice40); absent: none
    io: Positive | None = None     # user I/O pins of the package (open toolchain boards)


class MemoryBank(_Spec):
    kind: Literal["hbm", "ddr4", "ddr3", "lpddr4", "sdram", "none"]
    size_gib: PositiveNumber | None = None
    bandwidth_gbs: PositiveNumber | None = None  # peak, GB/s (10^9 bytes per second)

    @model_validator(mode="after")
    def _sized(self):
        given = [k for k in ("size_gib", "bandwidth_gbs") if getattr(self, k) is not None]
        if self.kind == "none" and given:
            raise FieldProblem((given[0],), "not allowed with kind 'none' (no external "
                               "memory)")
        for key in ("size_gib", "bandwidth_gbs"):
            if self.kind != "none" and getattr(self, key) is None:
                raise FieldProblem((), f"missing key {key!r} (required for kind "
                                   f"{self.kind!r})")
        return self


class Nextpnr(_Spec):
    device: Name           # nextpnr's device flag without dashes: 25k, 85k, up5k
    package: Name          # CABGA381, CSFBGA285, sg48
    speed: int | None = None  # ECP5 speed grade; iCE40 has none


class Board(_Spec):
    """One board file, validated. `name` and `path` come from the file's location."""
    name: str
    path: Path
    description: Name
    part: Name
    family: Literal["xcup", "xc7", "ecp5", "ice40"]
    toolchain: Literal["vivado", "open"]
    clock_mhz: PositiveNumber
    resources: Resources
    memory: tuple[MemoryBank, ...] = Field(min_length=1, strict=False)  # YAML gives lists
    amaranth_platform: Annotated[str, Field(pattern=r"^amaranth_boards(\.\w+)+Platform$")] \
        | None = None
    nextpnr: Nextpnr | None = None

    @model_validator(mode="after")
    def _consistent(self):
        """What one field cannot say alone: the cells and toolchain the family fixes, and
        the nextpnr settings open-toolchain boards need."""
        family, res = FAMILIES[self.family], self.resources
        for loc, have, want in ((("resources", "dsp", "kind"), res.dsp.kind, family.dsp),
                                (("resources", "bram", "kind"), res.bram.kind, family.bram),
                                (("resources", "bram", "kbit"), res.bram.kbit,
                                 family.bram_kbit)):
            if have != want:
                raise FieldProblem(loc, f"{self.family} parts have {want!r}, got {have!r}")
        if res.uram is not None and res.uram.kind != family.large_ram:
            want = (f"{family.large_ram!r} or no uram key" if family.large_ram else
                    "no uram key (the family has no such blocks)")
            raise FieldProblem(("resources", "uram", "kind"),
                               f"{self.family} parts have {want}, got {res.uram.kind!r}")
        if self.toolchain != family.vendor_toolchain:
            raise FieldProblem(("toolchain",), f"{self.family} boards use "
                               f"{family.vendor_toolchain!r}, got {self.toolchain!r}")
        if len(self.memory) > 1 and any(bank.kind == "none" for bank in self.memory):
            raise FieldProblem(("memory",), "kind 'none' must be the only entry")
        if self.toolchain == "vivado":
            if self.nextpnr is not None:
                raise FieldProblem(("nextpnr",), "only for open-toolchain (ecp5, ice40) "
                                   "boards")
            return self
        if self.nextpnr is None:
            raise FieldProblem((), "missing key 'nextpnr' (required for open-toolchain "
                               "boards)")
        if res.io is None:
            raise FieldProblem(("resources",), "missing key 'io' (required for "
                               "open-toolchain boards: the timing wrapper must fit the "
                               "package's pins)")
        if self.nextpnr.device not in family.nextpnr_devices:
            raise FieldProblem(("nextpnr", "device"), "expected one of "
                               f"{', '.join(sorted(family.nextpnr_devices))}, "
                               f"got {self.nextpnr.device!r}")
        if family.speed_grades and self.nextpnr.speed not in family.speed_grades:
            raise FieldProblem(("nextpnr", "speed"), "expected one of "
                               f"{', '.join(map(str, sorted(family.speed_grades)))}, "
                               f"got {show(self.nextpnr.speed)}")
        if not family.speed_grades and self.nextpnr.speed is not None:
            raise FieldProblem(("nextpnr", "speed"), f"{self.family} parts have no speed "
                               "grade")
        return self

    @property
    def file(self) -> str:
        """The file as errors name it: boards/<name>.yaml for the project's boards."""
        return _shown(self.path)

    @property
    def synth_target(self) -> str | None:
        """The `sqhw synth` target for this board's family (None: no flow yet)."""
        return FAMILIES[self.family].synth_target

    @property
    def lut_inputs(self) -> int:
        return FAMILIES[self.family].lut_inputs

    def capacity(self) -> dict[str, int]:
        """What a design may use, in the units `budget` compares: LUTs, FFs, DSP cells,
        block RAMs (the family's own block), UltraRAM/SPRAM blocks and, where known, pins."""
        res = self.resources
        have = {"lut": res.lut, "ff": res.ff, "dsp": res.dsp.count, "bram": res.bram.count,
                "uram": res.uram.count if res.uram else 0}
        if res.io is not None:
            have["io"] = res.io
        return have

    def budget(self, used: Mapping[str, float]) -> dict:
        """Fits / overflow per resource for the usage a synthesis reported (keys of
        `capacity`; others are ignored)."""
        rows = {key: {"used": used[key], "available": have, "fits": used[key] <= have}
                for key, have in self.capacity().items() if key in used}
        return {"board": self.name, "fits": all(r["fits"] for r in rows.values()),
                "resources": rows}

    def row(self) -> dict:
        """A JSON-ready summary (what `sqhw boards --json` prints)."""
        row = self.model_dump(mode="json")
        row["path"] = self.file
        return row


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARD_DIR.glob("*.yaml"))


def list_boards() -> list[Board]:
    """Every board in boards/, by name."""
    return [load_board(name) for name in board_names()]


def load_board(name_or_path) -> Board:
    """A board by name (boards/<name>.yaml) or by the path of a YAML file."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
    else:
        path = BOARD_DIR / f"{text}.yaml"
    shown = _shown(path)
    if not path.is_file():
        raise BoardError(f"{shown}: no such board file (known boards: "
                         f"{', '.join(board_names())})")
    try:
        data, lines = read_yaml(path.read_bytes(), shown)
    except ConfigFileError as err:
        raise BoardError(str(err)) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {kind_of(data)}"
        raise BoardError(f"{shown}:1: expected a mapping of board keys at the top, got {got}")
    for key in ("name", "path"):
        if key in data:
            raise BoardError(f"{shown}:{lines.get((key,), 1)}: {key}: not a board-file key "
                             f"(a board's name is its file's stem: {path.stem})")
    try:
        return Board.model_validate({**data, "name": path.stem, "path": path})
    except ValidationError as err:
        raise BoardError(describe(err, lines, shown, Board, hidden=("name", "path"))) from None


def _shown(path: Path) -> str:
    """boards/<file> for the project's own boards, the path as given otherwise."""
    try:
        return str(Path("boards") / path.resolve().relative_to(BOARD_DIR))
    except ValueError:
        return str(path)
