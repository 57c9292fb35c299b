"""Verilog deliverables: a design's Verilog plus manifest.json, written all or nothing.

The manifest is what tools and tests read instead of guessing: top, sources, clock, reset,
latency, inputs {name: {format}}, outputs {name: {width, signed, frac_bits}}, parameters.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

from .. import __version__
from ..formats import BlockScaled, Fixed, parse
from .axi_kernel import SparseChainKernel
from .block_mac import BlockDotProduct
from .convert import DyadicRequantizer, MinifloatToFixed, Requantizer
from .mac import DotProduct
from .multiplier import Multiplier
from .packed import PackedMultiplier
from .chain_array import SparseDSPArray
from .sparse_chain import IndexMuxBank, SparseDSPChain

# the manifest's name, the top-name rule and read_manifest live in sqhw.manifest (no
# amaranth there); re-exported for code that imports them from here
from ..manifest import (KEYWORDS, MANIFEST, MAX_TOP, RESERVED_TOPS,  # noqa: F401
                        check_top, read_manifest)


def _port(width: int, is_signed: bool, frac_bits: int | None = None, fmt=None) -> dict:
    port = {"width": width, "signed": is_signed}
    if frac_bits is not None:
        port["frac_bits"] = frac_bits
    if fmt is not None:
        port["format"] = fmt.name
    return port


def _elements(shape) -> tuple[list[int], object]:
    """The lengths of a field's nested ArrayLayouts, outermost first (lanes x chain ...),
    and the shape of one element."""
    from amaranth.lib import data

    lengths = []
    while isinstance(shape, data.ArrayLayout):
        lengths.append(shape.length)
        shape = shape.elem_shape
    return lengths, shape


def layout_fields(shape, extra: dict[str, dict] | None = None, counted: bool = False,
                  name: str | None = None) -> dict[str, dict]:
    """The manifest's description of a payload, read from the component's own layout:
    {field: {offset, width[, count, bits, shape, element_fields]}} for a StructLayout (first
    field lowest), or {name: ...} for a payload that is one array; `counted` adds the element
    count, bits per element and `shape` (the nested array lengths, outermost first: element
    [i][j] is flat element i * shape[1] + j, at offset + flat * bits) and, for elements that
    are a format's layout, `element_fields` (each field's offset inside an element);
    `extra` adds keys per field (format, signed, meaning ...)."""
    from amaranth.lib import data

    extra = extra or {}
    fields = shape if isinstance(shape, data.StructLayout) else [(name, None)]
    out = {}
    for field_name, field in fields:
        offset, field_shape = (field.offset, field.shape) if field else (0, shape)
        width = data.Layout.cast(field_shape).size if isinstance(
            field_shape, data.Layout) else field.width
        entry = {"offset": offset, "width": width}
        if counted:
            lengths, element = _elements(field_shape)
            count = math.prod(lengths)
            entry.update(count=count, bits=width // count, shape=lengths)
            if lengths and isinstance(element, data.StructLayout):
                entry["element_fields"] = layout_fields(element)
        if isinstance(field_shape, data.StructLayout):  # a format's code: its own fields
            entry["fields"] = layout_fields(field_shape)
        out[field_name] = {**entry, **extra.get(field_name, {})}
    return out


def payload_layout(dut, stream_name: str):
    """The payload shape of one of the component's streams, from its signature."""
    return dut.signature.members[stream_name].signature.members["payload"].shape


# what a result's `special` bit means (sqhw.ref.special_code gives the code)
_SPECIAL = ("a term (or a block scale) is NaN/Inf; code is then the output format's NaN code, "
            "else its Inf code, else 0")


def _pipelining(dut) -> dict:
    """Manifest parameters of a design's pipeline: the target it was planned for (None:
    fixed `stages`), the delay model's Fmax estimate and the registers per segment."""
    return {"target_mhz": dut.target_mhz, "estimated_mhz": dut.estimated_mhz,
            "registers": list(dut.registers)}


