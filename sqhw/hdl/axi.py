"""AMBA AXI4-Lite and AXI4-Stream interface signatures, seen from the side that drives them.

A slave takes `In(AXI4LiteSignature(...))`, a stream sink `In(AXI4StreamSignature(...))`.
Member names are the AXI signal names, so a top level whose ports join the interface name and
the member with "_" (`s_axi_control_awaddr`, `acts_tdata`) is what Vivado's interface
inference and cocotbext-axi's `from_prefix` expect.

    >>> sig = AXI4StreamSignature(24)
    >>> sorted(sig.members), sig.data_width
    (['tdata', 'tlast', 'tready', 'tvalid'], 24)
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXI4LiteSignature", "AXI4StreamSignature"]

AXI_OKAY = 0  # xRESP: the transfer succeeded


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite, from the master: five channels (AW, W, B, AR, R), no AxPROT (the Vitis
    s_axi_control interface does without it)."""

    def __init__(self, addr_width: int, data_width: int = 32):
        if data_width not in (32, 64):
            raise ValueError(f"data_width: AXI4-Lite data is 32 or 64 bits, got {data_width!r}")
        if not isinstance(addr_width, int) or addr_width < 2:
            raise ValueError(f"addr_width: expected an integer >= 2, got {addr_width!r}")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "awaddr": Out(addr_width), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1)})

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width and
                other.data_width == self.data_width)

    def __repr__(self):
        return f"AXI4LiteSignature({self.addr_width}, {self.data_width})"


class AXI4StreamSignature(wiring.Signature):
    """AXI4-Stream, from the transmitter: TDATA (a whole number of bytes), TVALID, TREADY,
    TLAST. No TKEEP/TSTRB (every byte is data), TID, TDEST or TUSER."""

    def __init__(self, data_width: int):
        if not isinstance(data_width, int) or data_width < 8 or data_width % 8:
            raise ValueError(f"data_width: AXI4-Stream TDATA is a positive whole number of "
                             f"bytes, got {data_width!r} bits")
        self.data_width = data_width
        super().__init__({"tdata": Out(data_width), "tvalid": Out(1), "tready": In(1),
                          "tlast": Out(1)})

    def __eq__(self, other):
        return type(other) is type(self) and other.data_width == self.data_width

    def __repr__(self):
        return f"AXI4StreamSignature({self.data_width})"
