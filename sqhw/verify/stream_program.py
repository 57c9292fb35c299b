"""A self-driving C++ program that streams dot-product terms through MAC designs (mac, and
the MX / NVFP4 block dots) at Verilator's speed, and the layout of the files it reads and
writes.

The RTL under test sits in the lanes harness (sqhw.verify.harness: `lanes` copies of each
design, their ports side by side); the generated C++ main (`main_cpp`) clocks it. Every
(design k, lane j) is a stream of its own, with its own handshake:
- it reads its term payloads from PREFIX{k}_{j}.terms: little-endian uint32 words,
  `streams.words(width)` per term, each term laid out as the manifest's `terms` payload;
- it offers one term per cycle on terms valid / ready, takes a result beat whenever result
  valid and ready are both high, and after the run writes every result payload to
  PREFIX{k}_{j}.results the same way (in bulk: nothing is written per cycle);
- with +sqhw_valid=P / +sqhw_ready=Q (out of 65536; 65536 = always) valid and ready are
  each dropped at random, from a generator seeded by +sqhw_seed=S and the stream; while
  valid is low the payload carries random bits, so a design that reads it then fails.

After the last stream has its last result the program keeps ready high for latency + 8 more
cycles with no terms offered, to count results nobody asked for. PREFIXsummary.json holds the
cycles and, per stream, terms taken, results, extra results and the cycle of the last
result. A run past four times the ideal cycles (scaled by the drop rates) stops with exit 3,
so a design that hangs is an error, not a hang. A traced build (`trace`) writes a waveform
to +sqhw_wave=FILE (every half cycle).
"""

from __future__ import annotations

from ..manifest import port_width
from .harness import HARNESS_TOP, port_name
from .streams import words

PROGRAM = "sqhw_stream"
ALWAYS = 1 << 16  # +sqhw_valid / +sqhw_ready of a stream that never drops
TAIL = 8          # cycles past the latency that the program watches for extra results
MAX_LANES = 32    # a harness port's valid / ready bits are read as one 64-bit word


def stream_kind(manifest: dict) -> None:
    """Refuse designs that are not a `terms` -> `result` stream (the MACs and block dots)."""
    ins, outs = manifest.get("inputs", {}), manifest.get("outputs", {})
    if manifest.get("kind") != "mac" or set(ins) != {"terms"} or set(outs) != {"result"}:
        raise ValueError(f"{manifest.get('top')}: the stream program runs mac designs (a "
                         f"terms stream in, a result stream out), got kind "
                         f"{manifest.get('kind')!r}")
    if "last" not in ins["terms"]["payload"]:
        raise ValueError(f"{manifest['top']}: the terms payload has no `last` field")


def cpp_name(name: str) -> str:
    """The C++ member Verilator makes of a port name: each `__` becomes `___05F` (its
    encoding of a second underscore), e.g. terms__valid -> terms___05Fvalid."""
    out, i = [], 0
    while i < len(name):
        if name.startswith("__", i):
            out.append("___05F")
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