def design_mul(a: str, b: str, stages: int | None = None, width: int | None = None,
               target_mhz: float | None = None):
    a_fmt, b_fmt = parse(a), parse(b)
    dut = Multiplier(a_fmt, b_fmt, stages=stages, width=width, target_mhz=target_mhz)
    pf = dut.product_format
    return dut, {
        "kind": "mul",
        "latency": dut.latency,
        "inputs": {"a": {"format": a_fmt.name, "width": a_fmt.bits},
                   "b": {"format": b_fmt.name, "width": b_fmt.bits}},
        "outputs": {"p": _port(dut.width, pf.signed, pf.frac_bits),
                    "special": {"width": 1, "signed": False,
                                "meaning": "a or b is a NaN/Inf code; p is 0"}},
        "parameters": {"a": a_fmt.name, "b": b_fmt.name, "stages": dut.stages,
                       "product_format": pf.name, "product": dut.product,
                       **_pipelining(dut)},
    }


def design_packed_mul(x: str, w: str, pack: int, stages: int = 0):
    """`pack` products x[i] * w through one DSP-sized multiply (sqhw.ref.packed)."""
    x_fmt, w_fmt = parse(x), parse(w)
    dut = PackedMultiplier(x_fmt, w_fmt, pack, stages=stages)
    plan = dut.plan
    return dut, {
        "kind": "packed_mul",
        "latency": dut.latency,
        "inputs": {"x": {"format": x_fmt.name, "width": x_fmt.bits * pack, "count": pack,
                         "bits": x_fmt.bits},
                   "w": {"format": w_fmt.name, "width": w_fmt.bits}},
        "outputs": {"p": {"width": dut.product_bits * pack, "count": pack,
                          "bits": dut.product_bits, "signed": True, "frac_bits": 0,
                          "meaning": "p[i] = x[i] * w"}},
        "parameters": {"x": x_fmt.name, "w": w_fmt.name, "pack": pack, "stages": stages,
                       "dsp": plan.dsp.name, "spacing": plan.spacing, "bias": plan.bias,
                       "packed_bits": plan.packed_bits},
    }


def design_cvt(src: str, dst: str | None, rounding: str = "rne", saturate: bool = True,
               stages: int | None = None, random_bits: int = 16,
               dyadic_shift: int | None = None, multiplier_bits: int = 16,
               target_mhz: float | None = None):
    src_fmt = parse(src)
    if dyadic_shift is not None:
        return _design_dyadic(src_fmt, dst, rounding, saturate, stages, dyadic_shift,
                              multiplier_bits, target_mhz)
    if not isinstance(src_fmt, Fixed):  # minifloat -> its exact fixed view
        if dst not in (None, "exact", src_fmt.exact_fixed.name):
            raise ValueError(f"--to: a {src_fmt.name} input converts exactly to "
                             f"{src_fmt.exact_fixed.name}; to round it into {dst}, convert from "
                             "that fixed format")
        dut = MinifloatToFixed(src_fmt, stages=stages, target_mhz=target_mhz)
        out = dut.out_format
        return dut, {
            "kind": "cvt", "latency": dut.latency,
            "inputs": {"i": {"format": src_fmt.name, "width": src_fmt.bits}},
            "outputs": {"o": _port(out.bits, out.signed, out.frac_bits, out),
                        "special": {"width": 1, "signed": False,
                                    "meaning": "i is a NaN/Inf code; o is 0"}},
            "parameters": {"from": src_fmt.name, "to": out.name, "stages": dut.stages,
                           **_pipelining(dut)},
        }
    if dst is None:
        raise ValueError("--to: a Fixed input needs an output format")
    dst_fmt = parse(dst)
    dut = Requantizer(src_fmt, dst_fmt, rounding=rounding, saturate=saturate, stages=stages,
                      random_bits=random_bits, target_mhz=target_mhz)
    inputs = {"i": {"format": src_fmt.name, "width": src_fmt.bits}}
    if rounding == "stochastic":
        inputs["random"] = {"width": random_bits, "meaning": "uniform random word (LFSR)"}
    return dut, {
        "kind": "cvt", "latency": dut.latency, "inputs": inputs,
        "outputs": {"o": {"format": dst_fmt.name, "width": dst_fmt.bits}},
        "parameters": {"from": src_fmt.name, "to": dst_fmt.name, "rounding": rounding,
                       "saturate": saturate, "stages": dut.stages, "random_bits": random_bits,
                       **_pipelining(dut)},
    }


