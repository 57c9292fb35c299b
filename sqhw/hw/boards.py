"""Board files (boards/*.yaml): part, family, toolchain, clock and resources, validated.

Errors name the file and the key: `boards/u280.yaml: resources.dsp: expected an integer,
got 'many'`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BOARD_DIR = Path(__file__).resolve().parents[2] / "boards"
FAMILIES = ("xcup", "xcu", "xc7", "ecp5", "ice40")


class BoardError(ValueError):
    pass


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    family: str
    toolchain: str
    clock_mhz: float
    resources: dict
    raw: dict
    path: Path

    @property
    def nextpnr(self) -> dict:
        return self.raw.get("nextpnr", {})


_KINDS = {int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _need(data: dict, key: str, kind, path: Path):
    if key not in data:
        raise BoardError(f"{path}: missing key {key!r}")
    value = data[key]
    ok = isinstance(value, (int, float) if kind is float else kind)
    if not ok or isinstance(value, bool):
        raise BoardError(f"{path}: {key}: expected {_KINDS[kind]}, got {value!r}")
    return value


def load_board(name_or_path) -> Board:
    """A board by name (boards/<name>.yaml) or by path."""
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = BOARD_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in BOARD_DIR.glob("*.yaml"))
        raise BoardError(f"{path}: no such board file (known boards: {', '.join(known)})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise BoardError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise BoardError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    name = _need(data, "name", str, path)
    family = _need(data, "family", str, path)
    if family not in FAMILIES:
        raise BoardError(f"{path}: family: expected one of {', '.join(FAMILIES)}, got {family!r}")
    resources = _need(data, "resources", dict, path)
    for key, value in resources.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BoardError(f"{path}: resources.{key}: expected a non-negative integer, "
                             f"got {value!r}")
    return Board(name=name, part=_need(data, "part", str, path), family=family,
                 toolchain=_need(data, "toolchain", str, path),
                 clock_mhz=float(_need(data, "clock_mhz", float, path)),
                 resources=resources, raw=data, path=path)
