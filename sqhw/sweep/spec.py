"""A sweep's SPEC file (YAML): the axes of a design-space sweep as a grid and/or explicit
points, validated like the board and design files (errors name file, line and key).

    ptq:        settings of every point's PTQ evaluation (optional)
      engine: exact          # or emulate
      calibration: minmax    # or percentile, mse
      act_granularity: tensor  # or token (per-row activation scales of Linear inputs)
      weights_only: false
      algo: []               # gptq, smoothquant, bias-correction, srste
      cache: true            # reuse PTQ rows cached in the user cache folder
    design:     DSPChainDesign keys shared by every point's build (optional): k, rows, cols,
                out, rounding, stages
    grid:       the cross product of these axes (each a value or a list of values)
      model: [digits]        # a built-in model or FILE.onnx (relative to the SPEC file)
      weight: [int8, int4]   # weight formats
      act: [int8]            # activation formats (default: the weight format)
      sparsity: [dense, "2:4"]
      board: [ecp5_25k]      # a board name or file; leave out for PTQ-only points
      lanes: [1]
      chain: [2]
      target_mhz: [null]     # the build's clock (default: the board's clock_mhz)
    points:     explicit points with the same keys, added to the grid's
      - {model: digits, weight: float8_e4m3fn, board: alveo_u280, lanes: 1, chain: 2}

A point runs the PTQ evaluation of its (model, weight, act, sparsity) when it has a model,
and the build of its (board, design) when it has a board; it needs at least one of the two.
A dense point's design is the chain with nm 1:1 (no index mux). Each point's key hashes its
configuration, the shared settings and the sqhw version, so a changed spec or a new sqhw
reruns exactly the points it changes.

    >>> spec = parse_spec("grid: {model: digits, weight: [int8, int4]}", "spec.yaml")
    >>> [p.weight for p in spec.points]
    ['int8', 'int4']
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, \
    ValidationError

from .. import __version__
from ..hw._yaml_config import ConfigFileError, FieldProblem, _line_of, describe, kind_of, \
    read_yaml

__all__ = ["AXES", "Point", "Spec", "SpecError", "load_spec", "parse_spec"]

AXES = ("model", "weight", "act", "sparsity", "board", "lanes", "chain", "target_mhz")
MAX_POINTS = 100_000  # a grid past this is a typo, not a study (refused before any work)
DESIGN_KEYS = ("k", "rows", "cols", "out", "rounding", "stages")  # shared `design:` keys


class SpecError(ConfigFileError):
    """A SPEC that cannot be swept; the message names the file, line and key."""


def _format(name: str) -> str:
    from ..formats import parse

    try:
        return parse(name).name
    except ValueError as err:
        raise FieldProblem((), str(err)) from None


def _sparsity(text: str) -> str:
    if text == "dense":
        return text
    from ..sparsity import NM

    try:
        return str(NM.parse(text))
    except ValueError as err:
        raise FieldProblem((), f"expected 'dense' or an N:M pattern such as 2:4 ({err})") \
            from None


def _model(name: str) -> str:
    if name.endswith(".onnx"):
        return name  # checked against the SPEC's folder in load_spec
    from ..models import MODELS

    if name not in MODELS:
        raise FieldProblem((), f"unknown model {name!r}; built-in models: "
                           f"{', '.join(MODELS)} (or a path to a .onnx file)")
    return name


def _board(name: str) -> str:
    from ..hw.boards import BoardError, load_board

    try:
        load_board(name)
    except BoardError as err:
        raise FieldProblem((), str(err).splitlines()[0]) from None
    return name


@functools.lru_cache(maxsize=None)
def _loaded_board(name: str):
    """A board file read once per process (every point's key reads its board)."""
    from ..hw.boards import load_board

    return load_board(name)


def _listed(value):
    """An axis given as one value means a list of that one value."""
    return value if isinstance(value, list) else [value]


Model = Annotated[str, Field(min_length=1), AfterValidator(_model)]
Format = Annotated[str, Field(min_length=1), AfterValidator(_format)]
Sparsity = Annotated[str, AfterValidator(_sparsity)]
BoardName = Annotated[str, Field(min_length=1), AfterValidator(_board)]
Count = Annotated[int, Field(ge=1)]
Mhz = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _axis(kind):
    return Annotated[list[kind], BeforeValidator(_listed), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PtqSettings(_Strict):
    engine: Literal["exact", "emulate"] = "exact"
    calibration: Literal["minmax", "percentile", "mse"] = "minmax"
    act_granularity: Literal["tensor", "token"] = "tensor"  # as sqhw ptq --act-granularity
    weights_only: bool = False
    algo: list[Literal["gptq", "smoothquant", "bias-correction", "srste"]] = []
    cache: bool = True


class Grid(_Strict):
    model: _axis(Model | None) = [None]
    weight: _axis(Format | None) = [None]
    act: _axis(Format | None) = [None]  # None: the weight format
    sparsity: _axis(Sparsity) = ["dense"]
    board: _axis(BoardName | None) = [None]
    lanes: _axis(Count | None) = [None]
    chain: _axis(Count | None) = [None]
    target_mhz: _axis(Mhz | None) = [None]


class PointEntry(_Strict):
    model: Model | None = None
    weight: Format | None = None
    act: Format | None = None
    sparsity: Sparsity = "dense"
    board: BoardName | None = None
    lanes: Count | None = None
    chain: Count | None = None
    target_mhz: Mhz | None = None


class _File(_Strict):
    ptq: PtqSettings = PtqSettings()
    design: dict[str, int | str] = {}
    grid: Grid | None = None
    points: list[PointEntry] = []


@dataclass(frozen=True)
class Point:
    """One configuration of the sweep, with where it came from in the SPEC (for errors)."""

    model: str | None
    weight: str | None
    act: str | None
    sparsity: str
    board: str | None
    lanes: int | None
    chain: int | None
    target_mhz: float | None
    origin: str = ""  # "grid" or "points[i]"

    def config(self) -> dict:
        return {axis: getattr(self, axis) for axis in AXES}

    def label(self) -> str:
        parts = [self.model, self.weight if self.act in (None, self.weight)
                 else f"W{self.weight}/A{self.act}", self.sparsity if self.model else None,
                 self.board, f"{self.lanes}x{self.chain}" if self.board else None,
                 f"{self.target_mhz:g}MHz" if self.target_mhz else None]
        return " ".join(str(p) for p in parts if p)


@dataclass(frozen=True)
class Spec:
    file: str
    ptq: PtqSettings
    design: dict
    points: tuple[Point, ...]
    folder: Path  # the SPEC's folder: relative .onnx paths resolve against it

    def key(self, point: Point) -> str:
        """The point's store key: a hash of everything that decides its result."""
        from ..ptq.study import model_key

        model = None if point.model is None else model_key(self.model_path(point))
        # how the build pipelines the chain, which the board may decide (ECP5: for its clock)
        pipelining = (self.design_for(point).sized_for(_loaded_board(point.board)).pipelining()
                      if point.board else None)
        text = json.dumps({"point": {**point.config(), "model": model},
                           "ptq": self.ptq.model_dump() if point.model else None,
                           "design": self.design if point.board else None,
                           "pipelining": pipelining, "sqhw": __version__}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def model_path(self, point: Point) -> str | None:
        """The model argument a worker gets: a built-in name, or the .onnx file's absolute
        path."""
        if point.model is None or not point.model.endswith(".onnx"):
            return point.model
        return str((self.folder / point.model).resolve())

    def design_for(self, point: Point):
        """The DSPChainDesign a point builds (formats, N:M, lanes, chain, clock and the
        shared `design:` keys)."""
        from ..hw.design import DSPChainDesign

        act = point.act or point.weight
        return DSPChainDesign.model_validate({
            **self.design, "weight": point.weight, "act": act,
            "nm": "1:1" if point.sparsity == "dense" else point.sparsity,
            "lanes": point.lanes, "chain": point.chain, "target_mhz": point.target_mhz})


def load_spec(path) -> Spec:
    """A SPEC file, validated; every point checked (formats, models, boards, designs) before
    any work. Errors: `file:line: key: message`."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such SPEC file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise SpecError(f"{path}: cannot be read: {err.strerror}") from None
    return parse_spec(raw, str(path), path.parent)


def parse_spec(raw: bytes | str, shown: str, folder: Path = Path(".")) -> Spec:
    """A SPEC from its text; `shown` names it in errors."""
    if isinstance(raw, str):
        raw = raw.encode()
    try:
        data, lines = read_yaml(raw, shown, "SPEC file")
    except ConfigFileError as err:
        raise SpecError(str(err)) from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {kind_of(data)}"
        raise SpecError(f"{shown}:1: expected a mapping with keys ptq, design, grid, points "
                        f"at the top, got {got}")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as err:
        raise SpecError(describe(err, lines, shown, _File)) from None

    def fail(loc: tuple, message: str):
        key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
        key = key.replace(".[", "[")
        raise SpecError(f"{shown}:{_line_of(lines, loc)}: {key + ': ' if key else ''}{message}")

    design = dict(parsed.design)
    for key in design:
        if key not in DESIGN_KEYS:
            fail(("design", key), f"not a shared design key (allowed: {', '.join(DESIGN_KEYS)}; "
                 "formats, nm, lanes, chain and target_mhz are axes)")
    from ..hw.design import DSPChainDesign

    try:
        DSPChainDesign.model_validate(design)
    except ValidationError as err:
        first = err.errors()[0]
        problem = first.get("ctx", {}).get("error", first["msg"])
        fail(("design", *first["loc"]), str(problem))
    if parsed.grid is None and not parsed.points:
        fail((), "no points: give a `grid:` of axes and/or a list of `points:`")
    candidates: list[tuple[tuple, Point]] = []
    if parsed.grid is not None:
        grid = parsed.grid
        sizes = [len(getattr(grid, a)) for a in AXES]
        total = 1
        for size in sizes:
            total *= size
        if total > MAX_POINTS:
            fail(("grid",), f"{' x '.join(map(str, sizes))} = {total} points, more than "
                 f"{MAX_POINTS}")
        for values in itertools.product(*(getattr(grid, a) for a in AXES)):
            candidates.append((("grid",), Point(*values, origin="grid")))
    for i, entry in enumerate(parsed.points):
        candidates.append((("points", i), Point(**entry.model_dump(), origin=f"points[{i}]")))
    spec = Spec(shown, parsed.ptq, design, (), folder)
    unique: dict[str, Point] = {}  # the grid and a listed point may name the same one
    for loc, point in candidates:
        if point.act is None:  # activations in the weight format: one key for one choice
            point = dataclasses.replace(point, act=point.weight)
        _check_point(spec, point, loc, fail)
        unique.setdefault(json.dumps(point.config(), sort_keys=True), point)
    return Spec(shown, parsed.ptq, design, tuple(unique.values()), folder)


def _check_point(spec: Spec, point: Point, loc: tuple, fail) -> None:
    """Refuse a point that cannot run, naming the grid / points entry it came from."""
    where = f" ({point.label()})" if loc == ("grid",) else ""
    if point.model is None and point.board is None:
        fail(loc, f"a point needs a model (PTQ), a board (build) or both{where}")
    if point.weight is None:
        fail(loc, f"missing key 'weight' (the weight format){where}")
    if point.act is not None and point.act != point.weight and point.model is not None \
            and spec.ptq.weights_only:
        fail(loc, f"act: {point.act} given, but ptq.weights_only leaves activations in "
             f"FP32{where}")
    if point.model is not None:
        if point.model.endswith(".onnx") and not Path(spec.model_path(point)).is_file():
            fail(loc + ("model",), f"{point.model}: no such file (relative paths start at "
                 f"the SPEC's folder){where}")
        from ..ptq.study import config_for
        from ..sparsity import NM

        try:
            config_for(point.weight, None if point.sparsity == "dense" else
                       NM.parse(point.sparsity), spec.ptq.weights_only,
                       tuple(spec.ptq.algo), spec.ptq.calibration,
                       spec.ptq.act_granularity, act_name=point.act)
        except (ValueError, TypeError) as err:
            fail(loc, f"{err}{where}")
    if point.board is None:
        for axis in ("lanes", "chain", "target_mhz"):
            if getattr(point, axis) is not None:
                fail(loc + (axis,) if loc != ("grid",) else loc,
                     f"{axis} is a build setting; the point has no board{where}")
        return
    for axis in ("lanes", "chain"):
        if getattr(point, axis) is None:
            fail(loc, f"missing key {axis!r}: a build point gives lanes and chain (the "
                 f"sweep never sizes a design from the board){where}")
    try:
        design = spec.design_for(point)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        problem = first.get("ctx", {}).get("error", first["msg"])
        if loc != ("grid",) and key in AXES:  # a listed point's own key: its line
            fail(loc + (key,), f"{problem}{where}")
        fail(loc, f"{key}: {problem}{where}")
    if design.n > min(design.m, design.chain):
        fail(loc, f"sparsity {point.sparsity}: a chain of {design.chain} stages runs n up to "
             f"{min(design.m, design.chain)}{where}")