def _design_dyadic(src_fmt, dst, rounding, saturate, stages, shift, multiplier_bits,
                   target_mhz=None):
    if dst is None:
        raise ValueError("--to: the dyadic requantizer needs an integer output format")
    dst_fmt = parse(dst)
    dut = DyadicRequantizer(src_fmt, dst_fmt, multiplier_bits=multiplier_bits, shift=shift,
                            rounding=rounding, saturate=saturate, stages=stages,
                            target_mhz=target_mhz)
    return dut, {
        "kind": "cvt", "latency": dut.latency,
        "inputs": {"i": {"format": src_fmt.name, "width": src_fmt.bits},
                   "m": {"width": multiplier_bits, "meaning": "unsigned multiplier m"},
                   "zero_point": {"width": dst_fmt.bits + 1, "signed": True}},
        "outputs": {"o": {"format": dst_fmt.name, "width": dst_fmt.bits}},
        "parameters": {"from": src_fmt.name, "to": dst_fmt.name, "rounding": rounding,
                       "saturate": saturate, "stages": dut.stages, "dyadic_shift": shift,
                       "multiplier_bits": multiplier_bits,
                       "function": "o = sat(round(i * m / 2**dyadic_shift) + zero_point)",
                       "product": dut.product, **_pipelining(dut)},
    }


def _design_block_mac(a_fmt, b_fmt, out_fmt, rounding, saturate, stages, target_mhz=None):
    dut = BlockDotProduct(a_fmt, b_fmt, out_fmt, rounding=rounding, saturate=saturate,
                          stages=stages, target_mhz=target_mhz)
    ea, eb, sc = a_fmt.element, b_fmt.element, dut.scale_format
    payload = layout_fields(payload_layout(dut, "terms"), {
        "a": {"format": ea.name}, "b": {"format": eb.name}, "sa": {"format": sc.name},
        "sb": {"format": sc.name}})
    return dut, {
        "kind": "mac", "latency": dut.latency,
        "inputs": {"terms": {"stream": True, "payload": payload,
                             "meaning": "block_size terms per block; sa/sb are sampled with "
                                        "the block's last term"}},
        "outputs": {"result": {"stream": True, "payload": layout_fields(
            payload_layout(dut, "result"), {"code": {"format": out_fmt.name},
                                            "special": {"meaning": _SPECIAL}}),
            "meaning": "round(element dot * scale_a * scale_b), one per block"}},
        "parameters": {"a": a_fmt.name, "b": b_fmt.name, "block_size": dut.block_size,
                       "max_length": dut.block_size, "out": out_fmt.name,
                       "accumulator": dut.accumulator.name, "rounding": rounding,
                       "saturate": saturate, "stages": dut.stages, **_pipelining(dut)},
    }


