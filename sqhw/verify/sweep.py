"""A self-driving harness that sweeps every input code of datapath designs (mul, cvt) and
checks every output against expected words, all at Verilator's speed.

The harness (top `sqhw_sweep`) holds `lanes` copies of each design. A counter enumerates the
input space in order: lane j of batch c takes vector v = c * lanes + j; a multiplier takes
a = v >> b_bits, b = v & (2**b_bits - 1); a converter takes i = v. Run-time words that a
converter has besides its code (m, zero_point, random) are a hash of v and the seed
(sqhw.verify.sweep_expected.stimulus_word computes the same). When a lane's outputs for
vector v are valid, the lane hands them to a DPI function of the C++ program (`main_cpp`),
which compares every bit of every output with the expected words that Python wrote from
sqhw.ref beforehand (sqhw.verify.sweep_expected; memory-mapped, `want_files` names them),
counts the vectors it checked and writes the first LISTED mismatching vectors of each design
(index and the words that came out) to a file. Nothing is written per vector otherwise.

The RTL under test is the generated deliverable, untouched; the harness only wires copies
of it to counters and to the checks. Verilator builds harness and main as one program (no
simulator interface, no Python in the loop; sqhw.verify.sweep_run runs it).
"""

from __future__ import annotations

import numpy as np

from ..formats import parse
from ..manifest import port_width
from .streams import words

SWEEP_TOP = "sqhw_sweep"
HASH = 0x9E3779B1  # Fibonacci hashing: golden-ratio multiplier mod 2**32
MAX_WORD = 32      # run-time words wider than this are not hashed here
LISTED = 1000      # mismatching vectors per design whose outputs the program writes out
UNHELD = -1        # the shift of a wide expected value that its port cannot hold
SUMMARY = "summary.json"


def slot_bits(width: int) -> int:
    """The bits of one expected value of a narrow output (up to 63 bits) in its file: one
    more than the port has, so that a value the port cannot hold is written as 2**width,
    which no output equals."""
    for s in (8, 16, 32, 64):
        if width < s:
            return s
    raise ValueError(f"a {width}-bit output is wide: its expected values are (odd, shift) "
                     "pairs (want_files)")


def want_files(width: int) -> list[tuple[str, np.dtype]]:
    """(file suffix, dtype) of the expected values of a `width`-bit output, one per vector:
    up to 63 bits the value's low `width` bits (two's complement) as an unsigned integer of
    `slot_bits`; wider, a value odd * 2**shift: the int32 odd (.want) and the int16 shift
    (.shift), every bit of the output compared (zeros below, sign copies above). A value the
    port cannot hold: 2**width, or shift UNHELD."""
    if width < 64:
        return [("want", np.dtype(f"<u{slot_bits(width) // 8}"))]
    return [("want", np.dtype("<i4")), ("shift", np.dtype("<i2"))]


def sweep_kind(manifest: dict) -> str:
    kind = manifest.get("kind")
    if kind not in ("mul", "cvt"):
        raise ValueError(f"{manifest.get('top')}: the sweep harness checks mul and cvt designs, "
                         f"got kind {kind!r}")
    return kind


def code_inputs(manifest: dict) -> list[tuple[str, int]]:
    """The enumerated inputs (name, bits), the highest bits of v first."""
    names = ("a", "b") if sweep_kind(manifest) == "mul" else ("i",)
    return [(n, parse(manifest["inputs"][n]["format"]).bits) for n in names]


def space_bits(manifest: dict) -> int:
    return sum(bits for _, bits in code_inputs(manifest))


def word_inputs(manifest: dict) -> list[tuple[str, int]]:
    """Run-time inputs (name, width) driven with hashed words: every input port that is not
    an enumerated code, in manifest order."""
    codes = {n for n, _ in code_inputs(manifest)}
    out = [(n, port_width(manifest, n)) for n in manifest["inputs"] if n not in codes]
    for name, width in out:
        if width > MAX_WORD:
            raise ValueError(f"{manifest['top']}: input {name} is {width} bits; the sweep "
                             f"hashes words of at most {MAX_WORD} bits")
    return out


def outputs(manifest: dict) -> list[tuple[str, int, bool]]:
    """(name, width, signed) of every output port, manifest order."""
    return [(n, port_width(manifest, n), bool(spec.get("signed", False)))
            for n, spec in manifest["outputs"].items()]


def lanes_of(manifest: dict, lanes: int) -> int:
    """Lanes for one design: `lanes`, or its whole input space when that is smaller."""
    return min(lanes, 1 << space_bits(manifest))