PRELUDE = r"""
// bits [at, at + width) of dst (uint32 words, lowest first; one spare word at the end)
static inline void put_bits(uint32_t* dst, int at, int width, const uint32_t* src) {
    for (int i = 0; i < width; i += 32) {
        const int n = std::min(32, width - i), pos = at + i, w = pos / 32, s = pos % 32;
        const uint64_t mask = (n == 32 ? 0xFFFFFFFFull : ((1ull << n) - 1)) << s;
        uint64_t cur = dst[w] | ((uint64_t)dst[w + 1] << 32);
        cur = (cur & ~mask) | (((uint64_t)src[i / 32] << s) & mask);
        dst[w] = (uint32_t)cur;
        dst[w + 1] = (uint32_t)(cur >> 32);
    }
}
static inline void get_bits(const uint32_t* src, int at, int width, uint32_t* dst) {
    for (int i = 0; i < width; i += 32) {
        const int n = std::min(32, width - i), pos = at + i, w = pos / 32, s = pos % 32;
        const uint64_t cur = (src[w] | ((uint64_t)src[w + 1] << 32)) >> s;
        dst[i / 32] = (uint32_t)(cur & (n == 32 ? 0xFFFFFFFFull : ((1ull << n) - 1)));
    }
}
// a port's value from / to uint32 words (Verilator: 8/16/32/64-bit integers, else VlWide)
template <typename T> static inline void store(T& port, const uint32_t* w) {
    port = (T)(w[0] | ((uint64_t)w[1] << 32));
}
template <std::size_t N> static inline void store(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}
template <typename T> static inline void load(const T& port, uint32_t* w) {
    w[0] = (uint32_t)port;
    w[1] = (uint32_t)((uint64_t)port >> 32);
}
template <std::size_t N> static inline void load(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}

static inline uint64_t splitmix(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct Stream {
    int width = 0, result_width = 0;        // payload bits
    int words = 0, result_words = 0;       // uint32 words per payload in the files
    std::vector<uint32_t> terms, results, junk;
    std::size_t count = 0, taken = 0, want = 0, got = 0, extra = 0;
    unsigned long long last_result = 0;
    bool valid = false, ready = false;
    uint64_t rng = 0;

    bool done() const { return taken == count && got == want; }
    // this cycle's handshake, and the payload words to drive (random bits when not valid)
    const uint32_t* decide(uint32_t p_valid, uint32_t p_ready, bool offer) {
        const uint64_t r = splitmix(rng);
        valid = offer && taken < count && (r & 0xFFFF) < p_valid;
        ready = ((r >> 16) & 0xFFFF) < p_ready;
        if (valid) return &terms[taken * words];
        for (auto& w : junk) w = (uint32_t)splitmix(rng);
        return junk.data();
    }
    void observe(bool term_ready, bool result_valid, const uint32_t* payload, int at,
                 unsigned long long cycle) {
        if (valid && term_ready) ++taken;
        if (!(ready && result_valid)) return;
        if (got == want) { ++extra; return; }
        get_bits(payload, at, result_width, &results[got * result_words]);
        ++got;
        last_result = cycle;
    }
};
"""