def design_mac(a: str, b: str, length: int, out: str, rounding: str = "rne",
               saturate: bool = True, stages: int | None = None,
               target_mhz: float | None = None):
    a_fmt, b_fmt, out_fmt = parse(a), parse(b), parse(out)
    if isinstance(a_fmt, BlockScaled) or isinstance(b_fmt, BlockScaled):
        return _design_block_mac(a_fmt, b_fmt, out_fmt, rounding, saturate, stages,
                                 target_mhz)
    dut = DotProduct(a_fmt, b_fmt, length, out_fmt, rounding=rounding, saturate=saturate,
                     stages=stages, target_mhz=target_mhz)
    acc = dut.accumulator
    return dut, {
        "kind": "mac", "latency": dut.latency,
        "inputs": {"terms": {"stream": True, "payload": layout_fields(
            payload_layout(dut, "terms"), {"a": {"format": a_fmt.name},
                                           "b": {"format": b_fmt.name}})}},
        "outputs": {"result": {"stream": True, "payload": layout_fields(
            payload_layout(dut, "result"), {
                "code": {"format": out_fmt.name},
                "acc": {"signed": acc.signed, "frac_bits": acc.frac_bits},
                "special": {"meaning": _SPECIAL}})}},
        "parameters": {"a": a_fmt.name, "b": b_fmt.name, "max_length": length,
                       "out": out_fmt.name, "accumulator": acc.name, "rounding": rounding,
                       "saturate": saturate, "stages": dut.stages, **_pipelining(dut)},
    }


def design_dsp_chain(w: str, x: str, m: int, chain: int, max_k: int, out: str,
                     rounding: str = "rne", saturate: bool = True, stages: int | None = None,
                     lanes: int = 1, array: bool = False, pack: int = 1,
                     primitive: str | None = None, target_mhz: float | None = None):
    """The N:M chain; `array=True` builds it as SparseDSPArray (one lane module instantiated
    `lanes` times: the same ports, Verilog of the same size at any lane count), whose lane
    module `write_design` writes beside the top (`dut.lane`, named `dut.lane_module`).
    `pack` > 1: each beat carries `pack` columns of X, each DSP computes `pack` products
    (sqhw.ref.packed); results: column p, lane l at entry p * lanes + l."""
    w_fmt, x_fmt, out_fmt = parse(w), parse(x), parse(out)
    kind = SparseDSPArray if array else SparseDSPChain
    dut = kind(w_fmt, x_fmt, m=m, chain=chain, max_k=max_k, out_fmt=out_fmt,
               rounding=rounding, saturate=saturate, stages=stages, lanes=lanes, pack=pack,
               primitive=primitive, target_mhz=target_mhz)
    acc = dut.accumulator
    weights = layout_fields(payload_layout(dut, "weights"), {"values": {"format": w_fmt.name}},
                            counted=True)
    result = layout_fields(payload_layout(dut, "result"), {
        "code": {"format": out_fmt.name},
        "acc": {"signed": acc.signed, "frac_bits": acc.frac_bits},
        "special": {"meaning": _SPECIAL}}, counted=True)
    packing = {}
    if pack > 1:
        plan = dut.plan
        packing = {"pack": pack, "packing": {
            "dsp": plan.dsp.name, "spacing": plan.spacing, "bias": plan.bias,
            "packed_bits": plan.packed_bits, "total_bits": plan.total_bits,
            "meaning": f"per stage, {pack} columns' activations packed 2**spacing apart "
                       "times the weight in one multiply; the bias enters the first stage"}}
    return dut, {
        "kind": "dsp_chain", "latency": dut.latency,
        "inputs": {"acts": {"stream": True, "payload": layout_fields(
                       payload_layout(dut, "acts"), {"acts": {"format": x_fmt.name}},
                       counted=True, name="acts")},
                   "weights": {"stream": True, "payload": weights},
                   "n_log2": {"width": len(dut.n_log2), "meaning": "log2 of the run-time N"}},
        "outputs": {"result": {"stream": True, "payload": result}},
        "parameters": {"w": w_fmt.name, "x": x_fmt.name, "m": m, "chain": chain,
                       "lanes": lanes, "max_k": max_k, "out": out_fmt.name,
                       "accumulator": acc.name, "rounding": rounding, "saturate": saturate,
                       "stages": dut.stages, **_pipelining(dut),
                       "runtime_patterns": dut.runtime_patterns,
                       "result_queue_depth": dut.result_queue_depth, **packing,
                       **({"primitive": primitive} if primitive else {}),
                       **({"lane_module": dut.lane_module} if array else {})},
    }