def listed_bytes(manifest: dict) -> int:
    """One listed mismatch: the vector index (uint64), then each output's words."""
    return 8 + 4 * sum(words(w) for _, w, _ in outputs(manifest))


def sweep_verilog(manifests: list[dict], lanes: int) -> str:
    """The harness module (SystemVerilog): see the module docstring. Plusarg sqhw_seed=S: the
    run-time words' seed; every lane hands its outputs to `sqhw_check_d{k}` (`main_cpp`)."""
    if not isinstance(lanes, int) or lanes < 4 or lanes & (lanes - 1):
        raise ValueError(f"lanes: expected a power of two >= 4, got {lanes!r}")
    tops = [m["top"] for m in manifests]
    if len(set(tops)) != len(tops):
        raise ValueError(f"designs in one harness need distinct top names, got {tops}")
    lines = ["// test harness: generated by sqhw.verify.sweep, not a deliverable",
             f"module {SWEEP_TOP} (input clk, input rst, output done);",
             "  int unsigned seed;", "  genvar j;",
             "  initial begin",
             '    if (!$value$plusargs("sqhw_seed=%d", seed)) seed = 0;',
             "  end"]
    finished = []
    for k, manifest in enumerate(manifests):
        ports = ", ".join(f"input bit [{w - 1}:0] o{i}"
                          for i, (_, w, _) in enumerate(outputs(manifest)))
        lines.append(f"  import \"DPI-C\" function void {_checker(k)}(input longint unsigned "
                     f"batch, input int unsigned lane, {ports});")
        lines += _design_lines(k, manifest, lanes_of(manifest, lanes))
        finished.append(f"d{k}_finished")
    lines += [f"  assign done = {' & '.join(finished)};", "endmodule", ""]
    return "\n".join(lines)


def _checker(k: int) -> str:
    return f"sqhw_check_d{k}"