def main_cpp(manifests: list[dict], lanes: int, trace: str | None = None) -> str:
    """The C++ program around the lanes harness of `manifests` (see the module docstring);
    `trace` ('fst' / 'vcd') compiles the waveform writer in."""
    if not isinstance(lanes, int) or not 1 <= lanes <= MAX_LANES:
        raise ValueError(f"lanes: expected 1 to {MAX_LANES}, got {lanes!r}")
    for m in manifests:
        stream_kind(m)
    n = len(manifests)
    table, drive, observe = [], [], []
    for k, m in enumerate(manifests):
        width = port_width(m, "terms__payload")
        result_width = port_width(m, "result__payload")
        last = m["inputs"]["terms"]["payload"]["last"]["offset"]
        table.append(f"    {{{width}, {result_width}, {last}, {m['latency']}}},")
        p = {name: f"top.{cpp_name(port_name(k, name))}" for name in (
            "terms__payload", "terms__valid", "terms__ready", "result__payload",
            "result__valid", "result__ready")}
        drive.append(f"""    {{  // design {k}: {m['top']}
        uint32_t buf[{words(lanes * width) + 1}] = {{0}};
        uint64_t valid = 0, ready = 0;
        for (int j = 0; j < {lanes}; ++j) {{
            Stream& s = streams[{k * lanes} + j];
            put_bits(buf, j * {width}, {width}, s.decide(p_valid, p_ready, offer));
            valid |= (uint64_t)s.valid << j;
            ready |= (uint64_t)s.ready << j;
        }}
        store({p['terms__payload']}, buf);
        {p['terms__valid']} = valid;
        {p['result__ready']} = ready;
    }}""")
        observe.append(f"""    {{  // design {k}
        uint32_t buf[{words(lanes * result_width) + 1}] = {{0}};
        load({p['result__payload']}, buf);
        const uint64_t term_ready = {p['terms__ready']}, result_valid = {p['result__valid']};
        for (int j = 0; j < {lanes}; ++j)
            streams[{k * lanes} + j].observe((term_ready >> j) & 1, (result_valid >> j) & 1,
                                             buf, j * {result_width}, cycle);
    }}""")
    writer = {"fst": ("verilated_fst_c.h", "VerilatedFstC"),
              "vcd": ("verilated_vcd_c.h", "VerilatedVcdC")}
    if trace is not None and trace not in writer:
        raise ValueError(f"trace: expected one of {', '.join(writer)}, got {trace!r}")
    header, tracer = writer.get(trace, (None, None))
    trace_include = f'#include "{header}"' if trace else ""
    trace_open = f"""    std::unique_ptr<{tracer}> wave;
    const std::string wave_file = plusarg(context, "sqhw_wave=");
    if (!wave_file.empty()) context.traceEverOn(true);""" if trace else ""
    trace_start = """    if (!wave_file.empty()) {
        wave.reset(new %s);
        top.trace(wave.get(), 99);
        wave->open(wave_file.c_str());
    }""" % tracer if trace else ""
    dump = "if (wave) wave->dump(context.time());" if trace else ""
    return f"""// test program: generated by sqhw.verify.stream_program, not a deliverable
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>
#include "V{HARNESS_TOP}.h"
#include "verilated.h"
{trace_include}
{PRELUDE}
static const int DESIGNS = {n}, LANES = {lanes}, STREAMS = {n * lanes};
static const int SHAPE[{n}][4] = {{  // terms bits, result bits, offset of last, latency
{chr(10).join(table)}
}};

static std::string plusarg(VerilatedContext& context, const char* name) {{
    const std::string match = context.commandArgsPlusMatch(name);
    return match.empty() ? match : match.substr(std::string(name).size() + 1);
}}

static std::vector<Stream> streams(STREAMS);

static void drive(V{HARNESS_TOP}& top, uint32_t p_valid, uint32_t p_ready, bool offer) {{
{chr(10).join(drive)}
}}

static void observe(V{HARNESS_TOP}& top, unsigned long long cycle) {{
{chr(10).join(observe)}
}}

static bool read_file(const std::string& path, std::vector<uint32_t>& out) {{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {{ std::perror(path.c_str()); return false; }}
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    out.resize(size / 4);
    const bool ok = size % 4 == 0 && std::fread(out.data(), 4, out.size(), f) == out.size();
    std::fclose(f);
    if (!ok) std::fprintf(stderr, "%s: not whole uint32 words\\n", path.c_str());
    return ok;
}}

int main(int argc, char** argv) {{
    VerilatedContext context;
    context.commandArgs(argc, argv);
    const std::string prefix = plusarg(context, "sqhw_out=");
    const std::string seed_text = plusarg(context, "sqhw_seed=");
    const std::string valid_text = plusarg(context, "sqhw_valid=");
    const std::string ready_text = plusarg(context, "sqhw_ready=");
    if (prefix.empty()) {{ std::fprintf(stderr, "+sqhw_out=PREFIX is required\\n"); return 2; }}
    const uint64_t seed = seed_text.empty() ? 0 : std::stoull(seed_text);
    const uint32_t p_valid = valid_text.empty() ? {ALWAYS} : std::stoul(valid_text);
    const uint32_t p_ready = ready_text.empty() ? {ALWAYS} : std::stoul(ready_text);
    if (p_valid == 0 || p_ready == 0 || p_valid > {ALWAYS} || p_ready > {ALWAYS}) {{
        std::fprintf(stderr, "+sqhw_valid / +sqhw_ready: expected 1 to {ALWAYS}\\n");
        return 2;
    }}
    std::size_t longest = 0;
    int latency = 0;
    for (int k = 0; k < DESIGNS; ++k) {{
        latency = std::max(latency, SHAPE[k][3]);
        for (int j = 0; j < LANES; ++j) {{
            Stream& s = streams[k * LANES + j];
            s.width = SHAPE[k][0];
            s.result_width = SHAPE[k][1];
            s.words = (s.width + 31) / 32;
            s.result_words = (s.result_width + 31) / 32;
            s.junk.resize(s.words);
            s.rng = seed * 0x100000001B3ull + (uint64_t)(k * LANES + j) * 0x9E3779B97F4A7C15ull;
            const std::string name = prefix + std::to_string(k) + "_" + std::to_string(j);
            if (!read_file(name + ".terms", s.terms)) return 2;
            if (s.terms.size() % s.words) {{
                std::fprintf(stderr, "%s.terms: not whole terms\\n", name.c_str());
                return 2;
            }}
            s.count = s.terms.size() / s.words;
            const int last = SHAPE[k][2];
            for (std::size_t t = 0; t < s.count; ++t)
                s.want += (s.terms[t * s.words + last / 32] >> (last % 32)) & 1;
            s.results.resize(s.want * s.result_words);
            longest = std::max(longest, s.count);
        }}
    }}
{trace_open}
    V{HARNESS_TOP} top{{&context}};
{trace_start}
    // a hang is an error: four times the ideal cycles, scaled by the drop rates
    const double scale = ({ALWAYS}.0 / p_valid) * ({ALWAYS}.0 / p_ready);
    const unsigned long long limit = (unsigned long long)(4 * scale * (longest + latency)) + 1000;
    auto settle = [&]() {{  // clock low, this cycle's inputs applied
        top.eval();
        {dump}
        context.timeInc(1);
    }};
    auto rise = [&]() {{
        top.clk = 1;
        top.eval();
        {dump}
        context.timeInc(1);
        top.clk = 0;
    }};
    top.clk = 0;
    top.rst = 1;
    for (int i = 0; i < 2; ++i) {{ drive(top, {ALWAYS}, 0, false); settle(); rise(); }}
    top.rst = 0;
    unsigned long long cycle = 0;
    auto all_done = [&]() {{
        for (const Stream& s : streams) if (!s.done()) return false;
        return true;
    }};
    while (!all_done() && cycle < limit) {{
        drive(top, p_valid, p_ready, true);
        settle();
        observe(top, cycle);
        rise();
        ++cycle;
    }}
    const bool finished = all_done();
    const unsigned long long cycles = cycle;
    for (int i = 0; finished && i < latency + {TAIL}; ++i) {{  // results nobody asked for
        drive(top, {ALWAYS}, {ALWAYS}, false);
        settle();
        observe(top, cycle);
        rise();
        ++cycle;
    }}
    top.final();
    {"if (wave) wave->close();" if trace else ""}
    for (int i = 0; i < STREAMS; ++i) {{
        const Stream& s = streams[i];
        const std::string name = prefix + std::to_string(i / LANES) + "_" +
                                 std::to_string(i % LANES) + ".results";
        std::FILE* f = std::fopen(name.c_str(), "wb");
        if (!f) {{ std::perror(name.c_str()); return 2; }}
        std::fwrite(s.results.data(), 4, s.got * s.result_words, f);
        std::fclose(f);
    }}
    std::FILE* f = std::fopen((prefix + "summary.json").c_str(), "w");
    if (!f) {{ std::perror(prefix.c_str()); return 2; }}
    std::fprintf(f, "{{\\"finished\\": %s, \\"cycles\\": %llu, \\"limit\\": %llu, \\"streams\\": [",
                 finished ? "true" : "false", cycles, limit);
    for (int i = 0; i < STREAMS; ++i) {{
        const Stream& s = streams[i];
        std::fprintf(f, "%s\\n {{\\"terms\\": %zu, \\"taken\\": %zu, \\"results\\": %zu, "
                     "\\"got\\": %zu, \\"extra\\": %zu, \\"last_result_cycle\\": %llu}}",
                     i ? "," : "", s.count, s.taken, s.want, s.got, s.extra, s.last_result);
    }}
    std::fprintf(f, "\\n]}}\\n");
    std::fclose(f);
    return finished ? 0 : 3;
}}
"""