def design_axi_kernel(w: str, x: str, m: int, chain: int, max_k: int, out: str,
                      rounding: str = "rne", saturate: bool = True, stages: int | None = None,
                      lanes: int = 1, array: bool = False, target_mhz: float | None = None):
    """SparseDSPChain inside its Vitis RTL kernel top (SparseChainKernel); `array=True`
    wraps SparseDSPArray instead (a board-sized chain: the lane module is written beside the
    top). The manifest's `kernel` key holds the control interface (register map) and, per
    AXI4-Stream port, its TDATA width and the chain payload fields TDATA carries (the
    weights' `last` is TLAST)."""
    chain_dut, chain_description = design_dsp_chain(w, x, m, chain, max_k, out, rounding,
                                                     saturate, stages, lanes, array,
                                                     target_mhz=target_mhz)
    dut = SparseChainKernel(chain_dut)
    kernel = dut.interface()
    weights = chain_description["inputs"]["weights"]["payload"]
    payloads = {"acts": chain_description["inputs"]["acts"]["payload"],
                "weights": {name: f for name, f in weights.items() if name != "last"},
                "result": chain_description["outputs"]["result"]["payload"]}
    for name, payload in payloads.items():
        kernel["streams"][name]["payload"] = payload
    return dut, {"kind": "axi_kernel", "latency": chain_description["latency"],
                 "clock": kernel["clock"], "reset": kernel["reset"]["name"], "kernel": kernel,
                 "parameters": chain_description["parameters"]}


def design_index_muxes(x: str, m: int, chain: int):
    """The chain's activation select alone (to report what the index muxes cost)."""
    x_fmt = parse(x)
    dut = IndexMuxBank(x_fmt, m, chain)
    ports = dut.signature.members
    port = lambda name, **extra: layout_fields(ports[name].shape, {name: extra}, counted=True,
                                               name=name)[name]
    return dut, {"kind": "index_muxes", "latency": 0,
                 "inputs": {"acts": port("acts", format=x_fmt.name), "indices": port("indices"),
                            "n_log2": {"width": len(dut.n_log2)}},
                 "outputs": {"selected": port("selected", format=x_fmt.name)},
                 "parameters": {"x": x_fmt.name, "m": m, "chain": chain}}


def design_result_queue(w: str, x: str, m: int, chain: int, max_k: int, out: str,
                        lanes: int = 1, stages: int | None = None,
                        target_mhz: float | None = None):
    """The chain's result queue alone (to report what it costs): the ResultQueue that
    SparseDSPChain(w, x, m, chain, max_k, out, lanes, stages / target_mhz) builds, its
    result payload wide and its pipeline latency + ResultQueue.FILL deep."""
    from .pipeline import unused
    from .result_queue import ResultQueue

    chain_dut = unused(SparseDSPChain(parse(w), parse(x), m=m, chain=chain, max_k=max_k,
                                      out_fmt=parse(out), lanes=lanes, stages=stages,
                                      target_mhz=target_mhz))
    for part in (*chain_dut.index_muxes, *chain_dut.requantizers,
                 *(mul for lane in chain_dut.multipliers for mul in lane)):
        unused(part)
    shape = chain_dut.result.payload.shape()
    dut = ResultQueue(shape, chain_dut.result_queue_depth)
    return dut, {"kind": "result_queue", "latency": ResultQueue.LATENCY,
                 "inputs": {"claim": {"width": 1, "meaning": "a result enters the pipeline"},
                            "push_valid": {"width": 1},
                            "push_payload": {"width": shape.size}},
                 "outputs": {"room": {"width": 1, "meaning": "registered: one more result "
                                                            "may enter"},
                             "result": {"stream": True, "payload": {"result": {
                                 "offset": 0, "width": shape.size}}}},
                 "parameters": {"depth": dut.depth, "width": shape.size,
                                "chain_pipeline_latency": chain_dut.pipeline_latency}}