def cycles(manifests: list[dict], lanes: int) -> int:
    """Clock cycles until every design has handed over its last batch."""
    return max((1 << space_bits(m)) // lanes_of(m, lanes) + m["latency"] for m in manifests)


PRELUDE = r"""
struct Design {
    const char* top;
    uint64_t total, lanes;
    uint64_t checked = 0, mismatches = 0, repeated = 0, outside = 0;
    std::vector<uint64_t> seen;  // one bit per vector: every vector is checked exactly once
    std::FILE* listed = nullptr;
    // a vector's outputs arrived: false when it is outside the space or came before
    bool arrive(uint64_t v) {
        if (v >= total) { ++outside; return false; }
        uint64_t& bits = seen[v >> 6];
        const uint64_t bit = 1ull << (v & 63);
        if (bits & bit) { ++repeated; return false; }
        bits |= bit;
        ++checked;
        return true;
    }
    void mismatch(uint64_t v, const svBitVecVal* const* got, const int* counts, int n) {
        if (mismatches++ >= LISTED) return;
        std::fwrite(&v, 8, 1, listed);
        for (int i = 0; i < n; ++i) std::fwrite(got[i], 4, counts[i], listed);
    }
};

// an output of up to 63 bits, its low `width` bits
static inline uint64_t narrow(const svBitVecVal* got, int width) {
    uint64_t value = got[0];
    if (width > 32) value |= (uint64_t)got[1] << 32;
    return value & ((1ull << width) - 1);
}

// an output of n words (the top word's bits below `top_mask`) against odd * 2**shift
static inline bool same_wide(const svBitVecVal* got, int n, uint32_t top_mask, int32_t odd,
                             int shift) {
    if (shift == UNHELD) return false;
    const int64_t chunk = (int64_t)odd << (shift & 31);  // |odd| < 2**31: 63 bits at most
    const int word = shift >> 5;
    const uint32_t sign = chunk < 0 ? 0xFFFFFFFFu : 0;
    for (int i = 0; i < n; ++i) {
        uint32_t want = i < word ? 0 : i == word ? (uint32_t)chunk
                      : i == word + 1 ? (uint32_t)((uint64_t)chunk >> 32) : sign;
        uint32_t have = got[i];
        if (i == n - 1) { want &= top_mask; have &= top_mask; }
        if (have != want) return false;
    }
    return true;
}

// the expected values: a file of `count` entries of `size` bytes, memory-mapped
static const void* map_file(const std::string& path, uint64_t count, uint64_t size) {
    const int fd = open(path.c_str(), O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { std::perror(path.c_str()); std::exit(2); }
    if ((uint64_t)st.st_size != count * size) {
        std::fprintf(stderr, "%s: %lld bytes, expected %llu\n", path.c_str(),
                     (long long)st.st_size, (unsigned long long)(count * size));
        std::exit(2);
    }
    void* at = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (at == MAP_FAILED) { std::perror(path.c_str()); std::exit(2); }
    return at;
}
"""


def _cpp_check(k: int, manifest: dict, lanes: int) -> tuple[str, str]:
    """(the expected arrays and DPI check function of design k, the lines mapping them)."""
    outs = outputs(manifest)
    decls, maps, tests = [], [], []
    for i, (name, width, _) in enumerate(outs):
        for suffix, dtype in want_files(width):
            ctype = {"u": "uint", "i": "int"}[dtype.kind] + f"{8 * dtype.itemsize}_t"
            var = f"want_{k}_{i}_{suffix}"
            decls.append(f"static const {ctype}* {var};")
            maps.append(f"    {var} = (const {ctype}*)map_file(prefix + \"{k}_{name}.{suffix}\", "
                        f"designs[{k}].total, {dtype.itemsize});")
        if width < 64:
            tests.append(f"narrow(o{i}, {width}) == want_{k}_{i}_want[v]")
        else:
            top = (1 << (width % 32)) - 1 if width % 32 else 0xFFFFFFFF
            tests.append(f"same_wide(o{i}, {words(width)}, 0x{top:08x}u, want_{k}_{i}_want[v], "
                         f"want_{k}_{i}_shift[v])")
    args = ", ".join(f"const svBitVecVal* o{i}" for i in range(len(outs)))
    got = ", ".join(f"o{i}" for i in range(len(outs)))
    counts = ", ".join(str(words(w)) for _, w, _ in outs)
    function = "\n".join(decls) + f"""
extern "C" void {_checker(k)}(unsigned long long batch, unsigned int lane, {args}) {{
    Design& d = designs[{k}];
    const uint64_t v = batch * {lanes} + lane;
    if (!d.arrive(v)) return;
    if ({' && '.join(tests)}) return;
    const svBitVecVal* got[] = {{{got}}};
    const int counts[] = {{{counts}}};
    d.mismatch(v, got, counts, {len(outs)});
}}"""
    return function, "\n".join(maps)


def main_cpp(manifests: list[dict], lanes: int) -> str:
    """The C++ program around the harness: maps the expected values PREFIX{k}_{output}.want
    (and .shift; PREFIX from +sqhw_out=), resets for two cycles, clocks until `done`, then
    writes PREFIXsummary.json (per design: vectors checked, mismatches, repeated or outside
    the space) and PREFIX{k}.listed (the first LISTED mismatches, `listed_bytes` each).
    Exit 3 after twice the cycles the sweep needs (a hang is an error), 2 on a bad file."""
    limit = 2 * (cycles(manifests, lanes) + 16)
    checks = [_cpp_check(k, m, lanes_of(m, lanes)) for k, m in enumerate(manifests)]
    table = ",\n".join(f"    {{\"{m['top']}\", {1 << space_bits(m)}ull, {lanes_of(m, lanes)}}}"
                       for m in manifests)
    return f"""// test program: generated by sqhw.verify.sweep, not a deliverable
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "V{SWEEP_TOP}.h"
#include "V{SWEEP_TOP}__Dpi.h"
#include "verilated.h"

static const uint64_t LISTED = {LISTED};
static const int UNHELD = {UNHELD};
{PRELUDE}
static std::vector<Design> designs = {{
{table}
}};

{chr(10).join(function for function, _ in checks)}

int main(int argc, char** argv) {{
    VerilatedContext context;
    context.commandArgs(argc, argv);
    std::string prefix = context.commandArgsPlusMatch("sqhw_out=");
    if (prefix.empty()) {{ std::fprintf(stderr, "+sqhw_out=PREFIX is required\\n"); return 2; }}
    prefix = prefix.substr(10);
    for (std::size_t k = 0; k < designs.size(); ++k) {{
        Design& d = designs[k];
        d.seen.assign((d.total + 63) / 64, 0);
        const std::string name = prefix + std::to_string(k) + ".listed";
        d.listed = std::fopen(name.c_str(), "wb");
        if (!d.listed) {{ std::perror(name.c_str()); return 2; }}
    }}
{chr(10).join(maps for _, maps in checks)}
    V{SWEEP_TOP} top{{&context}};
    top.clk = 0;
    top.rst = 1;
    top.eval();
    unsigned long long cycle = 0;
    for (; cycle < {limit}ULL; ++cycle) {{
        top.clk = 1;
        top.eval();
        top.clk = 0;
        if (cycle == 1) top.rst = 0;
        top.eval();
        if (!top.rst && top.done) break;
    }}
    const int finished = top.done;
    top.final();
    std::FILE* f = std::fopen((prefix + "{SUMMARY}").c_str(), "w");
    if (!f) {{ std::perror(prefix.c_str()); return 2; }}
    std::fprintf(f, "{{\\"finished\\": %s, \\"cycles\\": %llu, \\"designs\\": [",
                 finished ? "true" : "false", cycle);
    for (std::size_t k = 0; k < designs.size(); ++k) {{
        const Design& d = designs[k];
        std::fclose(d.listed);
        std::fprintf(f, "%s\\n {{\\"top\\": \\"%s\\", \\"vectors\\": %llu, \\"checked\\": %llu, "
                     "\\"mismatches\\": %llu, \\"repeated\\": %llu, \\"outside\\": %llu}}",
                     k ? "," : "", d.top, (unsigned long long)d.total,
                     (unsigned long long)d.checked, (unsigned long long)d.mismatches,
                     (unsigned long long)d.repeated, (unsigned long long)d.outside);
    }}
    std::fprintf(f, "\\n]}}\\n");
    std::fclose(f);
    return finished ? 0 : 3;
}}
"""


def _design_lines(k: int, manifest: dict, lanes: int) -> list[str]:
    space = space_bits(manifest)
    lane_bits = lanes.bit_length() - 1
    count_bits = max(space - lane_bits, 1)
    batches = 1 << (space - lane_bits)
    latency = manifest["latency"]
    d = f"d{k}"
    lines = [f"  // design {k}: {manifest['top']}, {lanes} lanes, {batches} batches",
             f"  reg [{count_bits - 1}:0] {d}_count;", f"  reg {d}_run, {d}_finished;",
             f"  reg [{count_bits}:0] {d}_batch;", f"  wire {d}_check;"]
    valid = f"{d}_run"
    if latency:
        lines += [f"  reg [{latency - 1}:0] {d}_pipe;"]
        valid = f"{d}_pipe[{latency - 1}]"
    shift = f"{{{d}_pipe[{latency - 2}:0], {d}_run}}" if latency > 1 else f"{d}_run"
    lines += [
        f"  assign {d}_check = !rst && {valid} && !{d}_finished;",
        "  always @(posedge clk) begin",
        "    if (rst) begin",
        f"      {d}_count <= 0; {d}_run <= 1; {d}_finished <= 0; {d}_batch <= 0;",
        *([f"      {d}_pipe <= 0;"] if latency else []),
        "    end else begin",
        *([f"      {d}_pipe <= {shift};"] if latency else []),
        f"      if ({d}_run) begin",
        f"        {d}_count <= {d}_count + 1;",
        f"        if ({d}_count == {count_bits}'d{batches - 1}) {d}_run <= 0;",
        "      end",
        f"      if ({d}_check) begin",
        f"        {d}_batch <= {d}_batch + 1;",
        f"        if ({d}_batch == {count_bits + 1}'d{batches - 1}) {d}_finished <= 1;",
        "      end",
        "    end",
        "  end"]
    conns = [".clk(clk)", ".rst(rst)"] if manifest.get("clock") else []
    body = [f"  generate for (j = 0; j < {lanes}; j = j + 1) begin : {d}_lane"]
    index = f"{d}_count" if lane_bits == 0 else f"{{{d}_count, {lane_bits}'(j)}}"
    if space - lane_bits == 0:
        index = f"{lane_bits}'(j)"
    body.append(f"    wire [{space - 1}:0] v = {index};")
    at = space
    for name, bits in code_inputs(manifest):
        at -= bits
        conns.append(f".{name}(v[{at + bits - 1}:{at}])")
    for salt, (name, width) in enumerate(word_inputs(manifest), start=1):
        body.append(f"    wire [31:0] {name}_key = 32'(v) ^ seed ^ (32'd{salt} << 24);")
        body.append(f"    wire [31:0] {name}_hash = {name}_key * 32'h{HASH:08x};")
        conns.append(f".{name}({name}_hash[31:{32 - width}])")
    outs = outputs(manifest)
    for i, (name, width, _) in enumerate(outs):
        body.append(f"    wire [{width - 1}:0] o{i};")
        conns.append(f".{name}(o{i})")
    got = ", ".join(f"o{i}" for i in range(len(outs)))
    body += [f"    {manifest['top']} dut ({', '.join(conns)});",
             f"    always @(posedge clk) if ({d}_check) "
             f"{_checker(k)}(64'({d}_batch), 32'(j), {got});",
             "  end endgenerate"]
    return lines + body