DESIGNS = {"mul": design_mul, "cvt": design_cvt, "mac": design_mac,
           "dsp_chain": design_dsp_chain}


def to_verilog(dut, top: str) -> str:
    """Verilog of a component; one with `verilog_ports()` (a Vitis kernel top) names its own
    ports, the others get Amaranth's names (signature path joined with '__')."""
    from amaranth.back import verilog

    ports = None
    if hasattr(dut, "verilog_ports"):
        ports = [(name, signal, None) for name, signal, _ in dut.verilog_ports()]
    return verilog.convert(dut, name=top, ports=ports, emit_src=False)


def ports_of(dut) -> list[dict]:
    """Verilog ports of a component, named as `to_verilog` names them, read from its
    signature; a port whose shape is a StructLayout (a format's code, a stream payload) lists
    its bit fields (layout_fields)."""
    from amaranth.hdl import Value
    from amaranth.lib import data, wiring

    if hasattr(dut, "verilog_ports"):
        return [{"name": name, "direction": direction, "width": len(signal)}
                for name, signal, direction in dut.verilog_ports()]
    ports = []
    for path, member, value in dut.signature.flatten(dut):
        port = {"name": "__".join(map(str, path)),
                "direction": "in" if member.flow == wiring.In else "out",
                "width": len(Value.cast(value))}
        if isinstance(member.shape, data.StructLayout):  # bit fields, from the layout
            port["fields"] = layout_fields(member.shape)
        ports.append(port)
    return ports


# Amaranth's default `sync` domain: reset port rst, active high, synchronous to clk's rising
# edge (no design here asks for an asynchronous reset; tests check the Verilog says so)
RESET = {"reset": "rst", "reset_active": "high", "reset_synchronous": True}


def write_design(dut, description: dict, out_dir, top: str) -> dict:
    """Write top.v and manifest.json into out_dir atomically (a temp dir, then renames).
    A design built from a separately generated module (SparseDSPArray: `dut.lane`, named
    `dut.lane_module`) gets that module's Verilog too, listed first in `sources`."""
    check_top(top)
    text = to_verilog(dut, top)
    files, kept = {}, []
    array = dut.chain if isinstance(dut, SparseChainKernel) else dut
    if isinstance(array, SparseDSPArray):  # one lane module, instantiated array.lanes times
        files[f"{array.lane_module}.v"] = to_verilog(array.lane, array.lane_module)
        kept.append(array.lane_module)
    files[f"{top}.v"] = text
    # only the top's own port list decides (a submodule's `input clk;` does not)
    top_ports = re.search(rf"^module {re.escape(top)}\((.*?)\);", text, re.S | re.M)
    sequential = top_ports is not None and "clk" in re.sub(r"\s", "", top_ports.group(1)).split(",")
    ports = ports_of(dut)
    if sequential:
        ports = [{"name": "clk", "direction": "in", "width": 1},
                 {"name": "rst", "direction": "in", "width": 1}] + ports
    reset = RESET if sequential else {"reset": None}
    manifest = {"top": top, "sources": list(files), "clock": "clk" if sequential else None,
                **reset, **description, "ports": ports, "generator": f"sqhw {__version__}"}
    if kept:  # synthesis keeps these modules whole (mapped once, counted per instance)
        manifest["keep_hierarchy"] = kept
    primitive = getattr(dut, "primitive", None)
    if primitive:  # instantiated DSP cells: their models, for simulators only
        from ..verify.primitives import MODEL_FILES, model_text

        files[MODEL_FILES[primitive]] = model_text(primitive)
        manifest["simulation_models"] = [MODEL_FILES[primitive]]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".partial-") as tmp:
        for name, verilog_text in files.items():
            (Path(tmp) / name).write_text(verilog_text)
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        for name in (*files, MANIFEST):
            os.replace(Path(tmp) / name, out_dir / name)
    return manifest
